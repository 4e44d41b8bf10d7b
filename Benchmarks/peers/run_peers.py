#!/usr/bin/env python3
"""LowBit against onnxruntime, ExecuTorch (XNNPACK) and ncnn on the same networks, in one run on one machine.

For each network: makes (or takes) a PyTorch model, converts it with LowBit (qconvert, 8 and 4 bits,
activations calibrated on a few images), gives the same network to each peer in its own formats (fp32
and int8, calibrated on the same images where the peer quantizes), then times LowBit (qbench) and every
peer at each thread count and prints medians and the ratio of the fastest int8 peer to LowBit.

  python3 Benchmarks/peers/run_peers.py                  # every network and peer; 1 and 2 threads
  python3 Benchmarks/peers/run_peers.py --models resnet18 --peers onnxruntime --threads 1 --runs 100
  python3 Benchmarks/peers/run_peers.py --models mobilenet_v2,efficientnet_b0 --json out.json

Networks: resnet20 is the trained CIFAR-10 checkpoint from ../shared/data/cifar10-resnets (32x32);
resnet18, resnet50, mobilenet_v2 and efficientnet_b0 are torchvision's definitions with seeded random
weights and plausible BatchNorm statistics at 224x224 (the speed of a network does not depend on its
weights). LowBit converts the ResNets and MobileNetV2 from their state_dict and EfficientNet-B0 (SiLU,
squeeze-excite: no state-dict family) from the fp32 ONNX export.

Peers (--peers; each is optional: one that fails to import or export prints why and its columns stay
empty):
  onnxruntime  fp32 ONNX and static int8 QDQ (per-channel weights, u8 activations)
  executorch   XNNPACK-delegated .pte files, fp32 and PT2E int8 (XNNPACKQuantizer, per-channel
               symmetric), run by executorch.runtime with the XNNPACK threadpool set to the thread count
  ncnn         pnnx-converted .param/.bin from a TorchScript trace, fp32 (net.opt.num_threads); no int8:
               ncnn2table / ncnn2int8 are in neither the ncnn nor the pnnx PyPI package

The script creates its own venv (Benchmarks/peers/.venv, PACKAGES below) on first use and re-runs
itself inside it. Work files go to Benchmarks/peers/work/ (git-ignored).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
WORK = HERE / "work"
PACKAGES = ["torch==2.13.0", "torchvision==0.28.0", "executorch==1.5.1", "onnx", "onnxruntime",
            "onnxscript", "numpy", "ncnn", "pnnx"]
IMAGENET_FLAGS = ["--input-size", "224", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]


def ensure_venv():
    """Re-executes this script with the venv's python (creating the venv first if needed)."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} ({' '.join(PACKAGES)})", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


# --- networks ---------------------------------------------------------------------------------

@dataclass
class Network:
    """A network in every form the script needs: the torch module, LowBit's source file, the input."""
    name: str
    model: object
    size: int
    lowbit_source: Path          # state_dict checkpoint or ONNX file qconvert reads
    lowbit_flags: list
    calib: Path = None           # folder of PPM images for qconvert --calibrate
    tensors: list = field(default_factory=list)   # the same images as NCHW float32 arrays


