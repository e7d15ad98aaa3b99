"""edgekit's C on the model zoo (tests/zoo.py), on the QEMU Cortex-M boards.

    .venv/bin/python bench/zoo.py [--inputs N] [--models A,B] [--targets cortex-m4,...]
    .venv/bin/python bench/zoo.py --audio [--inputs N] [--models A,B] [--targets ...]

``--audio`` runs the audio and 16-bit zoo (tests/zoo_audio.py) instead, each Keras model built
with ``--precision`` for each precision it is listed with, the SVDF model as it is, and the
built-in MobileNetV2 with ``--precision mixed``; the N inputs are one sequence, in order (a
recurrent model's state carries from one to the next).

For each zoo model and each of cortex-m4, cortex-m7 and cortex-m55: ``edgekit build --target T
--model FILE`` and no other option (the python API, into a temporary folder) and once more with
``--kernels ref``; then one table from each build's report.json: the model's operators, the
instructions per inference on each board (QEMU -icount: retired instructions, a proxy for
cycles, not a latency) with their ratio to the reference kernels' on the same board, arena and
flash bytes (one figure when every board gives the same, else the smallest and the largest), and
whether N inputs matched TFLite's reference kernels bit for bit on every board. A model that
does not build on a board says why, in one line, under its row.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import zoo  # noqa: E402  (tests/zoo.py)
import zoo_audio  # noqa: E402  (tests/zoo_audio.py)

TARGETS = ("cortex-m4", "cortex-m7", "cortex-m55")


def build(
    model: Path | None, target: str, kernels: str, inputs: int, out: Path, precision: str = "int8"
) -> dict:
    """The report.json of one build (of the built-in model for ``model`` None), or
    {"error": its one line} when it did not build."""
    from edgekit.config import BuildConfig, CompileOptions, ModelSpec
    from edgekit.errors import EdgekitError, first_line
    from edgekit.pipeline import build as edgekit_build

    config = BuildConfig(
        target=target,
        model=ModelSpec(path=None if model is None else str(model)),
        validate_inputs=inputs,
        precision=precision,
        compile=CompileOptions(kernels=kernels),
    )
    try:
        edgekit_build(config, out, quiet=True)
    except EdgekitError as exc:
        return {"error": first_line(exc)}
    except Exception as exc:  # a bench run reports every model's outcome, whatever it is
        return {"error": f"{type(exc).__name__}: {first_line(exc)}"}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    failed = [f for f in report.get("failures", []) if f["backend"] == "c"]
    if failed:
        return {"error": f"{failed[0]['stage']}: {failed[0]['reason']}"}
    return report


def c_row(report: dict, key: str) -> dict:
    return next(row for row in report[key] if row["backend"] == "c")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=5, help="inputs each build validates")
    parser.add_argument("--models", default=None, help="comma-separated zoo models")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated targets")
    parser.add_argument("--audio", action="store_true", help="the audio and 16-bit zoo")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else None
    targets = args.targets.split(",")
    short = {t: t.replace("cortex-", "").upper() for t in targets}
    head = f"{'model':<28} {'ops':>4} " + " ".join(
        f"{short[t] + ' instr (/ref)':>22}" for t in targets
    )
    head += f" {'arena B':>17} {'flash B':>19} {'bit-exact':>9} {'s':>6}"
    print(head, flush=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-zoo-") as tmp:
        work = Path(tmp)
        for label, make, precision in entries(args.audio, names):
            start = time.perf_counter()
            model = make(work / "models")
            lines = row(label, model, targets, args.inputs, work, precision)
            lines[0] += f" {time.perf_counter() - start:>6.0f}"
            print("\n".join(lines), flush=True)
    print(
        "ops: operators of the int8 model; instr: QEMU's retired instructions per inference "
        "(-icount), /ref: against --kernels ref on the same board; arena, flash: over the boards "
        "(min-max when they differ); bit-exact: every validated input on every board equal to "
        f"TFLite's reference kernels ({args.inputs} inputs each)"
    )


def entries(audio: bool, names: list[str] | None):
    """(row label, a function making the model file in a folder (None: the built-in model),
    precision) of each row."""
    if not audio:
        return [(n, lambda d, n=n: zoo.make(n, d), "int8") for n in names or zoo.ZOO]
    rows = []
    for name in names or [*zoo_audio.NAMES, "mobilenet_v2"]:
        if name == "mobilenet_v2":
            rows.append(("mobilenet_v2 mixed", lambda d: None, "mixed"))
            continue
        precisions = zoo_audio.KERAS_ZOO[name][1] if name in zoo_audio.KERAS_ZOO else ("int8",)
        for p in precisions:
            rows.append((f"{name} {p}", lambda d, n=name: zoo_audio.make(n, d), p))
    return rows


def row(
    name: str, model: Path | None, targets: list[str], inputs: int, work: Path, precision: str
) -> list[str]:
    """The table's row for ``model`` (built for each target, with auto and with ref kernels,
    in folders under ``work``), then one line per distinct error."""
    from edgekit.compiler.ir import read_tflite

    cells, arenas, flashes, exact, errors, ops = [], set(), set(), [], {}, "-"
    for target in targets:
        folder = work / f"{name.replace(' ', '-')}-{target}"
        auto = build(model, target, "auto", inputs, folder, precision)
        ref = build(model, target, "ref", 1, work / f"{folder.name}-ref", precision)
        if "error" in auto:
            errors[target] = auto["error"]
            cells.append("-")
            continue
        instructions = c_row(auto, "benchmark")["instructions"]
        ref_instructions = None if "error" in ref else c_row(ref, "benchmark")["instructions"]
        ratio = f"{instructions / ref_instructions:.3f}" if ref_instructions else "-"
        cells.append(f"{instructions:,} ({ratio})" if instructions is not None else "-")
        artifact = c_row(auto, "artifacts")
        arenas.add(artifact["arena_bytes"])
        flashes.add(artifact["flash_bytes"])
        exact.append(c_row(auto, "validation")["bit_exact"])
        ops = len(read_tflite((folder / "model_int8.tflite").read_bytes()).ops)
    line = (
        f"{name:<28} {ops:>4} "
        + " ".join(f"{cell:>22}" for cell in cells)
        + f" {_span(arenas):>17} {_span(flashes):>19} "
        + f"{(('yes' if all(exact) else 'NO') if exact else '-'):>9}"
    )
    return [line] + [f"    {error}" for error in _errors(errors)]


def _span(values: set) -> str:
    values = sorted(v for v in values if v is not None)
    if not values:
        return "-"
    return f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}-{values[-1]:,}"


def _errors(errors: dict[str, str]) -> list[str]:
    """One line per distinct error, naming the boards it happened on (in the error itself,
    each board's name reads TARGET, so that one error on three boards is one line)."""
    by_error: dict[str, list[str]] = {}
    for target, error in errors.items():
        by_error.setdefault(error.replace(target, "TARGET"), []).append(target)
    return [f"{', '.join(targets)}: {error}" for error, targets in by_error.items()]


if __name__ == "__main__":
    main()
