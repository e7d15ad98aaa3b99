"""A build's configuration: what ``edgekit build`` was asked to do, checked once, up front.

A build is a pure function of its ``BuildConfig``; the config is saved in the build folder
(``build.json``) so that ``edgekit report``, ``validate`` and ``deploy`` can pick up from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.errors import EdgekitError

# ONNX Runtime's static calibration methods (edgekit.quantization.onnx_ptq.METHODS, kept here so
# that checking a configuration imports no ONNX code)
ONNX_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class ModelSpec:
    """Which model to deploy: a user's file, or the built-in MobileNetV2.

    For the built-in model, unset fields take the target's defaults (alpha, resolution) and the
    data set's class count; ``weights`` defaults to the checkpoint trained on the data set.
    """

    path: str | None = None
    alpha: float | None = None
    resolution: int | None = None
    classes: int | None = None
    weights: str | None = None


@dataclass(frozen=True)
class BuildConfig:
    target: str
    model: ModelSpec = field(default_factory=ModelSpec)
    data: str = "digits"
    calibration_samples: int = 128
    max_drop: float | None = None
    validate_inputs: int = 20
    force: bool = False
    tune_trials: int = 0  # MetaSchedule candidates for the tvm backend; 0: TVM's defaults
    optimise: str | None = None  # vela backend: Vela's --optimise (None: the target's [npu])
    kernels: str = "auto"  # c backend kernel variants: auto (best per layer) or ref (reference)
    patches: str = "auto"  # c backend: off, auto (microcontrollers only) or a grid "RxC"
    patch_cut: str | None = None  # the layer the patch stage ends at (None: chosen)
    patch_overhead: float = 0.20  # the most estimated extra work --patches auto may spend
    # ONNX Runtime calibration methods (the quantize stage makes one int8 model per method)
    onnx_calibration: tuple[str, ...] = ONNX_METHODS

    def __post_init__(self) -> None:
        for name in ("calibration_samples", "validate_inputs"):
            if getattr(self, name) < 1:
                option = "--" + name.replace("_", "-")
                raise EdgekitError(f"{option} must be at least 1, got {getattr(self, name)}")
        unknown = [m for m in self.onnx_calibration if m not in ONNX_METHODS]
        if unknown or not self.onnx_calibration:
            raise EdgekitError(
                f"--onnx-calibration takes a comma-separated list of {', '.join(ONNX_METHODS)}; "
                f"got '{','.join(self.onnx_calibration)}'"
            )
        object.__setattr__(self, "onnx_calibration", tuple(self.onnx_calibration))
        if self.optimise not in (None, "Size", "Performance"):
            raise EdgekitError(f"--optimise takes Size or Performance, got '{self.optimise}'")
        from edgekit.compiler.patches import parse_grid

        if self.patches != "off":
            parse_grid(self.patches)
        if self.patch_overhead < 0:
            raise EdgekitError(
                f"--patch-overhead must be 0% or more, got {self.patch_overhead:.0%}"
            )
        if self.tune_trials < 0:
            raise EdgekitError(f"--tune-trials must be 0 or more, got {self.tune_trials}")

    @staticmethod
    def from_dict(values: dict) -> BuildConfig:
        return BuildConfig(**{**values, "model": ModelSpec(**values["model"])})
