"""ONNX fixtures of segmentation nets and of the ops they need (Tests/Fixtures/seeds/onnx, docs/ONNX.md):

  onnx/deeplabv3   torchvision deeplabv3_mobilenet_v3_large layout (the torchvision builder
                   _deeplabv3_mobilenetv3 on MobileNetV3-Large width 0.25, dilated; the DeepLabHead's ASPP
                   at 32 channels instead of 256), 4 classes, aux_loss (outputs 'out' and 'aux'), 64x64,
                   seeded random weights, BatchNorm statistics from synthetic images; TorchScript exporter,
                   opset 17: dilated convs, ASPP Concat, bilinear Resize (of a pooled 1x1 map too).
  onnx/segops      built with onnx.helper, opset 18, one output per attribute variant: PRelu (per channel),
                   LeakyRelu, Pad constant 0 folded into a conv, Pad constant 0.5 / reflect / edge,
                   Resize nearest (asymmetric floor with scales, half_pixel round_prefer_ceil /
                   round_prefer_floor with sizes), linear (half_pixel up and down, align_corners,
                   pytorch_half_pixel to width 1, of a pooled vector), Softmax over channels of a map and
                   of a vector, Add / Sub / Div of run-time tensors broadcast per channel (either order) and
                   Sub of one shape.

Each fixture's outputs are onnxruntime's (1 thread, graph optimizations off) on one shared fixture input,
written with numpy as <name>.<output>.npy beside the model; the JSON lists them.

    /work/venv/bin/python toolchain/onnx/segmentation.py            # writes the fixtures
    /work/venv/bin/python toolchain/onnx/segmentation.py --verify   # re-runs onnxruntime, compares exactly
    /work/venv/bin/python toolchain/onnx/segmentation.py --fuzz-seeds   # Fuzz/corpus/onnx/tiny-segops.onnx (the segops graph)
"""
import argparse
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seeds"))
sys.modules["torchvision._meta_registrations"] = types.ModuleType("stub")
import torchvision  # noqa: E402
from torchvision.models.segmentation.deeplabv3 import ASPP, _deeplabv3_mobilenetv3  # noqa: E402

import calibration  # noqa: E402
import common  # noqa: E402
import gen_archs  # noqa: E402

import onnx  # noqa: E402
import onnxruntime  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 64
CLASSES = 4
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
FOLDER = "onnx"
INPUT_SEED = 7


def build_deeplabv3() -> nn.Module:
    """torchvision's DeepLabV3 + MobileNetV3-Large builder at width 0.25 with a 32-channel DeepLabHead (the
    same modules as torchvision's DeepLabHead, whose 256 channels would make a 10 MB file)."""
    common.seed_everything(51)
    backbone = torchvision.models.mobilenet_v3_large(width_mult=0.25, dilated=True)
    model = _deeplabv3_mobilenetv3(backbone, CLASSES, aux=True)
    in_channels = model.classifier[0].convs[0][0].in_channels
    model.classifier = nn.Sequential(ASPP(in_channels, [12, 24, 36], out_channels=32),
                                     nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                                     nn.Conv2d(32, CLASSES, 1))
    gen = torch.Generator().manual_seed(51)
    gen_archs.torchvision_init(model, gen)
    with torch.no_grad():
        calibration.randomize_batchnorm(model, gen)
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(16, SIZE, 3, MEAN, STD), 1000)
    return model.eval()


