"""Writes the deflate-compressed PyTorch zip checkpoint that Benchmarks/loading/bench_loading.swift reads.

    /work/venv/bin/python Benchmarks/loading/make_checkpoint.py OUT.pt [--mib 100]

torch.save writes every zip entry stored (uncompressed); this script re-writes the same entries, in the same
order, with ZIP_DEFLATED (level 6), so the reader inflates and CRC-checks every storage. The tensors are
512x512x3x3 float32 conv weights drawn from N(0, 0.02^2) with seed 0 (trained weights compress about as
poorly: deflate keeps ~92% of the bytes) and BatchNorm vectors; enough layers for at least --mib MiB of
float32. The default writes 12 layers, 108 MiB of tensors, a 100 MiB file.
"""
import argparse, io, zipfile

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--mib", type=int, default=100, help="at least this many MiB of float32 tensors (default 100)")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    per_layer = 512 * 512 * 3 * 3 * 4
    state = {}
    for i in range(-(-(args.mib << 20) // per_layer)):
        state[f"layer{i}.conv.weight"] = torch.randn(512, 512, 3, 3, generator=g) * 0.02
        state[f"layer{i}.bn.weight"] = torch.ones(512)
        state[f"layer{i}.bn.bias"] = torch.zeros(512)
    stored = io.BytesIO()
    torch.save({"state_dict": state, "epoch": 1}, stored)
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    raw = sum(t.numel() * t.element_size() for t in state.values())
    print(f"{args.out}: {len(state)} tensors, {raw / 2**20:.1f} MiB of tensor data, deflated")


if __name__ == "__main__":
    main()
