"""Single-thread latency of every int8 runtime on this machine, side by side in one run.

    .venv/bin/python bench/host_latency.py [--runs N] [--skip-large] [--tune-trials N]

For MobileNetV2 0.35@96 and 1.0@224 (the shipped digits checkpoints, quantized by edgekit):
LiteRT with XNNPACK, LiteRT's builtin kernels, ONNX Runtime (QDQ, MinMax calibration), TVM
untuned (LLVM for this CPU) and tuned (MetaSchedule, --tune-trials candidates timed here, as
`edgekit build --tune-trials` does) and edgekit's generated C (-O2), each the median of N timed
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

    from edgekit.frontend.data import preprocess
    from edgekit.quantization.onnx_ptq import export_onnx, quantize_onnx

    float_path = export_onnx(float_model, work / "float.onnx")
    calibration = preprocess(data.calibration.images[:32])
    path = quantize_onnx(float_path, calibration, "minmax", work / "int8.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    sample = preprocess(data.evaluation.images[:1])
    return median_ms(lambda: session.run(None, {name: sample}), runs)


def tvm(tflite: bytes, work: Path, x, runs: int, trials: int = 0) -> float:
    """The tvm backend's host library; with ``trials``, tuned by MetaSchedule on this machine
    (candidates timed single-threaded, like every row)."""
    from edgekit.backends.tvm import TVMBackend
    from edgekit.config import CompileOptions
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model

    folder = work / ("tvm-tuned" if trials else "tvm")
    options = CompileOptions(tune_trials=trials)
    artifact = TVMBackend().compile(Int8Model(tflite), load_target("host"), folder, options)
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(artifact.path / "model.so")), tvm.cpu())
    tensor = tvm.runtime.tensor(x, tvm.cpu())
    return median_ms(lambda: vm["main"](tensor), runs)


def edgekit_c(tflite: bytes, work: Path, x, runs: int) -> float:
    """The host program on 1 + runs copies of the input: the median of the per-inference
    times it prints itself, the first (warm-up) left out."""
    from edgekit.artifacts import parse_latency
    from edgekit.backends.c import CBackend
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model

    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), work / "c")
    binary = artifact.path / "host" / "model_run"
    (work / "in.bin").write_bytes(x.tobytes() * (1 + runs))
    done = subprocess.run(
        [str(binary), str(work / "in.bin"), str(work / "out.bin")],
        check=True,
        capture_output=True,
        text=True,
    )
    return statistics.median(parse_latency(done.stdout)[1:]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--skip-large", action="store_true", help="leave out 1.0@224")
    parser.add_argument(
        "--tune-trials", type=int, default=64, help="MetaSchedule budget of the TVM tuned row"
    )
    args = parser.parse_args()

    from edgekit.pipeline import BuildConfig, Log, prepare
    from edgekit.validation.artifacts import int8_inputs

    print(f"{'model':<9} {'runtime':<22} {'median ms':>10} {'vs XNNPACK':>10}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for label, target in MODELS[:1] if args.skip_large else MODELS:
            work = Path(tmp) / label
            work.mkdir()
            source, data, model = prepare(BuildConfig(target=target), work, Log(True))
            tflite = model.tflite
            x = int8_inputs(tflite, data.evaluation, 1)
            rows = [
                ("LiteRT XNNPACK", litert(tflite, x, "AUTO", args.runs)),
                (
                    "LiteRT builtin",
                    litert(tflite, x, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", args.runs),
                ),
                ("ONNX Runtime QDQ", onnx_runtime(source.float_model, data, work, args.runs)),
                ("TVM untuned", tvm(tflite, work, x, args.runs)),
                (
                    f"TVM tuned ({args.tune_trials} trials)",
                    tvm(tflite, work, x, args.runs, args.tune_trials),
                ),
                ("edgekit C (-O2)", edgekit_c(tflite, work, x, args.runs)),
            ]
            base = rows[0][1]
            for name, ms in rows:
                print(f"{label:<9} {name:<22} {ms:>10.2f} {ms / base:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
