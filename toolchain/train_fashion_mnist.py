#!/usr/bin/env python3
"""Trains LowBit's bundled default model: a small CNN on Fashion-MNIST (MIT, Zalando).

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, idx + gzip; no torchvision).
Network (module names are what qconvert recognises as arch "lowbit-cnn"):
    conv1 Conv2d(1,32,3,p=1,no bias)  -> bn1 -> ReLU -> MaxPool2d(2)   28x28 -> 14x14
    conv2 Conv2d(32,64,3,p=1,no bias) -> bn2 -> ReLU -> MaxPool2d(2)   14x14 -> 7x7
    conv3 Conv2d(64,128,3,p=1,no bias) -> bn3 -> ReLU -> mean over H,W
    fc    Linear(128,10)
Input: pixel/255, then (x - 0.2860) / 0.3530 (the training set's mean/std, rounded to 4 digits).

Outputs (--out, default models/fashion-mnist):
    fmnist-cnn.pt          torch.save (zip): {"state_dict", "epoch", "best_prec1", "arch": "lowbit-cnn"}
    labels.txt             the 10 class names in label order
    samples/NNNN-<slug>.pgm + samples/labels.csv   first test image of each class (P5 28x28, maxval 255)
    float_accuracy.json    float top-1 on all 10,000 test images, mean/std, epochs, seed, time, torch
    reference_logits.json  float logits of the 10 samples, read back from the PGM files written above

    python toolchain/train_fashion_mnist.py [--epochs 5] [--out models/fashion-mnist]
    python toolchain/train_fashion_mnist.py --export-test DIR   # all 10,000 test images as PGM + labels.csv
    python toolchain/train_fashion_mnist.py --export-train DIR  # 2,000 training images (every 30th), for calibration

Deterministic: torch.manual_seed(0), a fixed thread count (2) and no data-loader workers, so the same
command gives the same weights and accuracy on the same torch build.
"""
import argparse, gzip, json, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from netpbm import read_netpbm

DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530   # train set: pixel/255 mean 0.28604, std 0.35302 (population), rounded
SEED, THREADS, BATCH = 0, 2, 256


def read_idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    assert data[0] == 0 and data[1] == 0 and data[2] == 0x08, name   # unsigned byte payload
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class LowBitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(128)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.fc(x.mean(dim=(2, 3)))


