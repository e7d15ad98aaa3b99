"""Shared builders for the tests: one real host build, reused, and an in-process CLI runner."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

# the files with the longest tests (make demo's; the sweeps'), first: under pytest-xdist
# (make test) they then run beside the rest instead of after it
LONGEST_FIRST = ("test_commands.py", "test_sweep.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every file keeps its own order


@pytest.fixture(scope="session")
def host_build(tmp_path_factory):
    """``edgekit build --target host``: the shipped MobileNetV2 0.35@96 digits checkpoint."""
    from edgekit.pipeline import BuildConfig, build

    out = tmp_path_factory.mktemp("host") / "build"
    report = build(BuildConfig(target="host"), out, quiet=True)
    return out, report


@pytest.fixture
def cli(capsys):
    """Run ``edgekit ARGS...`` in this process; returns (exit code, stdout, stderr)."""
    from edgekit.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def error_lines(stderr: str) -> list[str]:
    """The lines a user sees as errors (TensorFlow's own log lines left out)."""
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


@pytest.fixture(scope="session")
def cortex_m7_build(tmp_path_factory):
    """``edgekit build --target cortex-m7 --max-drop 1 --validate-inputs 10`` through the CLI on
    the built-in default (MobileNetV2 0.35@96, digits): test_e2e's acceptance build, which the
    flash tests flash too. Returns (folder, exit code, stderr)."""
    import contextlib
    import io

    from edgekit.cli import main

    out = tmp_path_factory.mktemp("cortex-m7") / "cortex-m7"
    args = ["build", "--target", "cortex-m7", "--out", str(out), "--max-drop", "1"]
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([*args, "--validate-inputs", "10", "--quiet"])
    return out, code, err.getvalue()


@pytest.fixture(scope="session")
def tiny_int8() -> bytes:
    """A small int8 model (conv + ReLU6, depthwise conv, pooling, dense; 16x16x3 in, 4 out),
    for a backend's paths where MobileNetV2's size proves nothing and costs minutes."""
    import keras
    import numpy as np

    from edgekit.quantization.converter import quantize

    rng = np.random.default_rng(0)
    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu6")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    return quantize(model, rng.uniform(-1, 1, (16, 16, 16, 3)).astype(np.float32))
