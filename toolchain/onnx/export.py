"""ONNX fixtures for `qconvert model.onnx` (Tests/Fixtures/seeds/onnx, docs/ONNX.md).

Three small networks with seeded random but trained-like weights, exported with torch.onnx.export and
run by onnxruntime on the same file; the JSON holds onnxruntime's outputs on the fixture inputs:

  onnx/resnet18      torchvision ResNet-18 layout (BasicBlock [2, 2, 2, 2]) at base width 8 (real 64),
                     10 classes, 64x64; the torch.export-based exporter (dynamo=True, the default), opset
                     18: BatchNorm folded into the convs, parameter names kept (`layer1.0.conv1.weight`),
                     ReduceMean over H, W (axes as an input) and Reshape for the flatten.
  onnx/mobilenetv2   torchvision MobileNetV2 width 0.25 (channels 8/8/8/8/16/24/40/80, last 1280), 10
                     classes, 64x64; the TorchScript exporter (dynamo=False), opset 17: BatchNorm folded,
                     weights named `onnx::Conv_<n>` (nodes are named from the scopes, `/features/features.1/
                     conv/conv.0/conv.0.0/Conv`), Clip(0, 6) with constant min/max inputs, GlobalAveragePool,
                     Flatten, Dropout removed.
  onnx/opsmix        built with onnx.helper (no exporter), opset 21, for the attributes torch does not write:
                     auto_pad SAME_UPPER / SAME_LOWER with stride 2, asymmetric pads, a grouped dilated conv,
                     BatchNormalization epsilon 1e-3, Clip to [-1.5, 2], max pool with ceil_mode 1 (same size),
                     average pool with padding and count_include_pad 1, Flatten of an 8x8 map into a Gemm
                     with transB 0 and alpha/beta, ReduceMean (axes input, keepdims 0), Unsqueeze, Squeeze,
                     Identity, Dropout, MatMul + Add, residual adds.
  onnx/smallnet      a net of this script's own (below), TorchScript exporter, opset 13, batch dimension
                     dynamic, constant folding off: BatchNormalization nodes kept, the flatten as
                     Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Clip as hardtanh(-1, 1) and ReLU6,
                     max pool with padding, average pool, a depthwise dilated conv, conv without bias,
                     a residual add, ReduceMean over H, W with keepdims 1, Squeeze, MatMul + Add as a
                     linear, Gemm with transB 0 and alpha/beta != 1 (an explicit torch.addmm).

    /work/venv/bin/python toolchain/onnx/export.py            # writes the fixtures
    /work/venv/bin/python toolchain/onnx/export.py --verify   # re-runs onnxruntime, checks the JSON exactly
    /work/venv/bin/python toolchain/onnx/export.py --fuzz-seeds   # Fuzz/corpus/onnx: two tiny exports (< 16 KB)

Needs torch, torchvision 0.28 (only its model definitions: its C ops need CUDA libraries, so the meta
registrations are stubbed before the import), onnx, onnxscript (the dynamo exporter) and onnxruntime.
Inputs are the shared fixture images (toolchain/seeds/common.py), preprocessed as LowBit does
(pixel/255, ImageNet mean/std); every fixture input has a top-1/top-2 margin >= 0.15 in PyTorch.
"""
import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seeds"))
sys.modules["torchvision._meta_registrations"] = types.ModuleType("stub")
import torchvision  # noqa: E402
from torchvision.models.resnet import BasicBlock, ResNet  # noqa: E402

import calibration  # noqa: E402
import common  # noqa: E402
import gen_archs  # noqa: E402

import onnx  # noqa: E402
import onnxruntime  # noqa: E402

SIZE = 64
CLASSES = 10
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
IMAGES = 4
MIN_MARGIN = 0.15
FOLDER = "onnx"


class NarrowResNet18(ResNet):
    """torchvision's ResNet with BasicBlock [2, 2, 2, 2] at base width `width` instead of 64 (torchvision
    hard-codes 64): the same module names, blocks and forward (torchvision's own _make_layer and forward)."""

    def __init__(self, width: int, classes: int):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, classes)


