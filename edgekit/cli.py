"""The ``edgekit`` command. Handlers parse arguments and call the Python API; nothing else.

Exit codes: 0 success, 1 an artifact failed (each named on its own ``Error:`` line, after the
report was written) or the accuracy gate (``--max-drop``) failed, 2 a user error or a file the
user named that cannot be read or written (one ``Error:`` line, nothing written), 3 a bug in
edgekit (one line naming the log that holds its traceback), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM); after an interruption nothing half-written is left. The arguments are
made from the option dataclasses of ``edgekit.config`` and the command modules. TensorFlow and
LiteRT are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path

from edgekit.config import BuildConfig, ValidateOptions, as_text, flag
from edgekit.errors import EXIT_USAGE, EdgekitError, Terminated, first_line

EXIT_GATE = 1
EXIT_BUG = 3  # an error inside edgekit itself: a bug, its traceback written to a log file
# what 'edgekit quantize' leaves out of a build's options (it compiles and validates nothing)
QUANTIZE_SKIPS = ("max_drop", "validate_inputs", "onnx_calibration", "compile")
# what a sweep decides per point itself (the model) or does not do
SWEEP_SKIPS = ("model", "max_drop", "precision", "onnx_calibration", "compile")


# ---------------------------------------------------------------- options from dataclasses


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    only: tuple[str, ...] | None = None,
    skip: tuple[str, ...] = (),
    group=None,
) -> None:
    """One argument per option field of ``cls`` (and of the options classes it nests), made
    from the field: its flag, help, default, allowed values and parser (``edgekit.config``).
    ``only`` and ``skip`` pick fields by name. Unset arguments are absent from the namespace,
    so the dataclass's own default applies."""
    target = group or parser
    for f in dataclasses.fields(cls):
        picked = only is None or f.name in only or "nested" in f.metadata
        if f.name in skip or not picked:
            continue
        if "nested" in f.metadata:
            inner = f.metadata["nested"]
            title = getattr(inner, "GROUP", None)
            add_options(
                parser,
                inner,
                only=only,
                skip=skip,
                group=parser.add_argument_group(title) if title else group,
            )
            continue
        if "option" not in f.metadata:
            continue
        how = f.metadata["option"]
        kind = str(f.type)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        kwargs: dict = {"dest": f.name, "help": _help(how, f, required)}
        if kind == "bool":
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = (
                _naming(flag(f), how.parse)
                if how.parse
                else (int if kind.startswith("int") else float if kind.startswith("float") else str)
            )
            # the allowed values are checked by the dataclass, in edgekit's one-line form
            choices = "{" + ",".join(map(str, how.choices)) + "}" if how.choices else None
            kwargs["metavar"] = how.metavar or choices
            if how.repeat:
                kwargs["action"] = "append"
        if required:
            kwargs["required"] = True
        else:
            kwargs["default"] = argparse.SUPPRESS
        target.add_argument(flag(f), **kwargs)


def _naming(name: str, parse):
    """``parse``, its error completed with the option's name ("--patch-overhead takes ...")."""

    def run(text: str):
        try:
            return parse(text)
        except EdgekitError as exc:
            raise EdgekitError(f"{name} {exc}") from None

    return run


def _help(how, f: dataclasses.Field, required: bool) -> str:
    text = how.help
    if not required and "default" not in text and f.default not in (None, False, ()):
        text += f" (default {as_text(f, f.default)})"
    return text.replace("%", "%%")


def options_from(cls: type, args: argparse.Namespace):
    """The ``cls`` that the parsed arguments describe (nested options classes too); every
    check runs as the object is made."""
    values = {}
    for f in dataclasses.fields(cls):
        if "nested" in f.metadata:
            values[f.name] = options_from(f.metadata["nested"], args)
        elif "option" in f.metadata and hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if f.metadata["option"].repeat else value
    return cls(**values)


def _out_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--out", metavar="DIR", help=text)


