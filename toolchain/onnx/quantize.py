"""Quantized ONNX fixtures (QuantizeLinear / DequantizeLinear, QDQ) for `qconvert model.onnx` (docs/ONNX.md
"Quantized ONNX (QDQ)"), written into Tests/Fixtures/seeds/onnx/ beside export.py's float fixtures:

  onnx/resnet18_qdq  export.py's resnet18.onnx quantized by onnxruntime.quantization.quantize_static
                     (QuantFormat.QDQ, per_channel=True, activations QUInt8, weights QInt8, MinMax calibration
                     on 16 seeded synthetic images): int8 per-channel DequantizeLinear weights, int32 biases
                     through DequantizeLinear, u8 Q -> DQ pairs on every activation.
  onnx/int4net       built with onnx.helper, opset 21: INT4 conv weights per channel (axis 0, no zero point),
                     UINT4 conv weights per tensor with zero point 8, an int8 activation Q -> DQ pair on the
                     input (zero point -3: the s8 -> u8 mapping), u8 pairs after the convs, a float bias, a
                     DequantizeLinear'd Gemm (INT4, transB 1, per channel along axis 0) and a MatMul weight
                     [K, N] in int8 per channel along axis 1, float biases, and a Sigmoid whose output
                     has a u8 Q -> DQ pair (scale 1/255): a pair between f32 ops, whose rounding LowBit drops.

Each JSON holds onnxruntime's outputs on four shared inputs with a top-2 margin >= 0.15, like export.py's,
from both of its executions (1 thread): `logits` with graph optimizations off (the QDQ graph as written:
float ops between QuantizeLinear / DequantizeLinear) and `logits_integer` with its default optimizations
(QDQ groups fused into integer kernels, QLinearConv / QGemm, where it can): the two differ by up to a few
output steps, as integer pipelines do.

    /work/venv/bin/python toolchain/onnx/quantize.py            # writes the fixtures
    /work/venv/bin/python toolchain/onnx/quantize.py --verify   # re-runs onnxruntime, checks the JSON exactly
    /work/venv/bin/python toolchain/onnx/quantize.py --fuzz-seeds   # Fuzz/corpus/onnx/int4net.onnx (QDQ, 4-bit)

Needs what export.py needs (it reuses its helpers) and onnxruntime.quantization.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export  # noqa: E402
from export import CLASSES, FOLDER, IMAGES, MEAN, SIZE, STD, calibration, common, onnx, onnxruntime  # noqa: E402

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime import quantization as ortq  # noqa: E402

CALIBRATION_SEEDS = range(1000, 1016)


class SyntheticImages(ortq.CalibrationDataReader):
    """The seeded synthetic images (common.synthetic_image) preprocessed as LowBit does, one per batch."""

    def __init__(self, input_name: str):
        self.batches = iter([{input_name: calibration.normalize(common.synthetic_image(SIZE, SIZE, 3, seed), MEAN, STD).numpy()}
                             for seed in CALIBRATION_SEEDS])

    def get_next(self):
        return next(self.batches, None)


def build_resnet18_qdq(path: Path) -> None:
    source = common.FIXTURES / FOLDER / "resnet18.onnx"
    name = onnx.load(str(source)).graph.input[0].name
    ortq.quantize_static(str(source), str(path), SyntheticImages(name), quant_format=ortq.QuantFormat.QDQ,
                         per_channel=True, activation_type=ortq.QuantType.QUInt8, weight_type=ortq.QuantType.QInt8,
                         calibrate_method=ortq.CalibrationMethod.MinMax)


def build_int4net(path: Path) -> None:
    """The int4net graph (module docstring) with seeded weights: each weight is a float tensor rounded onto
    its integer grid here, so the file holds the integers and scales."""
    rng = np.random.default_rng(47)
    inits = []

    def const(name, array, dtype=None):
        inits.append(numpy_helper.from_array(np.asarray(array), name) if dtype is None
                     else helper.make_tensor(name, dtype, list(np.shape(array)), np.asarray(array).flatten().tolist()))
        return name

    def quantized_weight(name, shape, dtype, axis, zero=None):
        """DequantizeLinear inputs of a N(0, 1/fan_in) weight on a 4-bit (or 8-bit) grid, per channel along
        `axis` (per tensor when None)."""
        low, high = {TensorProto.INT4: (-8, 7), TensorProto.UINT4: (0, 15), TensorProto.INT8: (-128, 127)}[dtype]
        fan_in = int(np.prod(shape)) // shape[0 if axis in (None, 0) else axis]
        w = rng.standard_normal(shape) / np.sqrt(fan_in)
        z = 0 if zero is None else zero
        reduce_axes = tuple(a for a in range(len(shape)) if a != axis) if axis is not None else None
        top = np.abs(w).max(axis=reduce_axes, keepdims=axis is not None)
        scale = (top / max(high - z, z - low)).astype(np.float32)
        q = np.clip(np.rint(w / scale) + z, low, high).astype(np.int64)
        inputs = [const(f"{name}_quantized", q, dtype), const(f"{name}_scale", scale.flatten() if axis is not None else scale.reshape(()))]
        if zero is not None:
            inputs.append(const(f"{name}_zero_point", np.array(zero, dtype=np.int64), dtype))
        attrs = {} if axis is None else {"axis": axis}
        return helper.make_node("DequantizeLinear", inputs, [name], name=f"{name}_DequantizeLinear", **attrs)

    def qdq(value, scale, zero, dtype):
        s = const(f"{value}_scale", np.array(scale, dtype=np.float32))
        z = const(f"{value}_zero_point", np.array(zero, dtype=np.int64), dtype)
        return [helper.make_node("QuantizeLinear", [value, s, z], [f"{value}_q"], name=f"{value}_QuantizeLinear"),
                helper.make_node("DequantizeLinear", [f"{value}_q", s, z], [f"{value}_dq"], name=f"{value}_DequantizeLinear")]

    node = helper.make_node
    nodes = [
        *qdq("x", 0.019, -3, TensorProto.INT8),
        quantized_weight("conv1.weight", (16, 3, 3, 3), TensorProto.INT4, axis=0),
        node("Conv", ["x_dq", "conv1.weight", const("conv1.bias", (rng.normal(0, 0.1, 16)).astype(np.float32))], ["c1"],
             name="/conv1/Conv", strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"], name="/relu1/Relu"),
        *qdq("r1", 0.02, 0, TensorProto.UINT8),
        quantized_weight("conv2.weight", (24, 16, 3, 3), TensorProto.UINT4, axis=None, zero=8),
        node("Conv", ["r1_dq", "conv2.weight"], ["c2"], name="/conv2/Conv", strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Relu", ["c2"], ["r2"], name="/relu2/Relu"),
        *qdq("r2", 0.015, 0, TensorProto.UINT8),
        node("GlobalAveragePool", ["r2_dq"], ["pooled"], name="/pool/GlobalAveragePool"),
        node("Flatten", ["pooled"], ["flat"], name="/Flatten", axis=1),
        *qdq("flat", 0.004, 0, TensorProto.UINT8),
        quantized_weight("fc1.weight", (32, 24), TensorProto.INT4, axis=0),
        node("Gemm", ["flat_dq", "fc1.weight", const("fc1.bias", rng.normal(0, 0.1, 32).astype(np.float32))], ["h"],
             name="/fc1/Gemm", transB=1),
        node("Relu", ["h"], ["hr"], name="/relu3/Relu"),
        *qdq("hr", 0.01, 0, TensorProto.UINT8),
        quantized_weight("fc2.weight", (32, CLASSES), TensorProto.INT8, axis=1),
        node("MatMul", ["hr_dq", "fc2.weight"], ["l0"], name="/fc2/MatMul"),
        node("Add", ["l0", const("fc2.bias", rng.normal(0, 0.1, CLASSES).astype(np.float32))], ["logits"], name="/fc2/Add"),
        node("Sigmoid", ["logits"], ["probs"], name="/Sigmoid"),
        *qdq("probs", 1 / 255, 0, TensorProto.UINT8),
    ]
    graph = helper.make_graph(nodes, "int4net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
                              [helper.make_tensor_value_info("probs_dq", TensorProto.FLOAT, [1, CLASSES])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], producer_name="toolchain/onnx/quantize.py")
    model.ir_version = 10
    onnx.save(model, str(path))


def run_onnxruntime_optimized(path: Path, rel: str) -> list:
    """onnxruntime's output with its default graph optimizations (1 thread): QDQ groups run as integer kernels."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = common.load_input(rel, MEAN, STD).numpy()
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return [float(v) for v in np.asarray(out, dtype=np.float32).flatten().tolist()]