def torchvision_models():
    """torchvision's model definitions without its C ops (their library needs CUDA's)."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("stub"))
    import torchvision.models
    return torchvision.models


def random_weights(model, seed):
    """Seeded random weights (torchvision's own init) and non-trivial BatchNorm statistics."""
    import torch
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.0)
                m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def network(name):
    """The named network with its calibration images."""
    import torch
    WORK.mkdir(parents=True, exist_ok=True)
    if name == "resnet20":
        sys.path.insert(0, str(ROOT / "toolchain"))
        from cifar_resnet import load_checkpoint
        ckpt = ROOT.parent / "shared/data/cifar10-resnets/resnet20-12fca82f.th"
        model, _ = load_checkpoint(str(ckpt))
        net = Network(name, model.eval(), 32, ckpt, [])
    else:
        builders = {"resnet18": "resnet18", "resnet50": "resnet50", "mobilenet_v2": "mobilenet_v2",
                    "efficientnet_b0": "efficientnet_b0"}
        if name not in builders:
            raise SystemExit(f"run_peers: unknown network '{name}' (known: resnet20, {', '.join(builders)})")
        torch.manual_seed(sum(map(ord, name)))
        model = random_weights(getattr(torchvision_models(), builders[name])(), seed=sum(map(ord, name)))
        if name == "efficientnet_b0":
            source = WORK / f"{name}-fp32.onnx"      # written by export_onnx_fp32 below
        else:
            source = WORK / f"{name}-random.pth"
            if not source.exists():
                torch.save(model.state_dict(), source)
        net = Network(name, model, 224, source, IMAGENET_FLAGS)
    net.calib, net.tensors = calibration_images(net.size)
    if net.lowbit_source.suffix == ".onnx":
        export_onnx_fp32(net)
    return net


