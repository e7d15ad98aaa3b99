"""The ``edgekit`` command. Handlers parse arguments and call the Python API; nothing else.

Exit codes: 0 success, 1 an artifact failed (each named on its own ``Error:`` line, after the
report was written) or the accuracy gate (``--max-drop``) failed, 2 a user error (printed as one
``Error:`` line, nothing written). TensorFlow and LiteRT are imported only by the commands that
need them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from edgekit.errors import EXIT_USAGE, EdgekitError

EXIT_GATE = 1


def _model_options(parser: argparse.ArgumentParser, builtin_only: bool = False) -> None:
    group = parser.add_argument_group("model")
    if not builtin_only:
        group.add_argument(
            "--model",
            metavar="PATH",
            help="your model instead of the built-in MobileNetV2: .keras, .h5, "
            "SavedModel folder, or int8 .tflite",
        )
    group.add_argument(
        "--alpha",
        type=float,
        help="MobileNetV2 width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4; default: the target's)",
    )
    group.add_argument(
        "--resolution", type=int, help="input size, 96..224 in steps of 32 (default: the target's)"
    )
    group.add_argument("--classes", type=int, help="classes (default: the data set's)")
    if builtin_only:
        return
    group.add_argument(
        "--weights",
        metavar="W",
        help="'digits' (shipped checkpoint, the default with digits data), "
        "'random', 'imagenet' (downloads), or a checkpoint .npz path",
    )


def _calibration_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calibration-samples",
        type=int,
        default=128,
        metavar="N",
        help="calibration images for int8 ranges (default 128)",
    )


def _validate_inputs_option(parser: argparse.ArgumentParser, runs_on: str) -> None:
    parser.add_argument(
        "--validate-inputs",
        type=int,
        default=20,
        metavar="N",
        help=f"evaluation inputs {runs_on} (default 20)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="target name (see 'edgekit targets')")
    parser.add_argument(
        "--data",
        default="digits",
        help="'digits' (built in), an ImageFolder directory or an .npz file",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _build_config(args: argparse.Namespace):
    from edgekit.config import ONNX_METHODS, BuildConfig, ModelSpec

    if getattr(args, "model", None) and any(
        getattr(args, k) is not None for k in ("alpha", "resolution", "classes", "weights")
    ):
        raise EdgekitError(
            "--model cannot be combined with --alpha/--resolution/--classes/"
            "--weights, which describe the built-in model"
        )
    return BuildConfig(
        target=args.target,
        model=ModelSpec(
            path=args.model,
            alpha=args.alpha,
            resolution=args.resolution,
            classes=args.classes,
            weights=args.weights,
        ),
        data=args.data,
        calibration_samples=args.calibration_samples,
        max_drop=getattr(args, "max_drop", None),
        validate_inputs=getattr(args, "validate_inputs", 20),
        force=getattr(args, "force", False),
        tune_trials=getattr(args, "tune_trials", 0),
        optimise=getattr(args, "optimise", None),
        kernels=getattr(args, "kernels", "auto"),
        patches=getattr(args, "patches", "auto"),
        patch_cut=getattr(args, "patch_cut", None),
        patch_overhead=_percent(getattr(args, "patch_overhead", "20%"), "--patch-overhead"),
        onnx_calibration=tuple(
            m.strip() for m in getattr(args, "onnx_calibration", ",".join(ONNX_METHODS)).split(",")
        ),
    )


def _percent(text: str, option: str) -> float:
    """'20%' or '20' as 0.2."""
    try:
        return float(text.strip().removesuffix("%")) / 100
    except ValueError:
        raise EdgekitError(f"{option} takes a percentage such as 20%; got '{text}'") from None


def _default_out(args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out else Path("build") / args.target


def cmd_targets(args: argparse.Namespace) -> int:
    from edgekit.platforms.targets import format_targets, list_targets

    print(format_targets(list_targets()))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from edgekit.pipeline import build

    load_target_or_fail(args.target)
    out = _default_out(args)
    report = build(_build_config(args), out, quiet=args.quiet)
    return _finish(report, out)


def cmd_quantize(args: argparse.Namespace) -> int:
    from edgekit.pipeline import quantize_only

    load_target_or_fail(args.target)
    out = _default_out(args)
    quantize_only(_build_config(args), out, quiet=args.quiet)
    print(f"wrote {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from edgekit.pipeline import report_only

    report = report_only(Path(args.folder), args.max_drop, quiet=args.quiet)
    return _finish(report, Path(args.folder))


def cmd_validate(args: argparse.Namespace) -> int:
    from edgekit.pipeline import validate_folder

    report = validate_folder(Path(args.folder), args.inputs, args.layers, quiet=args.quiet)
    return _finish(report, Path(args.folder))


def cmd_deploy(args: argparse.Namespace) -> int:
    from edgekit.platforms.deploy import Remote, deploy

    load_target_or_fail(args.target)
    if args.inputs is not None and args.inputs < 1:
        raise EdgekitError(f"--inputs must be at least 1, got {args.inputs}")
    folder = Path(args.folder) if args.folder else Path("build") / args.target
    remote = Remote(args.host, args.port, args.identity, tuple(args.ssh_option))
    report = deploy(
        folder,
        args.target,
        remote,
        python=args.python,
        remote_dir=args.remote_dir,
        inputs=args.inputs,
        quiet=args.quiet,
    )
    section = report["deploy"]
    failed = 0
    for row in section["results"]:
        if row["status"] != "ok":
            failed += 1
            print(f"{row['backend']} on {section['host']}: failed, {row['error']}")
            continue
        print(
            f"{row['backend']} on {section['host']}: {row['inputs']} inputs, bit-exact "
            f"{row['bit_exact']}, max abs diff {row['max_abs_diff']}, top-1 agreement "
            f"{row['top1_agreement']:.3f}, median {row['latency_ms']} ms"
        )
    if section["fastest"]:
        print(f"fastest on {section['machine']}: {section['fastest']}")
    print(f"{folder / 'report.html'}: deploy results added")
    if failed:
        print(
            f"Error: {failed} of {len(section['results'])} artifacts did not run on "
            f"{section['host']} (see above)",
            file=sys.stderr,
        )
        return EXIT_GATE
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    from edgekit.platforms.flash import describe, flash, plan

    folder = Path(args.folder)
    if args.dry_run:
        print(describe(plan(folder, args.emulate, args.pyocd_target, args.force)))
        return 0
    record = flash(
        folder,
        emulate=args.emulate,
        validate=args.validate,
        force=args.force,
        probe=args.probe,
        pyocd_target=args.pyocd_target,
        inputs=args.inputs,
        quiet=args.quiet,
    )
    if not record["results"]:  # programmed only
        print(
            f"{record['image']}: {record['programmed_bytes']:,} bytes programmed and verified on "
            f"{record['machine']} via {record['host']}; the board was reset and runs it "
            "(--validate runs the validation inputs there)"
        )
        return 0
    row = record["results"][0]
    if row["cycles"] is not None:
        speed = f", median {row['cycles']:,.0f} cycles"
        if row["latency_ms"] is not None:
            speed += f" = {row['latency_ms']:.2f} ms at {record['clock_hz'] / 1e6:g} MHz"
    else:
        speed = f", {row['instructions']:,} instructions" if row["instructions"] else ""
    print(
        f"c on {record['machine']} via {record['host']}: {row['inputs']} inputs, bit-exact "
        f"{row['bit_exact']}, max abs diff {row['max_abs_diff']}, top-1 agreement "
        f"{row['top1_agreement']:.3f}{speed}"
    )
    if args.validate:
        print(f"{folder / 'report.html'}: board results added (On the board)")
    if not row["bit_exact"]:
        print("Error: the board's outputs differ from TFLite's reference kernels", file=sys.stderr)
        return EXIT_GATE
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from edgekit.frontend.train import TrainRun, run_training

    load_target_or_fail(args.target)
    command = "edgekit " + shlex.join(args.argv)
    run = TrainRun(
        target=args.target,
        data=args.data,
        alpha=args.alpha,
        resolution=args.resolution,
        classes=args.classes,
        init=args.init,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    path = run_training(run, Path(args.out) if args.out else None, command, quiet=args.quiet)
    print(f"wrote {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from edgekit.sweep import EngineSpec, SweepSpec, run_sweep
    from edgekit.sweep.report import headline

    engine = EngineSpec(args.engine, args.jobs, args.address)
    spec = SweepSpec(
        target=args.target,
        alphas=_values(args.alpha, float, "--alpha"),
        resolutions=_values(args.resolution, int, "--resolution"),
        data=args.data,
        epochs=args.epochs,
        validate_inputs=args.validate_inputs,
        calibration_samples=args.calibration_samples,
        checkpoints=args.checkpoints,
    )
    out = Path(args.out) if args.out else Path("build") / f"sweep-{args.target}"
    report = run_sweep(spec, engine, out, quiet=args.quiet)
    print(f"{out / 'sweep.html'}: {headline(report)}")
    failed = [r for r in report["points"] if r["status"] != "ok"]
    for row in failed:
        print(f"Error: point {row['name']} failed: {row['reason']}", file=sys.stderr)
    return EXIT_GATE if failed else 0


def _values(text: str, kind: type, option: str) -> tuple:
    """A comma-separated list of numbers, such as '0.35,0.5'."""
    try:
        return tuple(kind(v) for v in text.split(","))
    except ValueError:
        example = "0.35,0.5,0.75" if kind is float else "96,128,160"
        raise EdgekitError(
            f"{option} takes comma-separated numbers such as {example}; got '{text}'"
        ) from None


def load_target_or_fail(name: str) -> None:
    from edgekit.platforms.targets import load_target

    load_target(name)


def _finish(report: dict, out: Path) -> int:
    """The build's outcome in a few lines; exit 1 when an artifact failed or the gate did.
    Failures come last, one line each, so they are what a user sees at the bottom."""
    from edgekit.pipeline import summary

    print(f"{out / 'report.html'}: {summary(report['accuracy'])}")
    for row in report["validation"]:
        print(
            f"{row['backend']} on {row['runner']}: {row['inputs']} inputs, bit-exact "
            f"{row['bit_exact']}, max abs diff {row['max_abs_diff']}, top-1 agreement "
            f"{row['top1_agreement']:.3f}"
        )
    failures = report.get("failures", [])
    for f in failures:
        print(
            f"Error: backend {f['backend']} failed ({f['stage']}): {f['reason']}", file=sys.stderr
        )
    gate = report["gate"]
    if gate["passed"] is False:
        print(
            f"Error: int8 top-1 is {report['accuracy']['top1_drop_points']:.2f} points below "
            f"float, more than --max-drop {gate['max_drop']:g}",
            file=sys.stderr,
        )
    return EXIT_GATE if failures or gate["passed"] is False else 0


def parser() -> argparse.ArgumentParser:
    from edgekit import __version__

    top = argparse.ArgumentParser(
        prog="edgekit",
        description="Float MobileNetV2 to int8 artifacts for Cortex-A, Cortex-M "
        "and Ethos-U, measured against the float reference.",
    )
    top.add_argument("--version", action="version", version=f"edgekit {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("targets", help="list the targets")
    p.set_defaults(run=cmd_targets)

    for name, run, text in (
        (
            "build",
            cmd_build,
            "every stage: model, quantize, evaluate, each backend compiled and validated, report",
        ),
        ("quantize", cmd_quantize, "float model to int8 .tflite"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _common(p)
        _model_options(p)
        _calibration_option(p)
        p.add_argument(
            "--out",
            metavar="DIR",
            help="output folder (default build/TARGET); "
            "replaced as a whole when the stage succeeds",
        )
        if name == "build":
            _validate_inputs_option(p, "each artifact runs on")
            p.add_argument(
                "--tune-trials",
                type=int,
                default=0,
                metavar="N",
                help="tune the tvm backend with N TVM MetaSchedule candidates timed on this "
                "machine (host target only; default 0: no tuning)",
            )
            p.add_argument(
                "--onnx-calibration",
                default="minmax,entropy,percentile",
                metavar="M[,M...]",
                help="ONNX Runtime calibration methods, one int8 model each: minmax, entropy, "
                "percentile (default all three; the onnx bundle runs the first of these made)",
            )
            p.add_argument(
                "--force",
                action="store_true",
                help="build firmware even when it exceeds the board's RAM or flash",
            )
            p.add_argument(
                "--optimise",
                choices=("Size", "Performance"),
                help="vela backend (Ethos-U targets): what Vela optimises for "
                "(default: the target file's)",
            )
            p.add_argument(
                "--kernels",
                choices=("auto", "ref"),
                default="auto",
                help="c backend kernels: auto, the fastest variant per layer for the target's "
                "features (default), or ref, the reference ones (to bisect a difference)",
            )
            p.add_argument(
                "--patches",
                default="auto",
                metavar="off|auto|RxC",
                help="c backend: run the first layers patch by patch to shrink the arena; auto "
                "(default) picks the cut and grid with the smallest arena within "
                "--patch-overhead on microcontroller targets (off elsewhere), RxC a grid of R x C "
                "tiles on any target, off layer by layer",
            )
            p.add_argument(
                "--patch-cut",
                metavar="LAYER",
                help="the layer the patches end at (a layer name, part of one, or an op index; "
                "default: chosen with the grid)",
            )
            p.add_argument(
                "--patch-overhead",
                default="20%",
                metavar="P%",
                help="the most extra work, estimated, that --patches auto may spend (default 20%%)",
            )
            p.add_argument(
                "--max-drop",
                type=float,
                metavar="P",
                help="exit 1 if int8 top-1 is more than P points below float",
            )
        p.set_defaults(run=run)

    p = sub.add_parser("report", help="accuracy report of a 'quantize' output folder")
    p.add_argument("folder", help="folder written by 'edgekit quantize'")
    p.add_argument(
        "--max-drop",
        type=float,
        metavar="P",
        help="exit 1 if int8 top-1 is more than P points below float",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=cmd_report)

    p = sub.add_parser("validate", help="run a build's artifacts again against the reference")
    p.add_argument("folder", help="folder written by 'edgekit build'")
    p.add_argument(
        "--inputs", type=int, default=20, metavar="N", help="evaluation inputs to run (default 20)"
    )
    p.add_argument(
        "--layers",
        action="store_true",
        help="also compare every intermediate tensor of the first input",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser(
        "deploy",
        help="copy a Linux build's bundle to a board over SSH, run it there, report",
        description="Copy the bundle of 'edgekit build' to a board over SSH, run every "
        "artifact there on the evaluation inputs, and add the board's results (bit-exactness "
        "against TFLite's reference kernels, top-1 agreement, latency) to the build's report.",
    )
    p.add_argument(
        "folder", nargs="?", help="folder written by 'edgekit build' (default build/TARGET)"
    )
    p.add_argument("--target", required=True, help="the target the folder was built for")
    p.add_argument("--host", required=True, metavar="USER@BOARD", help="the board, as for ssh")
    p.add_argument("--port", type=int, help="SSH port (default: ssh's)")
    p.add_argument("--identity", metavar="KEY", help="SSH private key (default: ssh's)")
    p.add_argument(
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPT",
        help="extra 'ssh -o' option, e.g. UserKnownHostsFile=PATH (repeatable)",
    )
    p.add_argument(
        "--python",
        default="python3",
        help="the board's Python for the runner scripts (default python3)",
    )
    p.add_argument(
        "--remote-dir",
        metavar="DIR",
        help="where the bundle goes on the board, relative to the home folder "
        "(default edgekit-TARGET); replaced as a whole",
    )
    p.add_argument(
        "--inputs", type=int, metavar="N", help="evaluation inputs to run (default: the build's)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=cmd_deploy)

    p = sub.add_parser(
        "flash",
        help="put a Cortex-M build's firmware on a board (pyOCD) or its QEMU board, run it there",
        description="Program the firmware of 'edgekit build' through a debug probe (pyOCD), "
        "run the evaluation inputs on the board with semihosting and, with --validate, add the "
        "board's results (bit-exactness, cycles) to the build's report. --emulate runs the same "
        "loop on the target's QEMU board.",
    )
    p.add_argument("folder", help="folder written by 'edgekit build' for a Cortex-M target")
    p.add_argument("--probe", metavar="UID", help="debug probe unique ID (default: the only one)")
    p.add_argument(
        "--pyocd-target", metavar="TYPE", help="pyOCD target type (default: the target file's)"
    )
    p.add_argument("--emulate", action="store_true", help="the target's QEMU board, no hardware")
    p.add_argument(
        "--validate",
        action="store_true",
        help="run the build's validation inputs and merge the results into its report",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be flashed where and check it fits; touch no hardware",
    )
    p.add_argument(
        "--force", action="store_true", help="flash a firmware that failed validation in QEMU"
    )
    p.add_argument(
        "--inputs", type=int, metavar="N", help="evaluation inputs to run (default: the build's)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=cmd_flash)

    p = sub.add_parser(
        "sweep",
        help="build a grid of MobileNetV2 widths and resolutions for a board; name the best "
        "that fits",
        description="Build every alpha x resolution point for a microcontroller target (weights "
        "fine-tuned from the nearest checkpoint, int8, C firmware validated in QEMU), each into "
        "DIR/points/<point>/, and report accuracy, instructions, arena, flash and RAM per point, "
        "the Pareto fronts and the best point that fits the board. Points already built with "
        "the same configuration are kept.",
    )
    _common(p)
    p.add_argument("--alpha", required=True, metavar="A[,A...]", help="widths, e.g. 0.35,0.5,0.75")
    p.add_argument(
        "--resolution", required=True, metavar="R[,R...]", help="input sizes, e.g. 96,128,160"
    )
    p.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="training epochs per point (default 3 from a checkpoint of the same width, 15 from "
        "scratch); a point with a checkpoint of its own uses it as is",
    )
    p.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="folder of 'edgekit train' checkpoints to start from (default: the shipped ones)",
    )
    _validate_inputs_option(p, "each point's firmware runs on in QEMU")
    _calibration_option(p)
    p.add_argument(
        "--engine",
        default="local",
        help="local: a process pool on this machine (default); ray: Ray tasks on a cluster",
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="points at once (default for local: cores / 2 threads per build; for ray: as many "
        "as the cluster's CPUs allow)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="Ray cluster to run on, as 'ray start --head' prints it (default: a local Ray "
        "started for the run)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="output folder (default build/sweep-TARGET); kept between runs"
    )
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("train", help="train or fine-tune the built-in MobileNetV2 on a data set")
    _common(p)
    _model_options(p, builtin_only=True)
    p.add_argument(
        "--init",
        metavar="W",
        help="start from these weights: a checkpoint .npz "
        "(any resolution of the same alpha and classes) or 'imagenet'",
    )
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        metavar="PATH",
        help="checkpoint .npz to write (a .json manifest "
        "goes beside it; default ./<model>_<data>.npz)",
    )
    p.set_defaults(run=cmd_train)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.argv = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.run(args)
    except EdgekitError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
