#!/usr/bin/env python3
"""How unique is "the method's PyTorch inference" on the fixtures whose quantizers are coarse enough for
float rounding to flip a decision: deepshift/resnet20_q (round_to_fixed 4.6 before every shift layer)
and anyprec/resnet50q (DoReFa activations; 255 steps at 8 bits)?

For every fixture input this runs the generator's model in several PyTorch configurations and reports
max |logit diff| / max |logit| of each against float64 (model.double() on the same float32 input tensor,
the one LowBit's preprocessing makes: the products and sums of float64 are exact or within ~1e-16, so it
is the one reference that does not depend on a summation order), and how many quantizer decisions
(floor / round outputs) differ from float64's:

    f32      float32, 1 thread (how the fixture JSON was written; must equal it)
    f32-t2   float32, 2 threads
    f32-ref  float32 with oneDNN (mkldnn) disabled: ATen's own conv kernels
    f64-w32  float64 arithmetic, Any-Precision weights quantized in float32 (E = mean|W|, tanh) as the
             method's float32 code and a .lbm file have them; BatchNorm exact
    f64-c32  float64 arithmetic on the float32 constants a .lbm file stores: those weights and BatchNorm
             folded to a float32 scale and shift per channel: what an all-double activation path over
             today's files would compute
    f64      the reference

Each line ends with the decision of the float64 run nearest to its threshold (a floor grid line or a
rounding midpoint), in float32 ulps of the value: a decision that close can only be reproduced by
carrying the pre-quantizer value (and what feeds it) in double.

anyprec/resnet20q (the same DoReFa math at CIFAR size) is measured the same way. With --qinfer and
converted models (--deepshift-lbm, --anyprec-lbm, --resnet20q-lbm PATH...), LowBit's `qinfer --json`
logits are compared with the same references.

    /work/venv/bin/python toolchain/seeds/reference_spread.py
    /work/venv/bin/python toolchain/seeds/reference_spread.py --qinfer .build/debug/qinfer \
        --deepshift-lbm ds_q.lbm --anyprec-lbm r50q_f32.lbm r50q_u8.lbm
"""
import argparse
import contextlib
import copy
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import gen_anyprec  # noqa: E402
import gen_anyprec_resnet50q  # noqa: E402
import gen_deepshift  # noqa: E402


class DecisionLog:
    """Records the integer decisions of every quantizer call (in call order) while active."""
    active = None

    def __init__(self):
        self.calls = []

    @classmethod
    @contextlib.contextmanager
    def recording(cls):
        log = cls()
        cls.active = log
        try:
            yield log
        finally:
            cls.active = None

    @classmethod
    def record(cls, pre: torch.Tensor, decision: torch.Tensor, distance: torch.Tensor):
        """`distance`: |pre - nearest threshold| (inf where no threshold applies)."""
        if cls.active is not None:
            ulp = pre.detach().abs().float().double().clamp(min=2.0 ** -126) * 2.0 ** -23
            cls.active.calls.append((decision.detach().to(torch.int64), (distance.detach().double() / ulp)))


def install_hooks():
    """Wraps the two generators' quantizers so that each call logs its input and its integer decision."""
    def round_to_fixed(x, integer_bits, fraction_bits):
        out = original_rtf(x, integer_bits, fraction_bits)
        scaled = x / 2.0 ** -fraction_bits
        # exact zeros (ReLU outputs) sit on a grid line but are computed exactly everywhere
        distance = torch.where(x == 0, torch.inf, (scaled - torch.round(scaled)).abs() * 2.0 ** -fraction_bits)
        DecisionLog.record(x, torch.floor(scaled), distance)
        return out

    def activate(x, k):
        out = original_activate(x, k)
        if k != 32:
            n = float(2 ** k - 1)
            scaled = x * n
            distance = torch.where((x > 0) & (x < 1), (scaled - torch.floor(scaled) - 0.5).abs() / n, torch.inf)
            DecisionLog.record(x, torch.round(torch.clamp(x, 0.0, 1.0) * n), distance)
        return out

    original_rtf, original_activate = gen_deepshift.round_to_fixed, gen_anyprec.activate
    gen_deepshift.round_to_fixed = round_to_fixed
    gen_anyprec.activate = activate
    gen_anyprec_resnet50q.activate = activate


