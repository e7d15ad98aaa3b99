"""A build's configuration: what ``edgekit build`` was asked to do, checked once, up front.

Every option has one home: a field of one of these frozen dataclasses, whose metadata
(``option(...)``) holds its help text, allowed values, how the command line spells it and how
it is checked. The CLI makes its arguments from these fields (``edgekit.cli``), ``edgekit sweep``
builds the same objects, and ``build.json`` stores them. Adding a build option is adding a field.

A build is a pure function of its ``BuildConfig``; the config is saved in the build folder
(``build.json``) so that ``edgekit report``, ``validate`` and ``deploy`` can pick up from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import EdgekitError

# ONNX Runtime's static calibration methods (edgekit.quantization.onnx_ptq.METHODS, kept here so
# that checking a configuration imports no ONNX code)
ONNX_METHODS = ("minmax", "entropy", "percentile")
# --precision: the activation types of the quantized model (edgekit.quantization)
PRECISIONS = ("int8", "int16x8", "mixed")
# Vela's --optimise (the vela backend; a target file's [npu] optimise)
VELA_OPTIMISE = ("Performance", "Size")


@dataclass(frozen=True)
class Option:
    """How one dataclass field is set from the command line and checked.

    ``check`` returns what is wrong with a value (completing "--flag ...") or None; ``parse``
    turns the command line's text into the value (default: the field's type) and ``show`` a
    value back into that text (for the help's default and ``command_line``)."""

    help: str
    metavar: str | None = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None
    parse: Callable[[str], Any] | None = None
    flag: str | None = None  # default: --field-name
    show: Callable[[Any], str] | None = None
    repeat: bool = False  # given once per value (``--ssh-option A --ssh-option B``)


def option(default: Any = dataclasses.MISSING, help: str = "", **how: Any) -> Any:
    """A dataclass field that is also a command-line option (see ``Option``)."""
    return field(default=default, metadata={"option": Option(help, **how)})


def nested(cls: type, required: bool = False) -> Any:
    """A field holding another options class, whose options the command line shares."""
    if required:
        return field(metadata={"nested": cls})
    return field(default_factory=cls, metadata={"nested": cls})


def flag(f: dataclasses.Field) -> str:
    """The command-line spelling of an option field."""
    return f.metadata["option"].flag or "--" + f.name.replace("_", "-")


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of an options class that are command-line options, in order."""
    return [f for f in dataclasses.fields(cls) if "option" in f.metadata]


class Checked:
    """Base of the options classes: each field's ``choices`` and ``check`` run on creation, so a
    configuration that exists is a valid one, however it was made (CLI, sweep, build.json)."""

    def __post_init__(self) -> None:
        for f in option_fields(type(self)):
            how: Option = f.metadata["option"]
            value = getattr(self, f.name)
            if value is None:
                continue
            if how.choices is not None and value not in how.choices:
                problem = f"takes {' or '.join(map(str, how.choices))}, got '{value}'"
            else:
                problem = how.check(value) if how.check else None
            if problem:
                raise EdgekitError(f"{flag(f)} {problem}")

    @classmethod
    def from_dict(cls, values: dict) -> Any:
        """The options a ``dataclasses.asdict`` of them (``build.json``) describes."""
        kinds = {f.name: f.metadata.get("nested") for f in dataclasses.fields(cls)}
        return cls(
            **{
                name: kinds[name].from_dict(value) if kinds.get(name) else value
                for name, value in values.items()
            }
        )


def command_line(command: str, options: Any) -> str:
    """The ``edgekit`` command line that makes ``options`` (the options that differ from
    their defaults, nested ones included), e.g. for a manifest to record how it was made."""
    import shlex

    def words(obj: Any) -> list[str]:
        out = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if "nested" in f.metadata:
                out += words(value)
            elif "option" in f.metadata and value != f.default and value is not None:
                if value is True:
                    out.append(flag(f))
                elif f.metadata["option"].repeat:
                    out += [word for v in value for word in (flag(f), str(v))]
                elif value is not False:
                    out += [flag(f), as_text(f, value)]
        return out

    return "edgekit " + shlex.join([command, *words(options)])


def as_text(f: dataclasses.Field, value: Any) -> str:
    """An option's value as the command line spells it."""
    how: Option = f.metadata["option"]
    if how.show is not None:
        return how.show(value)
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------- checks and parsers


def at_least(low: int) -> Callable[[Any], str | None]:
    return lambda v: f"must be at least {low}, got {v}" if v < low else None


def percent(text: str) -> float:
    """'20%' or '20' as 0.2."""
    try:
        return float(text.strip().removesuffix("%")) / 100
    except ValueError:
        raise EdgekitError(f"takes a percentage such as 20%; got '{text}'") from None


def methods(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(","))


def _check_methods(chosen: tuple[str, ...]) -> str | None:
    if chosen and all(m in ONNX_METHODS for m in chosen):
        return None
    return f"takes a comma-separated list of {', '.join(ONNX_METHODS)}; got '{','.join(chosen)}'"


# --patches: how the c backend chooses patch-based execution (edgekit.compiler.patches)
PATCH_MODES = ("auto", "smallest", "off")


def patch_grid(mode: str) -> tuple[int, int] | None:
    """(rows, columns) of ``--patches RxC``; None for auto, smallest or off. Anything else is
    an error."""
    if mode in PATCH_MODES:
        return None
    match = re.fullmatch(r"(\d+)x(\d+)", mode)
    if not match or int(match[1]) * int(match[2]) < 2:
        raise EdgekitError(
            f"--patches takes auto, smallest, off or a grid RxC of at least two tiles, such as "
            f"3x3; got '{mode}'"
        )
    return int(match[1]), int(match[2])


def _check_grid(mode: str) -> None:
    patch_grid(mode)  # raises with the whole message, which names the option


# ---------------------------------------------------------------- the options


_C_KEYWORDS = (
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while"
)
C_KEYWORDS = frozenset(_C_KEYWORDS.split())


def c_prefix(name: str) -> str | None:
    """Why ``name`` cannot prefix generated C identifiers; None when it can."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name.endswith("_"):
        return f"must be a lower-case C identifier such as 'kws', got '{name}'"
    if name in C_KEYWORDS or name.startswith("ek"):
        return f"must not be a C keyword or start with 'ek' (the kernels' own), got '{name}'"
    return None


def target_option(text: str = "target name (see 'edgekit targets')") -> Any:
    return option(help=text)


def data_option(default: str | None = "digits") -> Any:
    if default is None:
        return option(
            None,
            "'digits' (built in), an ImageFolder directory, or an .npz of images or of arrays "
            "of the model's input shapes (default: digits for the built-in model, seeded "
            "generated inputs for your own)",
        )
    return option(default, "'digits' (built in), an ImageFolder directory or an .npz file")


def inputs_option() -> Any:
    """Evaluation inputs a command that runs a finished build runs (validate, deploy, flash)."""
    return option(
        None, "evaluation inputs to run (default: the build's)", metavar="N", check=at_least(1)
    )


@dataclass(frozen=True)
class CompileOptions(Checked):
    """What a build asks of its backends; each backend reads the fields it understands."""

    GROUP = "backends"  # the --help section of these options

    force: bool = option(False, "build firmware even when it exceeds the board's RAM or flash")
    tune_trials: int = option(
        0,
        "tune the tvm backend with N TVM MetaSchedule candidates timed on this machine "
        "(host target only; 0: no tuning)",
        metavar="N",
        check=at_least(0),
    )
    kernels: str = option(
        "auto",
        "c backend kernels: auto, the fastest variant per layer for the target's features, or "
        "ref, the reference ones (to bisect a difference)",
        choices=("auto", "ref"),
    )
    patches: str = option(
        "auto",
        "c backend: run the first layers patch by patch to shrink the arena. auto: the fastest "
        "plan whose arena fits (--arena-limit, or on a microcontroller the board's RAM less "
        "the stack and --ram-reserve): layer by layer when that fits; smallest: the smallest "
        "arena within --patch-overhead; RxC: a grid of R x C tiles; off: layer by layer",
        metavar="auto|smallest|off|RxC",
        check=_check_grid,
    )
    arena_limit: int | None = option(
        None,
        "c backend: the most arena bytes the model may take; --patches auto picks the fastest "
        "plan under it (default: what the microcontroller's RAM leaves; no limit elsewhere)",
        metavar="BYTES",
        check=at_least(1),
    )
    ram_reserve: int = option(
        0,
        "c backend on a microcontroller: RAM bytes --patches auto leaves free for your "
        "application, besides the stack",
        metavar="BYTES",
        check=at_least(0),
    )
    patch_cut: str | None = option(
        None,
        "the layer the patches end at (a layer name, part of one, or an op index; "
        "default: chosen with the grid)",
        metavar="LAYER",
    )
    patch_overhead: float = option(
        0.20,
        "the most extra work, estimated, that --patches smallest may spend",
        metavar="P%",
        parse=percent,
        show=lambda v: f"{v * 100:g}%",
        check=lambda v: f"must be 0% or more, got {v:.0%}" if v < 0 else None,
    )
    optimise: str | None = option(
        None,
        "vela backend (Ethos-U targets): what Vela optimises for (default: the target file's)",
        choices=VELA_OPTIMISE,
    )
    prefix: str = option(
        "model",
        "c backend: the prefix of every generated C symbol, macro and file (NAME.h, NAME_run), "
        "so that several models link into one firmware",
        metavar="NAME",
        check=c_prefix,
    )


@dataclass(frozen=True)
class ModelSpec(Checked):
    """Which model to deploy: a user's file, or the built-in MobileNetV2.

    For the built-in model, unset fields take the target's defaults (alpha, resolution) and the
    data set's class count; ``weights`` defaults to the checkpoint trained on the data set.
    """

    GROUP = "model"

    path: str | None = option(
        None,
        "your model instead of the built-in MobileNetV2: .keras, .h5, SavedModel folder, "
        "or int8 .tflite",
        flag="--model",
        metavar="PATH",
    )
    alpha: float | None = option(
        None,
        "MobileNetV2 width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4; default: the target's)",
        metavar="A",
    )
    resolution: int | None = option(
        None, "input size, 96..224 in steps of 32 (default: the target's)", metavar="R"
    )
    classes: int | None = option(None, "classes (default: the data set's)", metavar="N")
    weights: str | None = option(
        None,
        "'digits' (shipped checkpoint, the default with digits data), 'random', 'imagenet' "
        "(downloads), or a checkpoint .npz path",
        metavar="W",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        builtin = ("alpha", "resolution", "classes", "weights")
        if self.path is not None and any(getattr(self, k) is not None for k in builtin):
            raise EdgekitError(
                "--model cannot be combined with --alpha/--resolution/--classes/"
                "--weights, which describe the built-in model"
            )


@dataclass(frozen=True)
class BuildConfig(Checked):
    target: str = target_option()
    model: ModelSpec = nested(ModelSpec)
    data: str | None = data_option(None)
    calibration_samples: int = option(
        128, "calibration samples for the quantized ranges", metavar="N", check=at_least(1)
    )
    precision: str = option(
        "int8",
        "activations of the quantized model: int8, int16x8 (int16 activations, int8 weights) "
        "or mixed (int8, with the layers that lose most kept in 16x8 until top-1 is within "
        "--max-drop)",
        choices=PRECISIONS,
    )
    max_drop: float | None = option(
        None,
        "exit 1 if the quantized model's top-1 is more than P points below float (with "
        "--precision mixed: the drop the mixed plan aims at, default 1)",
        metavar="P",
    )
    validate_inputs: int = option(
        20, "evaluation inputs each artifact runs on", metavar="N", check=at_least(1)
    )
    # ONNX Runtime calibration methods (the quantize stage makes one int8 model per method)
    onnx_calibration: tuple[str, ...] = option(
        ONNX_METHODS,
        "ONNX Runtime calibration methods, one int8 model each: minmax, entropy, percentile "
        "(the onnx bundle runs the first of these made)",
        metavar="M[,M...]",
        parse=methods,
        check=_check_methods,
    )
    compile: CompileOptions = nested(CompileOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "onnx_calibration", tuple(self.onnx_calibration))
        super().__post_init__()

    @property
    def data_spec(self) -> str | None:
        """The data the build runs on: --data, else digits for the built-in model, else None
        (generated inputs for a user's model)."""
        if self.data is not None or self.model.path is not None:
            return self.data
        return "digits"


DEFAULTS = CompileOptions()  # what a backend compiles with when it is given no options


@dataclass(frozen=True)
class ValidateOptions(Checked):
    """``edgekit validate``: run a finished build's artifacts again."""

    inputs: int | None = inputs_option()
    layers: bool = option(False, "also compare every intermediate tensor of the first input")