def _quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _default_out(args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out else Path("build") / args.target


def cmd_targets(args: argparse.Namespace) -> int:
    from edgekit.platforms.targets import format_targets, list_targets

    print(format_targets(list_targets()))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from edgekit.pipeline import build

    config = options_from(BuildConfig, args)
    out = _default_out(args)
    return _finish(build(config, out, quiet=args.quiet), out)


def cmd_quantize(args: argparse.Namespace) -> int:
    from edgekit.pipeline import quantize_only

    config = options_from(BuildConfig, args)
    out = _default_out(args)
    quantize_only(config, out, quiet=args.quiet)
    print(f"wrote {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from edgekit.pipeline import report_only

    report = report_only(Path(args.folder), getattr(args, "max_drop", None), quiet=args.quiet)
    return _finish(report, Path(args.folder))


def cmd_validate(args: argparse.Namespace) -> int:
    from edgekit.pipeline import validate_folder

    options = options_from(ValidateOptions, args)
    report = validate_folder(Path(args.folder), options, quiet=args.quiet)
    return _finish(report, Path(args.folder))


def cmd_deploy(args: argparse.Namespace) -> int:
    from edgekit.ondevice.deploy import DeployOptions, Remote, deploy

    options = options_from(DeployOptions, args)
    load_target(options.target)
    folder = Path(args.folder) if args.folder else Path("build") / options.target
    report = deploy(folder, options_from(Remote, args), options, quiet=args.quiet)
    section = report["deploy"]
    failed = 0
    for row in section["results"]:
        if row["status"] != "ok":
            failed += 1
            print(f"{row['backend']} on {section['host']}: failed, {row['error']}")
            continue
        print(
            f"{row['backend']} on {section['host']}: {checked(row)}, median {row['latency_ms']} ms"
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
    from edgekit.ondevice.flash import FlashOptions, describe, flash, plan

    folder = Path(args.folder)
    options = options_from(FlashOptions, args)
    if args.dry_run:
        print(describe(plan(folder, options)))
        return 0
    record = flash(folder, options, quiet=args.quiet)
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
    print(f"c on {record['machine']} via {record['host']}: {checked(row)}{speed}")
    if options.validate:
        print(f"{folder / 'report.html'}: board results added (On the board)")
    if not row["bit_exact"]:
        print("Error: the board's outputs differ from TFLite's reference kernels", file=sys.stderr)
        return EXIT_GATE
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from edgekit.frontend.train import TrainRun, run_training

    run = options_from(TrainRun, args)
    target = load_target(run.target)
    model = dataclasses.replace(
        run.model,
        alpha=run.model.alpha or target.alpha,
        resolution=run.model.resolution or target.resolution,
    )
    command = "edgekit " + shlex.join(args.argv)
    out = Path(args.out) if args.out else None
    run = dataclasses.replace(run, model=model)
    path = run_training(run, out, command=command, quiet=args.quiet)
    print(f"wrote {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from edgekit.sweep import EngineSpec, SweepSpec, run_sweep
    from edgekit.sweep.report import headline

    spec = options_from(SweepSpec, args)
    engine = options_from(EngineSpec, args)
    out = Path(args.out) if args.out else Path("build") / f"sweep-{spec.build.target}"
    report = run_sweep(spec, engine, out, quiet=args.quiet)
    print(f"{out / 'sweep.html'}: {headline(report)}")
    failed = [r for r in report["points"] if r["status"] != "ok"]
    for row in failed:
        print(f"Error: point {row['name']} failed: {row['reason']}", file=sys.stderr)
    return EXIT_GATE if failed else 0


def load_target(name: str):
    from edgekit.platforms.targets import load_target

    return load_target(name)


def checked(row: dict) -> str:
    """What a validation row found, in a line: bit-exactness, the largest difference and, for
    a classifier, the top-1 agreement with the reference."""
    line = (
        f"{row['inputs']} inputs, bit-exact {row['bit_exact']}, max abs diff {row['max_abs_diff']}"
    )
    if row.get("top1_agreement") is not None:
        line += f", top-1 agreement {row['top1_agreement']:.3f}"
    return line


def _finish(report: dict, out: Path) -> int:
    """The build's outcome in a few lines; exit 1 when an artifact failed or the gate did.
    Failures come last, one line each, so they are what a user sees at the bottom."""
    from edgekit.pipeline import summary

    precision = report["model"]["precision"]["computes"]
    print(f"{out / 'report.html'}: {summary(report['accuracy'], precision)}")
    for row in report["validation"]:
        print(f"{row['backend']} on {row['runner']}: {checked(row)}")
    failures = report.get("failures", [])
    for f in failures:
        print(
            f"Error: backend {f['backend']} failed ({f['stage']}): {f['reason']}", file=sys.stderr
        )
    gate = report["gate"]
    if gate["passed"] is False:
        print(
            f"Error: {report['model']['precision']['computes']} top-1 is "
            f"{report['accuracy']['top1_drop_points']:.2f} points below "
            f"float, more than --max-drop {gate['max_drop']:g}",
            file=sys.stderr,
        )
    return EXIT_GATE if failures or gate["passed"] is False else 0


def parser() -> argparse.ArgumentParser:
    from edgekit import __version__
    from edgekit.frontend.train import TrainRun
    from edgekit.ondevice.deploy import DeployOptions, Remote
    from edgekit.ondevice.flash import FlashOptions
    from edgekit.sweep.spec import EngineSpec, SweepSpec

    top = argparse.ArgumentParser(
        prog="edgekit",
        description="Float MobileNetV2 to int8 artifacts for Cortex-A, Cortex-M "
        "and Ethos-U, measured against the float reference.",
    )
    top.add_argument("--version", action="version", version=f"edgekit {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, text: str, description: str | None = None):
        p = sub.add_parser(name, help=text, description=description or text)
        p.set_defaults(run=run)
        return p

    command("targets", cmd_targets, "list the targets")

    p = command(
        "build",
        cmd_build,
        "every stage: model, quantize, evaluate, each backend compiled and validated, report",
    )
    add_options(p, BuildConfig)
    _out_option(p, "output folder (default build/TARGET); replaced as a whole when it succeeds")
    _quiet_option(p)

    p = command("quantize", cmd_quantize, "float model to int8 .tflite")
    add_options(p, BuildConfig, skip=QUANTIZE_SKIPS)
    _out_option(p, "output folder (default build/TARGET); replaced as a whole when it succeeds")
    _quiet_option(p)

    p = command("report", cmd_report, "accuracy report of a 'quantize' output folder")
    p.add_argument("folder", help="folder written by 'edgekit quantize'")
    add_options(p, BuildConfig, only=("max_drop",), skip=("model", "compile"))
    _quiet_option(p)

    p = command("validate", cmd_validate, "run a build's artifacts again against the reference")
    p.add_argument("folder", help="folder written by 'edgekit build'")
    add_options(p, ValidateOptions)
    _quiet_option(p)

    p = command(
        "deploy",
        cmd_deploy,
        "copy a Linux build's bundle to a board over SSH, run it there, report",
        "Copy the bundle of 'edgekit build' to a board over SSH, run every artifact there on "
        "the evaluation inputs, and add the board's results (bit-exactness against TFLite's "
        "reference kernels, top-1 agreement, latency) to the build's report.",
    )
    p.add_argument(
        "folder", nargs="?", help="folder written by 'edgekit build' (default build/TARGET)"
    )
    add_options(p, DeployOptions)
    add_options(p, Remote)
    _quiet_option(p)

    p = command(
        "flash",
        cmd_flash,
        "put a Cortex-M build's firmware on a board (pyOCD) or its QEMU board, run it there",
        "Program the firmware of 'edgekit build' through a debug probe (pyOCD), run the "
        "evaluation inputs on the board with semihosting and, with --validate, add the board's "
        "results (bit-exactness, cycles) to the build's report. --emulate runs the same loop on "
        "the target's QEMU board.",
    )
    p.add_argument("folder", help="folder written by 'edgekit build' for a Cortex-M target")
    add_options(p, FlashOptions)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be flashed where and check it fits; touch no hardware",
    )
    _quiet_option(p)

    p = command(
        "sweep",
        cmd_sweep,
        "build a grid of MobileNetV2 widths and resolutions for a board; name the best that fits",
        "Build every alpha x resolution point for a microcontroller target (weights fine-tuned "
        "from the nearest checkpoint, int8, C firmware validated in QEMU), each into "
        "DIR/points/<point>/, and report accuracy, instructions, arena, flash and RAM per point, "
        "the Pareto fronts and the best point that fits the board. Points already built with "
        "the same configuration are kept.",
    )
    add_options(p, SweepSpec, skip=SWEEP_SKIPS)
    add_options(p, EngineSpec)
    _out_option(p, "output folder (default build/sweep-TARGET); kept between runs")
    _quiet_option(p)

    p = command("train", cmd_train, "train or fine-tune the built-in MobileNetV2 on a data set")
    add_options(p, TrainRun, skip=("path", "weights"))
    p.add_argument(
        "--out",
        metavar="PATH",
        help="checkpoint .npz to write (a .json manifest goes beside it; default "
        "./<model>_<data>.npz)",
    )
    _quiet_option(p)
    return top


def main(argv: list[str] | None = None) -> int:
    """The command line: one ``Error:`` line and a fixed exit code for whatever goes wrong."""
    from edgekit.buildfolder import unwind_on_sigterm

    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    unwind_on_sigterm()
    try:
        args = parser().parse_args(argv)
        args.argv = argv
        return args.run(args)
    except EdgekitError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a bad --out, unreadable data, a full disk: the user can act on it
        what = f"cannot use '{exc.filename}': " if exc.filename else ""
        print(f"Error: {what}{exc.strerror or first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("Error: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except Exception as exc:
        log = _write_traceback(exc)
        print(
            f"Error: internal error in edgekit ({type(exc).__name__}: {first_line(exc)}); this "
            f"is a bug, please report it with the traceback in {log}",
            file=sys.stderr,
        )
        return EXIT_BUG


def _write_traceback(exc: BaseException) -> Path:
    """The traceback of an internal error in edgekit's cache folder (``$XDG_CACHE_HOME``)."""
    import time
    import traceback

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit" / "logs"
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    with open(path, "w") as file:
        file.write(f"edgekit {' '.join(sys.argv[1:])}\n")
        traceback.print_exception(exc, file=file)
    return path


if __name__ == "__main__":
    sys.exit(main())