@contextlib.contextmanager
def configuration(name: str):
    threads = torch.get_num_threads()
    torch.set_num_threads(2 if name == "f32-t2" else 1)
    try:
        with torch.backends.mkldnn.flags(enabled=(name != "f32-ref")):
            yield
    finally:
        torch.set_num_threads(threads)


CONFIGS = ["f32", "f32-t2", "f32-ref", "f64-w32", "f64-c32", "f64"]


class FoldedBatchNorm(nn.Module):
    """y = x * s + t with s = gamma / sqrt(var + eps), t = beta - mean * s rounded to float32 (a .lbm's
    folded BatchNorm), applied in the dtype of x."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        s = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        t = bn.bias.double() - bn.running_mean.double() * s
        self.register_buffer("s", s.float().view(1, -1, 1, 1))
        self.register_buffer("t", t.float().view(1, -1, 1, 1))

    def forward(self, x):
        return x * self.s.to(x.dtype) + self.t.to(x.dtype)


def with_float32_constants(model: nn.Module) -> nn.Module:
    """A float64 copy of `model` whose BatchNorms are FoldedBatchNorm (float32 constants)."""
    model = copy.deepcopy(model).float()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, FoldedBatchNorm(child))
    return model.double()


def run(model, x, name):
    with configuration(name), torch.no_grad(), DecisionLog.recording() as log:
        if name == "f64":
            logits = copy.deepcopy(model).double()(x.double())[0]
        elif name == "f64-w32":
            with gen_anyprec.weights_quantized_in_float32():
                logits = copy.deepcopy(model).double()(x.double())[0]
        elif name == "f64-c32":
            with gen_anyprec.weights_quantized_in_float32():
                logits = with_float32_constants(model)(x.double())[0]
        else:
            logits = model.float()(x)[0].double()
    return logits, log


def nearest_threshold(log):
    """(call index, distance in float32 ulps) of the decision nearest to its threshold."""
    best = min(((i, float(dist.min())) for i, (_, dist) in enumerate(log.calls) if dist.numel()),
               key=lambda item: item[1])
    return best


def decision_diffs(log, ref):
    """(differing decisions, the first call site holding one)."""
    total, first = 0, None
    for i, ((d, _), (r, _)) in enumerate(zip(log.calls, ref.calls)):
        n = int((d != r).sum())
        total += n
        if n and first is None:
            first = i
    return total, first


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def qinfer_logits(qinfer, lbm, paths, bits=None):
    cmd = [qinfer, *[str(common.FIXTURES / p) for p in paths], "--model", lbm, "--json", "--threads", "1"]
    if bits is not None:
        cmd += ["--bits", str(bits)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [torch.tensor(json.loads(line)["logits"], dtype=torch.float64) for line in out.splitlines() if line.strip()]


def report(title, model, record, widths, lbms, qinfer):
    print(f"== {title}")
    mean, std = record["input"]["mean"], record["input"]["std"]
    paths = [im["path"] for im in record["images"]]
    for bits in widths:
        if bits is not None:
            gen_anyprec.Switch.bits = bits
            if bits != 32:
                print(f"{bits:>2} bits: {weight_code_diffs(model, bits)}")
        lowbit = {lbm: qinfer_logits(qinfer, lbm, paths, bits) for lbm in lbms} if qinfer else {}
        for k, im in enumerate(record["images"]):
            x = common.load_input(im["path"], mean, std)
            ref, ref_log = run(model, x, "f64")
            stored = im["logits"] if bits is None else im["logits_by_bits"][str(bits)]
            cells = []
            for name in CONFIGS[:-1]:
                logits, log = run(model, x, name)
                if name == "f32":
                    assert common.f32_list(logits) == stored, "f32 run differs from the fixture JSON"
                flips, first = decision_diffs(log, ref_log)
                cells.append(f"{name} {rel(logits, ref):.1e} ({flips} flips{'' if first is None else f' from call {first}'})")
            for lbm, per in lowbit.items():
                cells.append(f"LowBit[{Path(lbm).stem}] {rel(per[k], ref):.1e} "
                             f"(vs f32 {rel(per[k], torch.tensor(stored, dtype=torch.float64)):.1e})")
            decisions = sum(d.numel() for d, _ in ref_log.calls)
            if decisions:
                call, ulps = nearest_threshold(ref_log)
                cells.append(f"nearest f64 decision: {ulps:.2f} ulp (call {call})")
            print(f"{'' if bits is None else f'{bits:>2} bits '}{Path(im['path']).name}: vs f64 ({decisions} decisions): "
                  + "; ".join(cells))


def weight_code_diffs(model, bits) -> str:
    """Any-Precision weight codes round(u * n) that differ between the float32 and the float64 quantizer,
    and the largest relative difference of E = mean|W| between the two."""
    codes, e_rel = 0, 0.0
    for m in model.modules():
        if isinstance(m, gen_anyprec.QConv2d):
            w32 = m.weight.detach().float()
            w64 = w32.double()
            q32 = gen_anyprec.quantize_weight(w32, bits).double() / torch.mean(torch.abs(w32)).double()
            q64 = gen_anyprec.quantize_weight(w64, bits) / torch.mean(torch.abs(w64))
            n = 2 ** bits - 1
            codes += int((torch.round((q32 + 1) * n / 2) != torch.round((q64 + 1) * n / 2)).sum())
            e32, e64 = torch.mean(torch.abs(w32)).double(), torch.mean(torch.abs(w64))
            e_rel = max(e_rel, float(abs(e32 - e64) / e64))
    return f"weight codes differing f32/f64: {codes}; max |E32 - E64| / E64 = {e_rel:.1e}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--qinfer")
    parser.add_argument("--deepshift-lbm", nargs="*", default=[])
    parser.add_argument("--anyprec-lbm", nargs="*", default=[])
    parser.add_argument("--resnet20q-lbm", nargs="*", default=[])
    parser.add_argument("--bits", type=int, nargs="*", default=[8])
    args = parser.parse_args()
    install_hooks()

    record = common.read_fixture_json("deepshift", "resnet20_q")
    model = gen_deepshift.empty_model("resnet20_q")
    model.load_state_dict(common.strip_prefix(common.load_checkpoint("deepshift", "resnet20_q")["state_dict"],
                                              "module."), strict=True)
    model.eval()
    report("deepshift/resnet20_q (round_to_fixed 4.6)", model, record, [None], args.deepshift_lbm, args.qinfer)

    record = common.read_fixture_json("anyprec", "resnet50q")
    model = gen_anyprec_resnet50q.ResNet50Q(record["options"]["width"])
    model.load_state_dict(common.strip_prefix(common.load_checkpoint("anyprec", "resnet50q")["state_dict"],
                                              "module."), strict=True)
    model.eval()
    report("anyprec/resnet50q (DoReFa)", model, record, args.bits, args.anyprec_lbm, args.qinfer)

    record = common.read_fixture_json("anyprec", "resnet20q")
    model = gen_anyprec.ResNet20Q(record["options"]["width"])
    model.load_state_dict(common.load_checkpoint("anyprec", "resnet20q")["state_dict"], strict=True)
    model.eval()
    report("anyprec/resnet20q (DoReFa)", model, record, args.bits, args.resnet20q_lbm, args.qinfer)


if __name__ == "__main__":
    main()
