#!/usr/bin/env python3
"""Splits the CIFAR-10 test set (../shared/data/cifar10-test) for post-training quantization measurements.

calibration.csv: the images whose file number NNNN is < 0100 in each class folder (100 per class, 1,000);
evaluation.csv:  the other 9,000. Both are labels.csv-style (path,label) with absolute paths, written to
the output folder given (a temp folder: the data itself is never copied).

usage: split.py DATA_DIR OUT_DIR
"""
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: split.py DATA_DIR OUT_DIR")
    data, out = sys.argv[1], sys.argv[2]
    labels = os.path.join(data, "labels.csv")
    if not os.path.isfile(labels):
        sys.exit(f"split.py: no labels.csv in {data}")
    calibration, evaluation = [], []
    with open(labels) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("path,"):
                continue
            path, label = line.rsplit(",", 1)
            number = int(os.path.splitext(os.path.basename(path))[0])
            row = f"{os.path.abspath(os.path.join(data, path))},{label}\n"
            (calibration if number < 100 else evaluation).append(row)
    os.makedirs(out, exist_ok=True)
    for name, rows in (("calibration.csv", calibration), ("evaluation.csv", evaluation)):
        with open(os.path.join(out, name), "w") as f:
            f.write("path,label\n")
            f.writelines(rows)
    print(f"calibration: {len(calibration)} images, evaluation: {len(evaluation)} images -> {out}")


if __name__ == "__main__":
    main()
