"""Shared builders for the tests: one real host build, reused, and an in-process CLI runner."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


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
