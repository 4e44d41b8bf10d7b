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


def save_checkpoint(obj, path: Path, legacy: bool, location: str = "cpu") -> None:
    """torch.save in the zip format (torch >= 1.6) or the legacy format (torch <= 1.5), like the
    method's training code of its time. `location` is the device tag written for every storage
    ("cuda:0" for a file saved from a GPU model, as the methods' released files are); torch.load needs
    map_location="cpu" for those. Legacy storage keys (torch writes a memory address) are renumbered
    so that the file is byte-identical from run to run. (The zip records are named after the file,
    so a zip checkpoint is saved straight to its final path.)"""
    import io
    import torch.serialization as ser

    tagger = (-1, lambda storage: location, lambda storage, loc: storage)
    if location != "cpu":
        ser._package_registry.insert(0, tagger)
    try:
        if legacy:
            buf = io.BytesIO()
            torch.save(obj, buf, _use_new_zipfile_serialization=False)
            Path(path).write_bytes(_renumber_legacy_storage_keys(buf.getvalue()))
        else:
            torch.save(obj, str(path))
    finally:
        if location != "cpu":
            ser._package_registry.remove(tagger)


_LEGACY_ELEMENT_SIZE = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
                        "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                        "ByteStorage": 1, "BoolStorage": 1}


def _renumber_legacy_storage_keys(data: bytes) -> bytes:
    """The legacy format is five pickles (magic, protocol, sys_info, object, storage keys) then, for each
    key of that list, the storage (int64 element count, raw bytes). torch names storages by a memory
    address and sorts the list by that name, so both the names and the order change from run to run.
    Rename each storage by a fixed number of the same length (so every pickle length prefix stays valid),
    ranked by first appearance in the object pickle, and write the list and the storages in that order."""
    import io
    import pickle
    import pickletools
    import struct

    starts, end = [], 0
    for _ in range(5):
        starts.append(end)
        for op, _, pos in pickletools.genops(io.BytesIO(data[end:])):
            if op.name == "STOP":
                end = end + pos + 1
                break
    old_keys = pickle.loads(data[starts[4]:end])
    element_size, memo, last = {}, {}, None   # persistent id: ("storage", <type>, key, location, numel)
    for op, arg, _ in pickletools.genops(io.BytesIO(data[starts[3]:starts[4]])):
        if op.name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = last
            continue
        if op.name == "BINUNICODE" and arg in old_keys and arg not in element_size:
            element_size[arg] = _LEGACY_ELEMENT_SIZE[last.split(" ")[-1]]
        last = arg if op.name == "GLOBAL" else memo.get(arg) if op.name in ("BINGET", "LONG_BINGET") else None
    order = list(element_size)          # first appearance in the object pickle
    assert sorted(order) == sorted(old_keys)
    chunks, pos = {}, end
    for key in old_keys:
        (count,) = struct.unpack("<q", data[pos:pos + 8])
        size = 8 + count * element_size[key]
        chunks[key], pos = data[pos:pos + size], pos + size
    assert pos == len(data)
    renamed = {key: str(10 ** (len(key) - 1) + rank) for rank, key in enumerate(order)}
    head = data[:starts[4]]
    for key, new in renamed.items():
        prefix = b"X" + struct.pack("<I", len(key))
        head = head.replace(prefix + key.encode(), prefix + new.encode())
    key_list = pickle.dumps([renamed[k] for k in order], protocol=2)
    return head + key_list + b"".join(chunks[k] for k in order)


def optimizer_state(params, slots: dict, group: dict, generator: torch.Generator) -> dict:
    """A torch.optim state_dict as the training code saves it: {"state": {i: {...}}, "param_groups":
    [{**group, "params": [0..n-1]}]} for the parameter list `params` (deduplicated, in order). `slots`
    maps each per-parameter state name to "normal" (small signed values, like momentum or Adam's
    exp_avg), "square" (small positive values, like exp_avg_sq) or an int (a step count, written as a
    Python int the way torch 1.x wrote it)."""
    state = {}
    for i, p in enumerate(params):
        entry = {}
        for name, kind in slots.items():
            if isinstance(kind, int):
                entry[name] = kind
            elif kind == "normal":
                entry[name] = 1e-3 * torch.randn(p.shape, generator=generator)
            elif kind == "square":
                entry[name] = 1e-6 * torch.randn(p.shape, generator=generator).square()
            else:
                raise ValueError(f"unknown optimizer slot kind {kind!r}")
        state[i] = entry
    return {"state": state, "param_groups": [{**group, "params": list(range(len(params)))}]}


