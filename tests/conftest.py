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


# ---------------------------------------------------------------- the report contract
# Every report.json the suite writes must follow docs/report.schema.json: the reports a test
# writes into its tmp_path are checked when it ends, those of session and module fixtures
# (tmp_path_factory) when the session ends.


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    """``made(name)``: the zoo model's .tflite path (``tests/zoo.py``), made once per session."""
    import zoo

    folder = tmp_path_factory.mktemp("zoo")
    paths = {}

    def get(name):
        if name not in paths:
            paths[name] = zoo.make(name, folder)
        return paths[name]

    return get


import functools  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

REPORT_SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "report.schema.json"
_checked_reports: set[tuple[Path, int]] = set()  # (path, hash of its text) found valid


@functools.cache
def report_validator():
    """A validator for docs/report.schema.json that also refuses a key the schema does not
    describe: the published schema lets later versions add fields, but the suite holds the
    schema (and docs/report.md, made from it) to every key edgekit writes today."""
    import jsonschema

    schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(described_keys_only(schema))


def described_keys_only(schema: dict) -> dict:
    """``schema`` with every object it describes closed to other keys, except the records
    others extend (``allOf``), which are closed where they are used, and the conditions of
    ``if``, which describe nothing."""
    bases = set()

    def find_bases(node):
        if isinstance(node, dict):
            bases.update(part["$ref"] for part in node.get("allOf", []) if "$ref" in part)
            for value in node.values():
                find_bases(value)
        elif isinstance(node, list):
            for value in node:
                find_bases(value)

    def close(node, pointer: str, extended: bool = False):
        if isinstance(node, list):
            return [close(value, f"{pointer}/{i}", extended) for i, value in enumerate(node)]
        if not isinstance(node, dict):
            return node
        closed = {
            key: value if key == "if" else close(value, f"{pointer}/{key}", key == "allOf")
            for key, value in node.items()
        }
        describes = "properties" in node or (node.get("$ref") in bases and not extended)
        if describes and pointer not in bases and "additionalProperties" not in node:
            closed["unevaluatedProperties"] = False
        return closed

    find_bases(schema)
    return close(schema, "#")


def report_errors(report: dict) -> list[str]:
    """Each way ``report`` breaks the contract: where in the report, what, and the schema rule."""
    from jsonschema.exceptions import best_match

    lines = []
    for error in sorted(report_validator().iter_errors(report), key=lambda e: list(e.path)):
        why = best_match(error.context) if error.context else error
        rule = "/".join(str(part) for part in why.absolute_schema_path)
        lines.append(f"{why.json_path}: {why.message} (schema: {rule})")
    return lines


def check_reports(folder: Path) -> None:
    """Fail, naming each file and what is wrong, unless every report.json below ``folder``
    follows the schema."""
    broken = []
    for path in sorted(Path(folder).rglob("report.json")):
        text = path.read_text(encoding="utf-8")
        key = (path, hash(text))
        if key in _checked_reports:
            continue
        errors = report_errors(json.loads(text))
        if errors:
            broken.append(f"{path} does not follow {REPORT_SCHEMA.name}:\n  " + "\n  ".join(errors))
        else:
            _checked_reports.add(key)
    if broken:
        pytest.fail("\n".join(broken), pytrace=False)


@pytest.fixture(autouse=True)
def reports_follow_the_schema(request):
    """The report.json files a test wrote into its tmp_path, checked when it ends."""
    folder = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if folder is not None:
        check_reports(folder)


@pytest.fixture(scope="session", autouse=True)
def session_reports_follow_the_schema(tmp_path_factory):
    """Every report.json below this session's (or xdist worker's) base temporary folder,
    checked when the session ends: the builds of session and module fixtures."""
    yield
    check_reports(tmp_path_factory.getbasetemp())
