"""Single-thread latency of every int8 runtime on this machine, side by side in one run.

    .venv/bin/python bench/host_latency.py [--runs N] [--skip-large]

For MobileNetV2 0.35@96 and 1.0@224 (the shipped digits checkpoints, quantized by edgekit):
LiteRT with XNNPACK, LiteRT's builtin kernels, ONNX Runtime (QDQ, MinMax calibration), TVM
(untuned, LLVM for this CPU) and edgekit's generated C (-O2), each the median of N timed
inferences after warm-up, as a ratio to LiteRT XNNPACK. One thread everywhere.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TVM_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

# Each model is its target family's default: 0.35@96 for microcontrollers, 1.0@224 for Pis.
MODELS = (("0.35@96", "cortex-m7"), ("1.0@224", "rpi4"))


def median_ms(run, runs: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def litert(tflite: bytes, x, resolver: str, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=tflite,
        num_threads=1,
        experimental_op_resolver_type=getattr(OpResolverType, resolver),
    )
    interp.allocate_tensors()
    index = interp.get_input_details()[0]["index"]

    def run():
        interp.set_tensor(index, x)
        interp.invoke()

    return median_ms(run, runs)


def onnx_runtime(float_model, data, work: Path, runs: int) -> float:
    """The QDQ model takes the float image (quantization is inside the graph)."""
    import onnxruntime as ort

    from edgekit.data import preprocess
    from edgekit.onnx_int8 import export_onnx, quantize_onnx

    float_path = export_onnx(float_model, work / "float.onnx")
    calibration = preprocess(data.calibration.images[:32])
    path = quantize_onnx(float_path, calibration, "minmax", work / "int8.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    sample = preprocess(data.evaluation.images[:1])
    return median_ms(lambda: session.run(None, {name: sample}), runs)


def tvm_untuned(tflite: bytes, work: Path, x, runs: int) -> float:
    from edgekit.backends.runtimes import TVMBackend
    from edgekit.targets import load_target

    artifact = TVMBackend().compile(tflite, load_target("host"), work / "tvm")
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(artifact.path / "model.so")), tvm.cpu())
    tensor = tvm.runtime.tensor(x, tvm.cpu())
    return median_ms(lambda: vm["main"](tensor), runs)


def edgekit_c(tflite: bytes, work: Path, x, runs: int) -> float:
    """The host program on 1 input and on 1 + runs inputs: the difference is the inferences."""
    from edgekit.backends.c import CBackend
    from edgekit.targets import load_target

    artifact = CBackend().compile(tflite, load_target("host"), work / "c")
    binary = artifact.path / "host" / "model_run"
    for n in (1, 1 + runs):
        (work / f"in{n}.bin").write_bytes(x.tobytes() * n)

    def run(n):
        start = time.perf_counter()
        subprocess.run([str(binary), str(work / f"in{n}.bin"), str(work / "out.bin")], check=True)
        return time.perf_counter() - start

    single = statistics.median(run(1) for _ in range(5))
    many = statistics.median(run(1 + runs) for _ in range(3))
    return 1000 * (many - single) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-large", action="store_true", help="leave out 1.0@224")
    args = parser.parse_args()

    from edgekit.pipeline import BuildConfig, Log, quantize_stage
    from edgekit.validate import int8_inputs

    print(f"{'model':<9} {'runtime':<22} {'median ms':>10} {'vs XNNPACK':>10}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for label, target in MODELS[:1] if args.skip_large else MODELS:
            work = Path(tmp) / label
            work.mkdir()
            source, data, tflite = quantize_stage(BuildConfig(target=target), work, Log(True))
            x = int8_inputs(tflite, data.evaluation, 1)
            rows = [
                ("LiteRT XNNPACK", litert(tflite, x, "AUTO", args.runs)),
                (
                    "LiteRT builtin",
                    litert(tflite, x, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", args.runs),
                ),
                ("ONNX Runtime QDQ", onnx_runtime(source.float_model, data, work, args.runs)),
                ("TVM untuned", tvm_untuned(tflite, work, x, args.runs)),
                ("edgekit C (-O2)", edgekit_c(tflite, work, x, args.runs)),
            ]
            base = rows[0][1]
            for name, ms in rows:
                print(f"{label:<9} {name:<22} {ms:>10.2f} {ms / base:>10.2f}", flush=True)
    print("TVM tuned (MetaSchedule) is not measured yet: edgekit has no tuning path so far.")


if __name__ == "__main__":
    main()
