"""What ``edgekit sweep`` is asked to do: the grid and the build each point shares, and the
engine the points run on. The command line's sweep options are made from these fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.config import BuildConfig, Checked, at_least, nested, option
from edgekit.errors import EdgekitError

ENGINES = ("local", "ray")


def numbers(kind: type) -> Any:
    """A parser of a comma-separated list of numbers, such as '0.35,0.5'."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.split(","))
        except ValueError:
            example = "0.35,0.5,0.75" if kind is float else "96,128,160"
            raise EdgekitError(
                f"takes comma-separated numbers such as {example}; got '{text}'"
            ) from None

    return parse


def _widths(alphas: tuple[float, ...]) -> str | None:
    from edgekit.frontend.mobilenet import MobileNetConfig

    for alpha in alphas:
        MobileNetConfig(alpha=alpha)  # raises with the allowed widths
    return None


def _sizes(resolutions: tuple[int, ...]) -> str | None:
    from edgekit.frontend.mobilenet import MobileNetConfig

    for resolution in resolutions:
        MobileNetConfig(resolution=resolution)
    return None


@dataclass(frozen=True)
class SweepSpec(Checked):
    """What to sweep: the grid (alphas x resolutions) and the build every point shares (its
    target, data, validation inputs and calibration samples). ``epochs`` None: 3 from a
    checkpoint, 15 from scratch."""

    build: BuildConfig = nested(BuildConfig, required=True)
    alphas: tuple[float, ...] = option(
        help="widths, e.g. 0.35,0.5,0.75",
        flag="--alpha",
        metavar="A[,A...]",
        parse=numbers(float),
        check=_widths,
    )
    resolutions: tuple[int, ...] = option(
        help="input sizes, e.g. 96,128,160",
        flag="--resolution",
        metavar="R[,R...]",
        parse=numbers(int),
        check=_sizes,
    )
    epochs: int | None = option(
        None,
        "training epochs per point (default 3 from a checkpoint of the same width, 15 from "
        "scratch); a point with a checkpoint of its own uses it as is",
        metavar="N",
        check=at_least(1),
    )
    checkpoints: str | None = option(
        None,
        "folder of 'edgekit train' checkpoints to start from (default: the shipped ones)",
        metavar="DIR",
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "alphas", tuple(dict.fromkeys(self.alphas)))
        object.__setattr__(self, "resolutions", tuple(dict.fromkeys(self.resolutions)))
        if not self.alphas or not self.resolutions:
            raise EdgekitError("a sweep needs at least one --alpha and one --resolution")
        super().__post_init__()


@dataclass(frozen=True)
class EngineSpec(Checked):
    """Where the points run: ``local`` (``jobs`` processes, default cores / threads per
    build) or ``ray`` (the cluster at ``address``, or a local Ray started for the run)."""

    name: str = option(
        "local",
        "local: a process pool on this machine; ray: Ray tasks on a cluster",
        flag="--engine",
        choices=ENGINES,
    )
    jobs: int | None = option(
        None,
        "points at once (default for local: cores / 2 threads per build; for ray: as many "
        "as the cluster's CPUs allow)",
        metavar="N",
        check=at_least(1),
    )
    address: str | None = option(
        None,
        "Ray cluster to run on, as 'ray start --head' prints it (default: a local Ray "
        "started for the run)",
        metavar="ADDR",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.address is not None and self.name != "ray":
            raise EdgekitError("--address names a Ray cluster; pass it with --engine ray")

    def open(self):
        """The engine, to be entered (``with``): Ray connects, or fails, before any point."""
        if self.name == "ray":
            from edgekit.sweep.cluster import RayEngine

            return RayEngine(self.address, self.jobs)
        from edgekit.sweep.pool import LocalEngine

        return LocalEngine(self.jobs)