def verify(name: str) -> None:
    """export.verify plus the integer execution's logits."""
    export.verify(name)
    record = common.read_fixture_json(FOLDER, name)
    for image in record["images"]:
        assert run_onnxruntime_optimized(common.FIXTURES / FOLDER / record["checkpoint"], image["path"]) == image["logits_integer"], image["path"]


SPECS = {
    "resnet18_qdq": dict(build=build_resnet18_qdq, arch="resnet18",
                         notes="export.py's resnet18.onnx through onnxruntime.quantization.quantize_static (QDQ, per "
                               "channel, activations QUInt8, weights QInt8, MinMax on 16 synthetic images); logits "
                               "from onnxruntime (1 thread, graph optimizations off) on this file"),
    "int4net": dict(build=build_int4net, arch="int4net",
                    notes="toolchain/onnx/quantize.py build_int4net (onnx.helper, opset 21): INT4 / UINT4 / int8 "
                          "DequantizeLinear weights, s8 and u8 activation Q -> DQ pairs, sigmoid outputs rounded to "
                          "1/255 by a last pair; outputs from onnxruntime"),
}


def write(name: str) -> None:
    spec = SPECS[name]
    path = common.checkpoint_path(FOLDER, name, "onnx")
    spec["build"](path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    images = export.pick_inputs_onnxruntime(path, IMAGES)
    for image in images:
        image["logits_integer"] = run_onnxruntime_optimized(path, image["path"])
    ops = sorted({n.op_type for n in proto.graph.node})
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    common.write_fixture_json(FOLDER, name, {
        "arch": spec["arch"], "checkpoint": path.name, "format": "onnx", "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__, "opset": opset, "exporter": "onnxruntime.quantization" if name == "resnet18_qdq"
        else "onnx.helper", "ops": ops, "input": {"height": SIZE, "width": SIZE, "channels": 3, "mean": MEAN, "std": STD},
        "images": images, "notes": spec["notes"],
    })
    print(f"{name}: {path.stat().st_size} bytes, opset {opset}, ops {ops}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", action="store_true", help="re-run onnxruntime on the files, compare exactly")
    parser.add_argument("--fuzz-seeds", action="store_true", help="write the fuzz seed instead of the fixtures")
    parser.add_argument("names", nargs="*", default=list(SPECS))
    args = parser.parse_args()
    if args.fuzz_seeds:
        path = common.ROOT / "Fuzz" / "corpus" / "onnx" / "int4net.onnx"
        build_int4net(path)
        onnx.checker.check_model(onnx.load(str(path)))
        return print(f"{path.relative_to(common.ROOT)}: {path.stat().st_size} bytes")
    for name in args.names:
        (verify if args.verify else write)(name)


if __name__ == "__main__":
    main()