def preprocess(u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28]: pixel/255, then (x - MEAN) / STD."""
    x = torch.from_numpy(np.array(u8, dtype=np.uint8)).float().div(255.0).unsqueeze(1)
    return (x - MEAN) / STD


def slug(name):
    return name.lower().replace("/", "-").replace(" ", "-")


def write_pgm(path, img):
    assert img.shape == (28, 28) and img.dtype == np.uint8
    with open(path, "wb") as f:
        f.write(b"P5\n28 28\n255\n" + img.tobytes())


def read_pgm(path):
    return read_netpbm(path, b"P5")


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            xb = preprocess(x[i:i + 1000]).contiguous(memory_format=torch.channels_last)
            correct += int((model(xb).argmax(1).numpy() == y[i:i + 1000]).sum())
    return 100.0 * correct / len(x)


def export(out, split, step):
    """Writes every `step`-th image of the split as out/NNNNN.pgm (NNNNN = index in the split) + labels.csv."""
    prefix = "t10k" if split == "test" else "train"
    xs, ys = read_idx(f"{prefix}-images-idx3-ubyte.gz"), read_idx(f"{prefix}-labels-idx1-ubyte.gz")
    width = 4 if split == "test" else 5
    os.makedirs(out, exist_ok=True)
    rows = ["path,label"]
    for i in range(0, len(xs), step):
        write_pgm(os.path.join(out, f"{i:0{width}d}.pgm"), xs[i])
        rows.append(f"{i:0{width}d}.pgm,{int(ys[i])}")
    with open(os.path.join(out, "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} {split} images + labels.csv to {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="models/fashion-mnist")
    ap.add_argument("--export-test", metavar="DIR", help="write the 10,000 test images as PGM + labels.csv and exit")
    ap.add_argument("--export-train", metavar="DIR",
                    help="write 2,000 training images (every 30th) as PGM + labels.csv, for calibration, and exit")
    args = ap.parse_args()
    if args.export_test or args.export_train:
        if args.export_test:
            export(args.export_test, "test", 1)
        if args.export_train:
            export(args.export_train, "train", 30)
        return

    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    x, y = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    xt, yt = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    px = x.astype(np.float64) / 255.0
    mean, std = float(px.mean()), float(px.std())
    print(f"train set pixel/255: mean {mean:.5f} std {std:.5f}; using {MEAN:.4f} / {STD:.4f}")
    del px

    model = LowBitCNN().to(memory_format=torch.channels_last)   # channels_last: ~2x faster on CPU here
    steps_per_epoch = len(x) // BATCH                             # the last partial batch is dropped
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.15, pct_start=0.25,
                                                total_steps=args.epochs * steps_per_epoch)
    history = []
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x)).numpy()
        for s in range(steps_per_epoch):
            b = order[s * BATCH:(s + 1) * BATCH]
            xb = preprocess(x[b])
            xb = xb.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(xb), torch.from_numpy(y[b].astype(np.int64)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xt, yt)
        history.append(round(acc, 2))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f}, test top-1 {acc:.2f}% "
              f"({time.time() - start:.0f} s)", flush=True)
    seconds = time.time() - start
    acc = evaluate(model, xt, yt)

    # Save plain contiguous (NCHW) tensors: what any checkpoint reader expects.
    model = model.to(memory_format=torch.contiguous_format).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    assert all(v.is_contiguous() for v in state.values())
    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    torch.save({"state_dict": state, "epoch": args.epochs, "best_prec1": float(acc), "arch": "lowbit-cnn"},
               os.path.join(args.out, "fmnist-cnn.pt"))
    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")

    samples, rows = [], ["path,label"]
    for c in range(10):
        i = int(np.nonzero(yt == c)[0][0])
        name = f"{i:04d}-{slug(LABELS[c])}.pgm"
        write_pgm(os.path.join(args.out, "samples", name), xt[i])
        samples.append((name, i, c)); rows.append(f"{name},{c}")
    with open(os.path.join(args.out, "samples", "labels.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")

    # Reference logits, from the PGM files as written (the path the Swift runtime takes).
    images = []
    with torch.no_grad():
        for name, i, c in samples:
            img = read_pgm(os.path.join(args.out, "samples", name))
            assert np.array_equal(img, xt[i])
            logits = model(preprocess(img[None]))[0]
            images.append({"path": f"samples/{name}", "test_index": i, "label": c,
                           "logits": [float(v) for v in logits]})   # repr of the float32 value: round-trips
    ref = {"model": "fmnist-cnn.pt", "arch": "lowbit-cnn", "torch": torch.__version__,
           "preprocessing": {"scale": "pixel/255", "mean": MEAN, "std": STD, "input": [1, 28, 28]},
           "images": images}
    with open(os.path.join(args.out, "reference_logits.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")

    info = {"float_top1": round(acc, 2), "correct": int(round(acc * len(xt) / 100)), "test_images": len(xt),
            "per_epoch_top1": history, "epochs": args.epochs, "batch": BATCH, "seed": SEED,
            "optimizer": "SGD nesterov momentum 0.9, weight decay 5e-4, OneCycleLR max_lr 0.15 pct_start 0.25; no augmentation",
            "mean": MEAN, "std": STD, "train_mean_exact": round(mean, 6), "train_std_exact": round(std, 6),
            "train_seconds": round(seconds, 1), "threads": THREADS, "torch": torch.__version__,
            "note": "best_prec1 in the checkpoint is the final epoch's test top-1 (no selection on the test set)"}
    with open(os.path.join(args.out, "float_accuracy.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(f"float test top-1 {acc:.2f}% after {args.epochs} epochs, {seconds:.0f} s of training")


if __name__ == "__main__":
    main()
