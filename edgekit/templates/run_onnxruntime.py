"""Runs the ONNX Runtime int8 (QDQ) model on the board (edgekit bundle).

    python3 run_onnxruntime.py model_int8_minmax.onnx INPUT OUTPUT

INPUT holds int8 input tensors back to back, quantized as the TFLite int8 model's input, so
every artifact of the bundle reads the same file; they are dequantized with that scale and zero
point (io.json) for the ONNX model's float input, and its float output is quantized the TFLite
way into OUTPUT. Inside, ONNX Runtime runs the QDQ graph on its integer kernels where they
accumulate in int32 on this CPU (ARM; x86 with VNNI or AMX), and as written, dequantize ->
float32 -> quantize, where they would saturate (x86 without VNNI): see ``int8_path``. One
thread. Prints {"latency_us": [...], "int8_path": {...}}: the wall time of each inference and
the path taken. Needs: pip install onnxruntime numpy
"""

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

# ONNX Runtime's x86 int8 GEMM (MLAS) picks its u8 x s8 kernel from the CPU; the first listed
# that the CPU has is the one it runs. AVX512BW and AVX2 add each pair of u8 x s8 products in
# int16 (vpmaddubsw), which saturates with full 8-bit weights; AMX and VNNI (vpdpbusd)
# accumulate in int32. ARM's NEON kernels add pairs in int16 too, but signed int8 activations
# times weights in [-127, 127] (ONNX Runtime's symmetric int8 weights) cannot overflow there.
_X86_KERNELS = (
    ("amx_int8", "x86 AMX int8 tiles, int32 sums", False),
    ("avx512_vnni", "x86 AVX512-VNNI vpdpbusd, int32 sums", False),
    ("avx512bw", "x86 AVX512BW vpmaddubsw, u8 x s8 pairs summed in int16", True),
    ("avx_vnni", "x86 AVX-VNNI vpdpbusd, int32 sums", False),
    ("avx2", "x86 AVX2 vpmaddubsw, u8 x s8 pairs summed in int16", True),
)
_X86 = ("x86_64", "amd64", "i386", "i686")
_ARM = ("aarch64", "arm64")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU feature flags Linux lists for an x86 CPU, or None where it lists none."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return None


def int8_path(machine=None, flags=None):
    """Which integer kernels ONNX Runtime's CPU provider uses here for int8 convolutions and
    matrix multiplies, whether they can saturate, and so how a QDQ model must run here to
    compute what it means: on those kernels where they accumulate in int32, as written
    (dequantize -> float32 -> quantize, graph optimizations off) where they may saturate or
    the CPU is not identified."""
    machine = (machine or platform.machine()).lower()
    features, kernels, saturates = None, "not identified", True
    if machine in _ARM:
        kernels, saturates = "ARM NEON / dot-product int8 kernels, exact int32 sums", False
    elif machine in _X86:
        flags = cpu_flags() if flags is None else set(flags)
        if flags is not None:
            features = sorted(flags & {name for name, _, _ in _X86_KERNELS})
            found = [(what, s) for name, what, s in _X86_KERNELS if name in flags]
            kernels, saturates = found[0] if found else ("x86 without AVX2, not identified", True)
    return {
        "machine": machine,
        "cpu_features": features,
        "integer_kernels": kernels,
        "integer_kernels_saturate": saturates,
        "runs_on": (
            "as written, dequantize -> float32 -> quantize" if saturates else "on integer kernels"
        ),
    }


def session(model, integer_kernels=None, **settings):
    """An ONNX Runtime session for ``model`` on one thread: on ONNX Runtime's integer kernels
    where ``integer_kernels`` (default: where ``int8_path()`` finds they cannot saturate), the
    graph as written (optimizations off) otherwise; ``settings``: more ``SessionOptions``."""
    import onnxruntime as ort

    if integer_kernels is None:
        integer_kernels = not int8_path()["integer_kernels_saturate"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    if not integer_kernels:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for name, value in settings.items():
        setattr(options, name, value)
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def main(argv):
    model, source, target = argv[1:4]
    io = json.loads((Path(model).parent / "io.json").read_text())
    path = int8_path()
    run = session(model, not path["integer_kernels_saturate"])
    name = run.get_inputs()[0].name
    scale, zero = io["input"]["scale"], io["input"]["zero_point"]
    data = np.fromfile(source, dtype=np.int8).reshape(-1, *io["input"]["shape"])
    results, times = [], []
    for x in data:
        image = ((x.astype(np.float32) - zero) * scale)[None]
        start = time.perf_counter_ns()
        y = run.run(None, {name: image})[0]
        times.append((time.perf_counter_ns() - start) // 1000)
        results.append(y)
    out = io["output"]
    q = np.round(np.concatenate(results) / out["scale"]) + out["zero_point"]
    np.clip(q, -128, 127).astype(np.int8).tofile(target)
    print(json.dumps({"latency_us": times, "int8_path": path}))


if __name__ == "__main__":
    main(sys.argv)