class SmallNet(nn.Module):
    """Stem conv (bias) + BN + ReLU, max pool 3/2 pad 1; a residual block whose branch is a depthwise
    dilated conv + BN + hardtanh(-1, 1) and a 1x1 conv without bias + BN; ReLU6; average pool 2; a 1x1
    conv + BN + ReLU; then two heads summed: the flatten of the 8x8 map (x.view(x.size(0), -1), exported
    as a shape subgraph) into a MatMul + Add, and the mean over H, W (keepdim, then squeeze) into an addmm
    (Gemm with transB 0, alpha 0.5, beta 2). The sum of two linears feeds the last Linear (Gemm)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.stem_bn = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16)
        self.dw_bn = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(16)
        self.avg = nn.AvgPool2d(2)
        self.mix = nn.Conv2d(16, 8, 1)
        self.mix_bn = nn.BatchNorm2d(8)
        self.flat_head = nn.Parameter(torch.zeros(8 * 8 * 8, 24))      # MatMul weight [K, N]
        self.flat_head_bias = nn.Parameter(torch.zeros(24))
        self.pool_head = nn.Parameter(torch.zeros(8, 24))              # addmm: x @ W, transB 0
        self.pool_head_bias = nn.Parameter(torch.zeros(24))
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(24, CLASSES)

    def features(self, x):
        x = self.pool(torch.relu(self.stem_bn(self.stem(x))))
        branch = torch.clamp(self.dw_bn(self.dw(x)), -1, 1)
        x = nn.functional.relu6(x + self.pw_bn(self.pw(branch)))
        x = torch.relu(self.mix_bn(self.mix(self.avg(x))))
        flat = torch.matmul(x.view(x.size(0), -1), self.flat_head) + self.flat_head_bias
        pooled = torch.addmm(self.pool_head_bias, x.mean((2, 3), keepdim=True).squeeze(3).squeeze(2),
                             self.pool_head, beta=2.0, alpha=0.5)
        return torch.relu(flat + pooled)

    def forward(self, x):
        return self.fc(self.drop(self.features(x)))


def trained_like(model: nn.Module, seed: int, head: nn.Linear, features, damp=lambda model: []) -> nn.Module:
    """torchvision-style init (gen_archs.torchvision_init; other 2-D parameters N(0, 1/fan_in), other 1-D
    ones N(0, 0.05^2)), BatchNorm affine randomised, the gamma of each BatchNorm in `damp(model)` x0.3
    (residual branches small against the identity path, as in trained networks), running stats from 64
    synthetic images, classifier x20 with its bias centred on the mean feature (gen_archs.py's recipe)."""
    gen = torch.Generator().manual_seed(seed)
    common.seed_everything(seed)
    gen_archs.torchvision_init(model, gen)
    with torch.no_grad():
        for _, p in model.named_parameters(recurse=False):
            p.copy_(torch.randn(p.shape, generator=gen) / np.sqrt(p.shape[0]) if p.dim() == 2
                    else 0.05 * torch.randn(p.shape, generator=gen))
        calibration.randomize_batchnorm(model, gen)
        for bn in damp(model):
            bn.weight.mul_(0.3)
    batch = calibration.calibration_batch(64, SIZE, 3, MEAN, STD)
    calibration.calibrate_batchnorm(model, batch, 1000)
    head.weight.data *= 20.0
    gen_archs.centre_head(model, features, head, head.weight, batch, gen)
    return model.eval()


def build_resnet18() -> nn.Module:
    model = NarrowResNet18(8, CLASSES)
    def features(x):
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        return torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(x))))), 1)
    return trained_like(model, 41, model.fc, features,
                        damp=lambda m: [b.bn2 for b in m.modules() if isinstance(b, BasicBlock)])


def build_mobilenetv2() -> nn.Module:
    model = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=CLASSES)
    features = lambda x: torch.flatten(nn.functional.adaptive_avg_pool2d(model.features(x), (1, 1)), 1)
    residual = torchvision.models.mobilenetv2.InvertedResidual
    return trained_like(model, 42, model.classifier[1], features,
                        damp=lambda m: [b.conv[-1] for b in m.modules() if isinstance(b, residual) and b.use_res_connect])


def build_smallnet() -> nn.Module:
    model = SmallNet()
    return trained_like(model, 43, model.fc, lambda x: model.features(x))