class Outputs(nn.Module):
    """DeepLabV3's dict output as the tuple ('out', 'aux') the exporter writes as two graph outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        y = self.model(x)
        return y["out"], y["aux"]


def build_segops() -> "onnx.ModelProto":
    """Every attribute variant of the new ops, one graph output each, on a 3x16x16 input."""
    rng = np.random.default_rng(53)
    inits, nodes, outputs = [], [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(name, *shape):
        return const(name, (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32))

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def out(name, shape):
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))

    x = node("Conv", ["image", weight("c1.weight", 8, 3, 3, 3), const("c1.bias", np.zeros(8, np.float32))], "c1",
             pads=[1, 1, 1, 1])
    p = node("PRelu", [x, const("slope", rng.uniform(0.05, 0.4, (8, 1, 1)).astype(np.float32))], "prelu")
    lk = node("LeakyRelu", [x], "leaky", alpha=0.2)
    pads = lambda *v: const(f"pads{len(inits)}", np.array(v, np.int64))
    zero = node("Pad", [p, pads(0, 0, 1, 2, 0, 0, 2, 1)], "pad_zero")
    node("Conv", [zero, weight("c2.weight", 6, 8, 3, 3)], "folded")
    out("folded", [1, 6, 17, 17])
    node("Pad", [lk, pads(0, 0, 2, 1, 0, 0, 0, 3), const("half", np.array(0.5, np.float32))], "pad_const")
    out("pad_const", [1, 8, 18, 20])
    node("Pad", [lk, pads(0, 0, 2, 3, 0, 0, 1, 2)], "pad_reflect", mode="reflect")
    out("pad_reflect", [1, 8, 19, 21])
    node("Pad", [p, pads(0, 0, 3, 0, 0, 0, 1, 2)], "pad_edge", mode="edge")
    out("pad_edge", [1, 8, 20, 18])
    empty = const("empty", np.array([], np.float32))
    sizes = lambda h, w: const(f"sizes{len(inits)}", np.array([1, 8, h, w], np.int64))
    node("Resize", [p, empty, const("scales2", np.array([1, 1, 2, 2], np.float32))], "nearest_scales",
         mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    out("nearest_scales", [1, 8, 32, 32])
    node("Resize", [p, "", "", sizes(23, 9)], "nearest_ceil", mode="nearest",
         coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    out("nearest_ceil", [1, 8, 23, 9])
    node("Resize", [lk, "", "", sizes(24, 40)], "nearest_floor", mode="nearest")
    out("nearest_floor", [1, 8, 24, 40])
    node("Resize", [p, "", "", sizes(37, 29)], "linear_up", mode="linear", coordinate_transformation_mode="half_pixel")
    out("linear_up", [1, 8, 37, 29])
    node("Resize", [lk, "", "", sizes(10, 7)], "linear_down", mode="linear", coordinate_transformation_mode="half_pixel")
    out("linear_down", [1, 8, 10, 7])
    node("Resize", [p, "", "", sizes(31, 20)], "linear_corners", mode="linear",
         coordinate_transformation_mode="align_corners")
    out("linear_corners", [1, 8, 31, 20])
    node("Resize", [lk, "", "", sizes(7, 1)], "linear_pytorch", mode="linear",
         coordinate_transformation_mode="pytorch_half_pixel")
    out("linear_pytorch", [1, 8, 7, 1])
    pooled = node("GlobalAveragePool", [p], "pooled")
    node("Resize", [pooled, "", "", sizes(5, 6)], "pooled_up", mode="linear")
    out("pooled_up", [1, 8, 5, 6])
    node("Softmax", [lk], "softmax_map", axis=1)
    out("softmax_map", [1, 8, 16, 16])
    gate = node("Sigmoid", [pooled], "gate")
    node("Add", [pooled, lk], "add_channel")
    out("add_channel", [1, 8, 16, 16])
    node("Sub", [p, lk], "sub_same")
    out("sub_same", [1, 8, 16, 16])
    node("Sub", [pooled, p], "sub_channel")
    out("sub_channel", [1, 8, 16, 16])
    node("Div", [lk, gate], "div_channel")
    out("div_channel", [1, 8, 16, 16])
    flat = node("Flatten", [pooled], "flat")
    node("Softmax", [flat], "softmax_vector", axis=-1)
    out("softmax_vector", [1, 8])
    graph = helper.make_graph(nodes, "segops", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="toolchain/onnx/segmentation.py")
    model.ir_version = 9
    return model


def run_onnxruntime(path: Path, x: np.ndarray) -> dict:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: x})))


def input_for(name: str) -> tuple:
    size = 16 if name == "segops" else SIZE
    rel = common.write_input(size, size, 3, INPUT_SEED)
    return rel, common.load_input(rel, MEAN, STD).numpy()


def write(name: str) -> None:
    torch.set_num_threads(1)
    path = common.checkpoint_path(FOLDER, name, "onnx")
    rel, x = input_for(name)
    if name == "deeplabv3":
        model = Outputs(build_deeplabv3()).eval()
        torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=False, opset_version=17,
                          external_data=False, input_names=["image"], output_names=["out", "aux"])
        with torch.no_grad():
            expected = [t.numpy() for t in model(torch.from_numpy(x))]
    else:
        onnx.save(build_segops(), str(path))
        expected = None
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    outputs = run_onnxruntime(path, x)
    if expected is not None:
        for got, want in zip(outputs.values(), expected):
            worst = np.abs(got - want).max() / np.abs(want).max()
            assert worst < 1e-4, f"{name}: onnxruntime differs from torch by {worst:.2e} x max|output|"
    files = {}
    for output, value in outputs.items():
        file = path.with_name(f"{name}.{output}.npy")
        np.save(file, np.ascontiguousarray(value, dtype=np.float32))
        files[output] = file.name
    margins = {}
    for output, value in outputs.items():
        if value.ndim == 4 and value.shape[1] > 1:
            top2 = np.sort(value[0], axis=0)[-2:]
            margins[output] = float((top2[1] - top2[0]).min() / np.abs(value).max())
    common.write_fixture_json(FOLDER, name, {
        "arch": name, "checkpoint": path.name, "format": "onnx", "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opset": next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        "ops": sorted({n.op_type for n in proto.graph.node}),
        "input": {"path": rel, "height": x.shape[2], "width": x.shape[3], "channels": 3, "mean": MEAN, "std": STD},
        "outputs": files, "min_top2_margin": margins,
        "notes": "outputs from onnxruntime (1 thread, graph optimizations off) on this file; see toolchain/onnx/segmentation.py",
    })
    print(f"{name}: {path.stat().st_size} bytes, ops {sorted({n.op_type for n in proto.graph.node})}, margins {margins}")


def verify(name: str) -> None:
    record = common.read_fixture_json(FOLDER, name)
    path = common.FIXTURES / FOLDER / record["checkpoint"]
    _, x = input_for(name)
    for output, value in run_onnxruntime(path, x).items():
        assert np.array_equal(np.load(path.with_name(record["outputs"][output])), value), f"{name} {output}"
    print(f"{name}: verified")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", action="store_true", help="re-run onnxruntime on the files, compare exactly")
    parser.add_argument("--fuzz-seeds", action="store_true", help="write the segops graph as a fuzz seed instead")
    parser.add_argument("names", nargs="*", default=["deeplabv3", "segops"])
    args = parser.parse_args()
    if args.fuzz_seeds:
        path = common.ROOT / "Fuzz" / "corpus" / "onnx" / "tiny-segops.onnx"
        onnx.save(build_segops(), str(path))
        return print(f"{path.relative_to(common.ROOT)}: {path.stat().st_size} bytes")
    for name in args.names:
        (verify if args.verify else write)(name)


if __name__ == "__main__":
    main()