def calibration_images(size, count=16):
    """`count` seeded random-noise PPM images of size x size and the same normalized tensors."""
    import numpy as np
    folder = WORK / f"calib{size}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(size)
    tensors = []
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    for i in range(count):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        (folder / f"{i:03d}.ppm").write_bytes(f"P6\n{size} {size}\n255\n".encode() + img.tobytes())
        x = ((img.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None]
        tensors.append(np.ascontiguousarray(x))
    return folder, tensors


def median_ms(call, warmup, runs):
    """Median wall time of `call()` in ms after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# --- LowBit -----------------------------------------------------------------------------------

def bin_path(tool):
    return ROOT / ".build" / "release" / tool


def newer(path, sources):
    """Whether `path` exists and was written after every file in `sources`."""
    return path.exists() and all(path.stat().st_mtime > src.stat().st_mtime for src in sources)


def lowbit(net, bits_list, threads_list, warmup, runs):
    """{(f"lowbit_w{bits}", threads): ms}: qconvert --calibrate at each bit width (its defaults: GPTQ at
    <= 4 bits, ONNX graphs included), timed by qbench."""
    results = {}
    for bits in bits_list:
        lbm = WORK / f"{net.name}-w{bits}.lbm"
        try:
            if not newer(lbm, [bin_path("qconvert"), net.lowbit_source]):
                subprocess.run([str(bin_path("qconvert")), str(net.lowbit_source), "--bits", str(bits),
                                "--calibrate", str(net.calib), "--calibration-count", "16", "-o", str(lbm),
                                *net.lowbit_flags], check=True, stdout=subprocess.DEVNULL)
            for threads in threads_list:
                out = subprocess.run([str(bin_path("qbench")), "--model", str(lbm), "--threads", str(threads),
                                      "--warmup", str(warmup), "--runs", str(runs), "--json", "-"],
                                     check=True, stdout=subprocess.PIPE, text=True).stdout
                results[(f"lowbit_w{bits}", threads)] = json.loads(out)["points"][0]["latencyMs"]["median"]
        except subprocess.CalledProcessError as error:     # report it, keep the other columns
            print(f"  LowBit w{bits} on {net.name}: failed ({Path(error.cmd[0]).name} exit {error.returncode})",
                  flush=True)
    return results


# --- onnxruntime ------------------------------------------------------------------------------

def export_onnx_fp32(net):
    """The network as fp32 ONNX (TorchScript exporter, opset 17); written once."""
    import torch
    path = WORK / f"{net.name}-fp32.onnx"
    if not path.exists():
        torch.onnx.export(net.model, (torch.from_numpy(net.tensors[0]),), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    return path


def onnxruntime_peer(net, threads_list, warmup, runs):
    """{("ort_fp32" | "ort_int8", threads): ms}: fp32 ONNX and static QDQ int8 (per-channel, u8 activations)."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    fp32 = export_onnx_fp32(net)
    int8 = WORK / f"{net.name}-int8-qdq.onnx"
    if not int8.exists():
        prep = WORK / f"{net.name}-fp32-prep.onnx"
        quant_pre_process(str(fp32), str(prep))

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([{"input": t} for t in net.tensors])

            def get_next(self):
                return next(self.items, None)

        quantize_static(str(prep), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    results = {}
    for variant, path in [("ort_fp32", fp32), ("ort_int8", int8)]:
        for threads in threads_list:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            feed = {sess.get_inputs()[0].name: net.tensors[0]}
            results[(variant, threads)] = median_ms(lambda: sess.run(None, feed), warmup, runs)
    return results


# --- ExecuTorch (XNNPACK) ---------------------------------------------------------------------

def export_executorch(net, int8):
    """An XNNPACK-delegated .pte of the network: fp32, or PT2E int8 (per-channel symmetric weights,
    activations calibrated on the network's images); written once."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    path = WORK / f"{net.name}-{'int8' if int8 else 'fp32'}-xnnpack.pte"
    if path.exists():
        return path
    example = (torch.from_numpy(net.tensors[0]),)
    model = net.model
    if int8:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer, get_symmetric_quantization_config)
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(torch.export.export(model, example).module(), quantizer)
        for t in net.tensors:
            prepared(torch.from_numpy(t))
        model = convert_pt2e(prepared)
    program = to_edge_transform_and_lower(torch.export.export(model, example),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(program.buffer)
    return path


def executorch_peer(net, threads_list, warmup, runs):
    """{("et_fp32" | "et_int8", threads): ms}: .pte files run by executorch.runtime, the XNNPACK
    threadpool reset to the thread count before each timing."""
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime
    runtime = Runtime.get()
    x = torch.from_numpy(net.tensors[0])
    results = {}
    for threads in threads_list:
        _unsafe_reset_threadpool(threads)
        for variant, int8 in [("et_fp32", False), ("et_int8", True)]:
            method = runtime.load_program(export_executorch(net, int8)).load_method("forward")
            results[(variant, threads)] = median_ms(lambda: method.execute([x]), warmup, runs)
    return results


# --- ncnn -------------------------------------------------------------------------------------

def export_ncnn(net):
    """(param, bin) of the network converted by pnnx from a TorchScript trace; written once."""
    import pnnx
    import torch
    base = WORK / f"{net.name}_pnnx"     # pnnx names its outputs after the .pt, "-" becoming "_"
    param, weights = Path(f"{base}.ncnn.param"), Path(f"{base}.ncnn.bin")
    if not (param.exists() and weights.exists()):
        pnnx.export(net.model, f"{base}.pt", (torch.from_numpy(net.tensors[0]),))
    if not (param.exists() and weights.exists()):
        raise RuntimeError(f"pnnx wrote no {param.name} / {weights.name}")
    return param, weights


def ncnn_peer(net, threads_list, warmup, runs):
    """{("ncnn_fp32", threads): ms}: ncnn's Python bindings, net.opt.num_threads set. fp32 only: ncnn's
    int8 models come from its ncnn2table / ncnn2int8 tools, which neither the ncnn nor the pnnx PyPI
    package ships."""
    import ncnn
    param, weights = export_ncnn(net)
    image = ncnn.Mat(net.tensors[0][0])
    results = {}
    for threads in threads_list:
        model = ncnn.Net()
        model.opt.num_threads = threads
        if model.load_param(str(param)) != 0 or model.load_model(str(weights)) != 0:
            raise RuntimeError(f"ncnn cannot load {param.name} (its message above names the layer)")

        def run():
            ex = model.create_extractor()
            if ex.input("in0", image) != 0 or ex.extract("out0")[0] != 0:
                raise RuntimeError(f"ncnn: {param.name} has no blob in0 / out0")

        results[("ncnn_fp32", threads)] = median_ms(run, warmup, runs)
    return results


PEERS = {"onnxruntime": onnxruntime_peer, "executorch": executorch_peer, "ncnn": ncnn_peer}
COLUMNS = ["ort_fp32", "ort_int8", "et_fp32", "et_int8", "ncnn_fp32"]


# --- report -----------------------------------------------------------------------------------

def run_peer(peer, name, threads, warmup, runs):
    """The peer's timings of the named network at one thread count (in a worker: see run_isolated)."""
    import torch
    torch.set_num_threads(2)
    return PEERS[peer](network(name), [threads], warmup, runs)


def run_isolated(peer, name, threads, warmup, runs, tries=2):
    """`run_peer` in a fresh process, so that no two runtimes' thread pools share one process, each pool
    is sized once, and a peer that raises or dies (an abort inside a runtime) only loses its own columns.
    A worker that dies is tried once more (ExecuTorch 1.5.1 sometimes aborts in glibc's
    __pthread_tpp_change_priority on a loaded machine); the message says so."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context
    for attempt in range(1, tries + 1):
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                return pool.submit(run_peer, peer, name, threads, warmup, runs).result()
        except BrokenProcessPool:
            print(f"  {peer} on {name}, {threads} thr: the worker died (try {attempt} of {tries})", flush=True)
        except Exception as error:      # a peer is optional: report and leave its columns empty
            print(f"  {peer} on {name}, {threads} thr: skipped ({type(error).__name__}: "
                  f"{str(error).strip()[:300]})", flush=True)
            return {}
    return {}


def print_row(row, bits_list):
    """One line per network and thread count: every median, then the fastest int8 peer / LowBit."""
    def ms(key):
        value = row.get(f"{key}_ms")
        return "     -" if value is None else f"{value:6.2f}"
    parts = [f"{row['model']:15s} {row['threads']} thr:"]
    parts += [f"lowbit w{b} {ms(f'lowbit_w{b}')}" for b in bits_list]
    parts += [f"{c.replace('_', ' ')} {ms(c)}" for c in COLUMNS]
    best = min([row[f"{c}_ms"] for c in COLUMNS if c.endswith("int8") and row.get(f"{c}_ms")], default=None)
    if best:
        parts += [f"int8 peer / w{b} x{best / row[f'lowbit_w{b}_ms']:.2f}" for b in bits_list
                  if row.get(f"lowbit_w{b}_ms")]
    print("  ".join(parts), flush=True)


def main():
    ensure_venv()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet20,resnet18,resnet50,mobilenet_v2,efficientnet_b0")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"any of {', '.join(PEERS)}")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--bits", default="8,4")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    peers = args.peers.split(",")
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise SystemExit(f"run_peers: unknown peer {', '.join(unknown)} (known: {', '.join(PEERS)})")
    threads_list = [int(t) for t in args.threads.split(",")]
    bits_list = [int(b) for b in args.bits.split(",")]
    import torch
    torch.set_num_threads(2)
    subprocess.run(["swift", "build", "-c", "release", "--package-path", str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"torch {torch.__version__}; {versions(peers)}; median ms over {args.runs} runs after "
          f"{args.warmup} warm-up runs", flush=True)
    rows = []
    for name in args.models.split(","):
        net = network(name)
        results = lowbit(net, bits_list, threads_list, args.warmup, args.runs)
        for peer in peers:
            for threads in threads_list:
                results.update(run_isolated(peer, name, threads, args.warmup, args.runs))
        for threads in threads_list:
            row = {"model": name, "threads": threads}
            row.update({f"{key}_ms": ms for (key, t), ms in results.items() if t == threads})
            rows.append(row)
            print_row(row, bits_list)
        if args.json:       # after every network, so an interrupted run keeps what it measured
            args.json.write_text(json.dumps(rows, indent=2) + "\n")


def versions(peers):
    """The peers' package versions, or why one does not import."""
    from importlib.metadata import PackageNotFoundError, version
    names = {"onnxruntime": ["onnxruntime"], "executorch": ["executorch"], "ncnn": ["ncnn", "pnnx"]}
    out = []
    for peer in peers:
        for package in names[peer]:
            try:
                out.append(f"{package} {version(package)}")
            except PackageNotFoundError:
                out.append(f"{package} not installed")
    return ", ".join(out)


if __name__ == "__main__":
    main()