def build_opsmix() -> "onnx.ModelProto":
    """The opsmix graph (module docstring) with seeded random weights (numpy, N(0, 1/fan_in))."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(44)
    inits = []

    def weight(name, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        value = rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(fan_in))
        inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def bn(name, c):
        inits.extend(numpy_helper.from_array(v.astype(np.float32), f"{name}.{part}") for part, v in [
            ("weight", rng.uniform(0.6, 1.4, c)), ("bias", rng.normal(0, 0.1, c)),
            ("running_mean", rng.normal(0, 0.1, c)), ("running_var", rng.uniform(0.5, 1.5, c))])
        return [f"{name}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]

    def ints(name, values):
        inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    node = helper.make_node
    inits.append(numpy_helper.from_array(np.array(-1.5, dtype=np.float32), "clip.min"))
    inits.append(numpy_helper.from_array(np.array(2.0, dtype=np.float32), "clip.max"))
    nodes = [
        node("Conv", ["x", weight("conv_a.weight", 8, 3, 3, 3), weight("conv_a.bias", 8, scale=0.1)], ["a"],
             name="/conv_a/Conv", strides=[2, 2], auto_pad="SAME_UPPER"),
        node("BatchNormalization", ["a", *bn("bn_a", 8)], ["a_bn"], name="/bn_a/BatchNormalization", epsilon=1e-3),
        node("Relu", ["a_bn"], ["a_relu"], name="/relu_a/Relu"),
        node("Conv", ["a_relu", weight("conv_b.weight", 8, 4, 3, 3)], ["b"], name="/conv_b/Conv", group=2,
             dilations=[2, 2], pads=[2, 1, 2, 3]),
        node("Clip", ["b", "clip.min", "clip.max"], ["b_clip"], name="/clip/Clip"),
        node("Add", ["b_clip", "a_relu"], ["ab"], name="/Add"),
        node("MaxPool", ["ab"], ["m"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        node("AveragePool", ["m"], ["avg"], name="/avg/AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
             count_include_pad=1),
        node("Conv", ["avg", weight("conv_c.weight", 16, 8, 3, 3)], ["c"], name="/conv_c/Conv", strides=[2, 2],
             auto_pad="SAME_LOWER"),
        node("Relu", ["c"], ["c_relu"], name="/relu_c/Relu"),
        node("Flatten", ["c_relu"], ["flat"], name="/Flatten", axis=1),
        node("Gemm", ["flat", weight("head_a.weight", 1024, 12), weight("head_a.bias", 12, scale=0.1)], ["ha"],
             name="/head_a/Gemm", alpha=0.5, beta=2.0),
        node("ReduceMean", ["c_relu", ints("axes_hw", [-2, -1])], ["mean"], name="/ReduceMean", keepdims=0),
        node("Unsqueeze", ["mean", ints("axes_2", [2])], ["mean3"], name="/Unsqueeze"),
        node("Squeeze", ["mean3", "axes_2"], ["mean2"], name="/Squeeze"),
        node("Identity", ["mean2"], ["mean_id"], name="/Identity"),
        node("Dropout", ["mean_id"], ["mean_drop"], name="/drop/Dropout"),
        node("MatMul", ["mean_drop", weight("head_b.weight", 16, 12)], ["hb0"], name="/head_b/MatMul"),
        node("Add", ["hb0", weight("head_b.bias", 12, scale=0.1)], ["hb"], name="/head_b/Add"),
        node("Add", ["ha", "hb"], ["h"], name="/Add_1"),
        node("Relu", ["h"], ["h_relu"], name="/Relu"),
        node("Gemm", ["h_relu", weight("fc.weight", 10, 12, scale=2.0), weight("fc.bias", 10, scale=0.1)], ["logits"],
             name="/fc/Gemm", transB=1),
    ]
    graph = helper.make_graph(nodes, "opsmix", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], producer_name="toolchain/onnx/export.py")
    model.ir_version = 10
    return model


def pick_inputs_onnxruntime(path: Path, count: int, max_seed: int = 200) -> list:
    """calibration.pick_inputs for a model only onnxruntime runs: the first seeds with a top-2 margin >= MIN_MARGIN."""
    images = []
    for seed in range(max_seed):
        if common.top2_margin(torch.tensor(run_onnxruntime_array(path, calibration.normalize(
                common.synthetic_image(SIZE, SIZE, 3, seed), MEAN, STD).numpy()))) < MIN_MARGIN:
            continue
        rel = common.write_input(SIZE, SIZE, 3, seed)
        images.append({"path": rel, "logits": run_onnxruntime(path, rel)})
        if len(images) == count:
            return images
    raise RuntimeError(f"only {len(images)} of {count} inputs reach a top-2 margin of {MIN_MARGIN}")


def run_onnxruntime_array(path: Path, x: np.ndarray) -> list:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return [float(v) for v in np.asarray(out, dtype=np.float32).flatten().tolist()]


def run_onnxruntime(path: Path, rel: str) -> list:
    """onnxruntime's output (1 thread, graph optimizations off) on a fixture input preprocessed as LowBit does."""
    return run_onnxruntime_array(path, common.load_input(rel, MEAN, STD).numpy())


SPECS = {
    "resnet18": dict(build=build_resnet18, arch="resnet18", export=dict(dynamo=True, opset_version=18)),
    "mobilenetv2": dict(build=build_mobilenetv2, arch="mobilenet_v2", export=dict(dynamo=False, opset_version=17)),
    "opsmix": dict(build=build_opsmix, arch="opsmix"),
    "smallnet": dict(build=build_smallnet, arch="smallnet",
                     export=dict(dynamo=False, opset_version=13, do_constant_folding=False,
                                 input_names=["image"], output_names=["logits"],
                                 dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})),
}