def lightning_checkpoint(module_attr: str, model: torch.nn.Module, hyper_parameters: dict,
                         generator: torch.Generator) -> dict:
    """What PyTorch Lightning's ModelCheckpoint writes (the fields of a 2.x .ckpt) for a LightningModule
    holding the network as `self.<module_attr>` (state_dict keys `<module_attr>.`), after 10 epochs of SGD
    with momentum (buffers from `generator`, see optimizer_state) and a StepLR; `hyper_parameters` as
    save_hyperparameters() records them."""
    state = {f"{module_attr}.{k}": v for k, v in model.state_dict().items()}
    params = list(model.parameters())
    group = {"lr": 0.001, "momentum": 0.9, "dampening": 0, "weight_decay": 0.0005, "nesterov": False,
             "maximize": False, "foreach": None, "differentiable": False, "fused": None, "initial_lr": 0.1}
    optimizer = optimizer_state(params, {"momentum_buffer": "normal"}, group, generator)
    return {
        "epoch": 9, "global_step": 7040, "pytorch-lightning_version": "2.4.0",
        "state_dict": state,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 10, "completed": 10}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_acc', 'mode': 'max'}": {
            "monitor": "val_acc", "best_model_score": torch.tensor(0.8731), "current_score": torch.tensor(0.8731),
            "best_model_path": "/runs/version_0/checkpoints/epoch=9-step=7040.ckpt"}},
        "optimizer_states": [optimizer],
        "lr_schedulers": [{"step_size": 3, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 10, "_step_count": 11,
                           "_get_lr_called_within_step": False, "_last_lr": [0.0001]}],
        "hparams_name": "kwargs",
        "hyper_parameters": hyper_parameters,
    }


def parse_methods(parser, methods) -> tuple:
    """parser.parse_args() with trailing METHOD arguments, each one of `methods` (none given: all of them);
    returns (args, the methods to run). For the generators that write one checkpoint per method."""
    parser.add_argument("methods", nargs="*", metavar="METHOD", help=f"any of {', '.join(methods)} (default: all)")
    args = parser.parse_args()
    unknown = [m for m in args.methods if m not in methods]
    if unknown:
        parser.error(f"unknown method {', '.join(unknown)}")
    return args, args.methods or list(methods)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def calibration_batches(height: int, width: int, channels: int, mean, std, count: int, batch: int) -> list:
    """`count` NCHW float32 batches of synthetic images (seeds 10000 and up, never a fixture input),
    preprocessed like load_input: data to give a random network realistic BatchNorm running stats."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    out = []
    for b in range(count):
        imgs = [synthetic_image(height, width, channels, 10000 + b * batch + i) for i in range(batch)]
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255.0
        out.append((x - m) / s)
    return out


def calibrate_batchnorm(model: torch.nn.Module, forward, batches: list) -> None:
    """Sets every BatchNorm's running stats to the exact average over `batches` of the batch statistics
    seen in train mode (momentum None), running `forward(model, x)` on each; leaves the model in eval mode
    with the default momentum back. num_batches_tracked counts the batches each BatchNorm saw."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for x in batches:
            forward(model, x)
    model.eval()
    for m in norms:
        m.momentum = 0.1


def read_fixture_json(method: str, name: str) -> dict:
    return json.loads((FIXTURES / method / f"{name}.json").read_text())


def load_checkpoint(method: str, name: str):
    """torch.load of a written fixture checkpoint as a user would do it (map_location cpu, full unpickling:
    these files are our own)."""
    record = read_fixture_json(method, name)
    return torch.load(str(FIXTURES / method / record["checkpoint"]), map_location="cpu", weights_only=False)


def strip_prefix(state_dict, prefix: str) -> dict:
    assert all(k.startswith(prefix) for k in state_dict), f"a key lacks the {prefix!r} prefix"
    return {k[len(prefix):]: v for k, v in state_dict.items()}
