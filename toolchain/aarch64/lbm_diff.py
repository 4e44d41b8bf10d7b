#!/usr/bin/env python3
"""Says how two .lbm files differ (toolchain/aarch64/compare.sh): which tensors' bytes, which numbers of the
graph JSON (with the largest relative difference), and the header's other metadata entries.

    lbm_diff.py A.lbm B.lbm        prints 'identical' or the differences; exit status 0 either way

The .lbm layout is safetensors' (docs/FORMAT.md): an 8-byte little-endian header length, the JSON header (tensor
entries with data_offsets, and __metadata__ whose lowbit.graph entry is itself JSON), then the data.
Standard library only.
"""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    return data, json.loads(data[8:8 + length]), 8 + length


def numbers(value, path=""):
    """Every number in a JSON value, keyed by its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    (a, header_a, base_a), (b, header_b, base_b) = load(argv[1]), load(argv[2])
    if a == b:
        print(f"identical ({len(a)} bytes)")
        return 0
    tensors = [k for k in header_a if k != "__metadata__"]
    if sorted(tensors) != sorted(k for k in header_b if k != "__metadata__"):
        print("different tensor sets")
        return 0
    changed = []
    for name in tensors:
        (s, e), (s2, e2) = header_a[name]["data_offsets"], header_b[name]["data_offsets"]
        if a[base_a + s:base_a + e] != b[base_b + s2:base_b + e2]:
            changed.append(name)
    print(f"{len(a)} vs {len(b)} bytes; {len(changed)} of {len(tensors)} tensors differ: {', '.join(changed) or '-'}")
    meta_a, meta_b = header_a.get("__metadata__", {}), header_b.get("__metadata__", {})
    for key in sorted(set(meta_a) | set(meta_b)):
        if meta_a.get(key) == meta_b.get(key):
            continue
        try:
            values_a, values_b = dict(numbers(json.loads(meta_a[key]))), dict(numbers(json.loads(meta_b[key])))
        except (KeyError, ValueError):
            print(f"metadata {key} differs")
            continue
        moved = {p: abs(values_a[p] - values_b.get(p, 0)) / max(abs(values_a[p]), 1e-30)
                 for p in values_a if values_a[p] != values_b.get(p)}
        if moved:
            worst = max(moved, key=moved.get)
            print(f"metadata {key}: {len(moved)} numbers differ, largest relative difference {moved[worst]:.1e} ({worst})")
        else:
            print(f"metadata {key} differs (not in its numbers)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