def write(name: str) -> None:
    spec = SPECS[name]
    torch.set_num_threads(1)
    path = common.checkpoint_path(FOLDER, name, "onnx")
    if "export" in spec:
        model = spec["build"]()
        images = calibration.pick_inputs(model, SIZE, 3, MEAN, STD, IMAGES, min_margin=MIN_MARGIN)
        x = common.load_input(images[0]["path"], MEAN, STD)
        torch.onnx.export(model, (x,), str(path), external_data=False, **spec["export"])
    else:
        onnx.save(spec["build"](), str(path))
        images = pick_inputs_onnxruntime(path, IMAGES)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    records = []
    for image in images:
        logits = run_onnxruntime(path, image["path"])
        reference = image["logits"]
        worst = max(abs(a - b) for a, b in zip(logits, reference)) / max(abs(v) for v in reference)
        assert worst < 1e-5, f"{name}: onnxruntime differs from torch by {worst:.2e} x max|logit|"
        records.append({"path": image["path"], "logits": logits})
    ops = sorted({n.op_type for n in proto.graph.node})
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    exporter = ("dynamo" if spec["export"]["dynamo"] else "torchscript") if "export" in spec else "onnx.helper"
    common.write_fixture_json(FOLDER, name, {
        "arch": spec["arch"], "checkpoint": path.name, "format": "onnx", "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__, "opset": opset, "exporter": exporter, "ops": ops,
        "input": {"height": SIZE, "width": SIZE, "channels": 3, "mean": MEAN, "std": STD},
        "images": records,
        "notes": SPEC_NOTES[name],
    })
    print(f"{name}: {path.stat().st_size} bytes, opset {opset}, ops {ops}, margins "
          f"{[round(common.top2_margin(torch.tensor(r['logits'])), 3) for r in records]}")


SPEC_NOTES = {
    "resnet18": "torchvision ResNet-18 layout at base width 8 (real 64), 10 classes; logits from onnxruntime "
                "(1 thread, graph optimizations off) on this file; torch agrees to < 1e-5 x max|logit|",
    "mobilenetv2": "torchvision MobileNetV2 width_mult 0.25, 10 classes; logits from onnxruntime "
                   "(1 thread, graph optimizations off) on this file; torch agrees to < 1e-5 x max|logit|",
    "opsmix": "toolchain/onnx/export.py build_opsmix (onnx.helper, no exporter): attributes torch does not write; "
              "logits from onnxruntime",
    "smallnet": "toolchain/onnx/export.py SmallNet: shape-subgraph flatten, MatMul + Add, Gemm transB 0 with "
                "alpha/beta, BatchNormalization nodes, Clip variants; logits from onnxruntime",
}


class TinyNet(nn.Module):
    """A few-hundred-parameter net for the fuzz seeds: the same op kinds as SmallNet at 16x16 input."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 3, 2, 1)
        x = nn.functional.avg_pool2d(x + torch.clamp(self.dw(x), 0, 6), 2)
        return self.fc(x.view(x.size(0), -1))


def write_fuzz_seeds() -> None:
    """Fuzz/corpus/onnx/tiny-{torchscript,dynamo}.onnx: TinyNet exported both ways (seeded weights)."""
    folder = common.ROOT / "Fuzz" / "corpus" / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(45)
    model = TinyNet().eval()
    x = torch.randn(1, 3, 16, 16)
    torch.onnx.export(model, (x,), str(folder / "tiny-torchscript.onnx"), dynamo=False, opset_version=13,
                      do_constant_folding=False, dynamic_axes={"x": {0: "batch"}}, input_names=["x"])
    torch.onnx.export(model, (x,), str(folder / "tiny-dynamo.onnx"), dynamo=True, opset_version=18, external_data=False)
    for path in sorted(folder.glob("tiny-*.onnx")):
        onnx.checker.check_model(onnx.load(str(path)))
        print(f"{path.relative_to(common.ROOT)}: {path.stat().st_size} bytes")


def verify(name: str) -> None:
    record = common.read_fixture_json(FOLDER, name)
    path = common.FIXTURES / FOLDER / record["checkpoint"]
    onnx.checker.check_model(onnx.load(str(path)))
    for image in record["images"]:
        assert run_onnxruntime(path, image["path"]) == image["logits"], f"{name} {image['path']}"
    print(f"{name}: verified")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", action="store_true", help="re-run onnxruntime on the files, compare exactly")
    parser.add_argument("--fuzz-seeds", action="store_true", help="write the fuzz seeds instead of the fixtures")
    parser.add_argument("names", nargs="*", default=list(SPECS))
    args = parser.parse_args()
    if args.fuzz_seeds:
        return write_fuzz_seeds()
    for name in args.names:
        (verify if args.verify else write)(name)


if __name__ == "__main__":
    main()
