"""Checks the committed seed fixtures of gen_equalbits.py, gen_deepshift.py and gen_binaryconnect.py
against their checkpoints as written: torch.load each checkpoint file (legacy or zip), strip the key
prefix, load it strictly into the generator's architecture (`empty_model`), and recompute the logits of
every fixture image from its input file; they must equal the JSON's float32 values exactly. Also checks
the dict fields each method's training code saves. Exits non-zero on any mismatch.

    toolchain/.venv/bin/python toolchain/seeds/verify_fixtures.py
"""
import json
import sys

import torch

import common
import gen_binaryconnect
import gen_deepshift
import gen_archs
import gen_equalbits

GENERATORS = {"equalbits": gen_equalbits, "deepshift": gen_deepshift, "binaryconnect": gen_binaryconnect}
FIELDS = {
    "equalbits": {"epoch", "state_dict", "best_prec1"},
    "deepshift": {"epoch", "arch", "state_dict", "best_acc1", "optimizer", "lr_scheduler"},
    "binaryconnect": {"state_dict", "epoch", "best_prec1"},
}


@torch.no_grad()
def verify(method: str, record_path) -> list:
    record = json.loads(record_path.read_text())
    name = record_path.name[: -len(".json")]
    errors = []
    # Trusted files written by our own generators; the DeepShift ones pickle a scheduler and numpy.
    checkpoint = torch.load(common.FIXTURES / method / record["checkpoint"], weights_only=(method != "deepshift"))
    if set(checkpoint) != FIELDS[method]:
        errors.append(f"{name}: fields {sorted(checkpoint)}")
    prefix = record["options"]["key_prefix"]
    state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    if len(state) != len(checkpoint["state_dict"]):
        errors.append(f"{name}: keys without the prefix {prefix!r}")
    key = f"{method}/{name}"   # gen_archs.py writes some fixtures into these method folders
    model = gen_archs.empty_model(key) if key in gen_archs.FIXTURES else GENERATORS[method].empty_model(name)
    model.load_state_dict(state, strict=True)
    model.eval()
    for image in record["images"]:
        x = common.load_input(image["path"], record["input"]["mean"], record["input"]["std"])
        logits = model(x)
        if common.f32_list(logits) != image["logits"]:
            errors.append(f"{name}: logits of {image['path']} differ")
        if "logits_f64" in image and model.double()(x.double()).flatten().tolist() != image["logits_f64"]:
            errors.append(f"{name}: float64 logits of {image['path']} differ")
        model.float()
        if common.top2_margin(logits) < 1e-2:
            errors.append(f"{name}: top-2 margin of {image['path']} below 1e-2")
    return errors


def main() -> int:
    torch.set_num_threads(1)
    errors, count = [], 0
    for method in GENERATORS:
        for record_path in sorted((common.FIXTURES / method).glob("*.json")):
            errors += verify(method, record_path)
            count += 1
    for e in errors:
        print("FAIL", e)
    print(f"{count} fixtures checked, {len(errors)} problems")
    return 1 if errors or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
