"""Shared helpers for the seed-method fixture generators in toolchain/seeds/ (one generator per method).

Fixture contract (read by the Swift tests; see toolchain/seeds/README.md):
  Tests/Fixtures/seeds/<method>/<name>.<ext>    the checkpoint, saved the way the method's training code
                                                saves it (keys, prefixes, dict fields, zip or legacy)
  Tests/Fixtures/seeds/<method>/<name>.json     what LowBit must reproduce:
    {"method", "arch", "checkpoint", "format": "zip"|"legacy", "torch",
     "input": {"height", "width", "channels", "mean", "std"},      # pixel/255, then (x - mean) / std
     "options": {...},                                              # method-specific (bits, modes, ...)
     "images": [{"path": "inputs/<file>.ppm", "logits": [...]}]     # or "logits_by_bits": {"1": [...]}
     "notes": "..."}
  Tests/Fixtures/seeds/inputs/<file>.ppm        fixed synthetic input images (P6 or P5), shared
Logit values are written with repr() of the float32 value, so parsing as a double and narrowing to Float
gives the exact float32 back.
"""
import json
import os
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "Fixtures" / "seeds"
INPUTS = FIXTURES / "inputs"


def synthetic_image(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """A deterministic, natural-looking test image: a few smooth colour blobs plus mild noise, uint8 HWC."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, channels))
    for _ in range(5):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        s = rng.uniform(0.15, 0.5) * max(height, width)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
        img += blob[:, :, None] * rng.uniform(-1, 1, channels)[None, None, :]
    img += 0.15 * rng.standard_normal(img.shape)
    img = (img - img.min()) / (img.max() - img.min() + 1e-9)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def write_input(height: int, width: int, channels: int, seed: int) -> str:
    """Writes inputs/<c>c<h>x<w>-<seed>.ppm|pgm (binary P6 or P5) once; returns its path relative to FIXTURES."""
    INPUTS.mkdir(parents=True, exist_ok=True)
    ext, magic = ("ppm", b"P6") if channels == 3 else ("pgm", b"P5")
    name = f"{channels}c{height}x{width}-{seed}.{ext}"
    path = INPUTS / name
    if not path.exists():
        img = synthetic_image(height, width, channels, seed)
        with open(path, "wb") as f:
            f.write(magic + f"\n{width} {height}\n255\n".encode())
            f.write(img.tobytes())
    return f"inputs/{name}"


def load_input(rel: str, mean, std) -> torch.Tensor:
    """The NCHW float32 tensor LowBit's preprocessing makes from an input file: pixel/255, (x-mean)/std."""
    data = (FIXTURES / rel).read_bytes()
    parts = data.split(maxsplit=4)
    width, height = int(parts[1]), int(parts[2])
    pixels = np.frombuffer(parts[4][: width * height * (3 if parts[0] == b"P6" else 1)], dtype=np.uint8)
    channels = 3 if parts[0] == b"P6" else 1
    x = torch.from_numpy(pixels.reshape(height, width, channels).copy()).permute(2, 0, 1).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return ((x - m) / s).unsqueeze(0)


def f32_list(t: torch.Tensor) -> list:
    """float32 values as Python floats (exact)."""
    return [float(v) for v in t.detach().to(torch.float32).flatten().tolist()]


def top2_margin(logits: torch.Tensor) -> float:
    """Gap between the two largest logits relative to max |logit| (fixtures keep this >= 1e-2 so that
    top-1 agreement is a meaningful check)."""
    v, _ = torch.sort(logits.flatten(), descending=True)
    return float((v[0] - v[1]) / (v.abs().max() + 1e-12))


def write_fixture_json(method: str, name: str, record: dict) -> Path:
    """Writes Tests/Fixtures/seeds/<method>/<name>.json (stable key order, 1-space indent)."""
    out = FIXTURES / method / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"method": method, "torch": torch.__version__, **record}
    out.write_text(json.dumps(record, indent=1) + "\n")
    return out


def checkpoint_path(method: str, name: str, ext: str) -> Path:
    out = FIXTURES / method / f"{name}.{ext}"
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def save_checkpoint(obj, path: Path, legacy: bool) -> None:
    """torch.save in the zip format (torch >= 1.6) or the legacy format (torch <= 1.5), like the
    method's training code of its time."""
    torch.save(obj, str(path), _use_new_zipfile_serialization=not legacy)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
