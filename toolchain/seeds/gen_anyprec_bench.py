#!/usr/bin/env python3
"""Writes an Any-Precision resnet20q or resnet50q checkpoint at any width for speed measurements (issue:
low bits must mean speed), e.g. the 4x resnet20q of the acceptance sweep (64/128/256 channels) and the
paper's ImageNet resnet50q (width 64, 1000 classes):

    /work/venv/bin/python toolchain/seeds/gen_anyprec_bench.py --width 64 --out .build-bench/resnet20q_w4.pth.tar
    /work/venv/bin/python toolchain/seeds/gen_anyprec_bench.py --arch resnet50q --width 64 --classes 1000 \
        --out .build-bench/resnet50q.pth.tar

Random, trained-looking weights with BatchNorm calibrated per bit width (gen_anyprec.randomize), saved
as the method's train.py saves them ({"state_dict": ...}). Not a fixture: no reference logits (the
fixtures check correctness); the file is written outside the repository's tracked folders.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import gen_anyprec  # noqa: E402
import gen_anyprec_resnet50q  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=["resnet20q", "resnet50q"], default="resnet20q")
    parser.add_argument("--width", type=int, default=64, help="channels of the first stage (resnet20q 4x = 64)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    common.seed_everything(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        if args.arch == "resnet20q":
            model = gen_anyprec.randomize(gen_anyprec.ResNet20Q(args.width, args.classes), gen, 32,
                                          gen_anyprec.CIFAR_MEAN, gen_anyprec.CIFAR_STD)
        else:
            model = gen_anyprec.randomize(gen_anyprec_resnet50q.ResNet50Q(args.width, args.classes), gen, 64,
                                          gen_anyprec_resnet50q.MEAN, gen_anyprec_resnet50q.STD)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "state_dict": model.state_dict()}, args.out)
    print(f"{args.out}: {args.arch} width {args.width}, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
