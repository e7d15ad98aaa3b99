"""Faults in native code and interruptions: LiteRT's reference kernels aborting on a degenerate
model, a child process crashing, Ctrl-C and SIGTERM in the middle of a build. Each ends as one
``Error:`` line and a fixed exit code, with no core file and no temporary folder left behind."""

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import error_lines

from edgekit.errors import EdgekitError
from edgekit.interpreter import Runner
from edgekit.isolated import ChildDied, Isolated
from edgekit.validation.artifacts import reference

INPUT = (8, 8, 3)


def softmax_model(bias: str) -> bytes:
    """Dense(600) with a zero kernel, then softmax, as a user would convert it: the plain TFLite
    converter, int8, Optimize.DEFAULT and a representative dataset. With a bias of ones all
    600 logits tie on every input (TFLite's reference int8 softmax aborts while running once
    512 tie); with zeros the logits' range collapses (it aborts when the model is loaded)."""
    import keras
    import tensorflow as tf

    inputs = keras.Input(INPUT, batch_size=1)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(600, kernel_initializer="zeros", bias_initializer=bias)(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(
        keras.Model(inputs, keras.layers.Softmax()(x))
    )
    rng = np.random.default_rng(0)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [rng.uniform(0, 1, (1, *INPUT)).astype(np.float32)] for _ in range(8)
    )
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(scope="module")
def tied(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tied.tflite"
    path.write_bytes(softmax_model("ones"))
    return path


@pytest.fixture
def cores_allowed(tmp_path, monkeypatch):
    """Core dumps allowed in this process and its children, written (core_pattern permitting)
    into ``tmp_path``, the working folder: a test then shows that none was written."""
    monkeypatch.chdir(tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    yield tmp_path
    resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def cores(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("core*") if p.is_file()]


def test_a_child_that_aborts_is_one_line_naming_what_and_where(cores_allowed):
    with pytest.raises(ChildDied) as died, Isolated("the native code", "stage x") as child:
        child.open("starting it", os.abort)
    assert str(died.value) == "the native code aborted (SIGABRT) in stage x while starting it"
    assert isinstance(died.value, EdgekitError) and died.value.signal == "SIGABRT"
    segfault = r"crashed \(SIGSEGV\) in stage y while poking"
    with pytest.raises(ChildDied, match=segfault), Isolated("the code", "stage y") as child:
        child.open("poking", signal.raise_signal, signal.SIGSEGV)
    assert cores(cores_allowed) == []


def test_results_and_exceptions_come_back_from_the_child():
    with Isolated("a dict", "a test") as child:
        child.open("building", dict, one=1)
        assert child.call("reading", "get", "one") == 1
        with pytest.raises(KeyError):
            child.call("reading", "__getitem__", "two")
        assert child.call("reading", "copy") == {"one": 1}  # still alive after an exception


def test_the_child_imports_litert_and_not_tensorflow(tied):
    with Isolated("LiteRT", "a test") as child:
        child.open("loading the model", Runner, tied.read_bytes())
        outputs, _ = child.call("running", "run", np.zeros((2, *INPUT), np.int8))
        child.open("listing modules", eval, "sorted(__import__('sys').modules)")
        modules = child.call("listing modules", "copy")
    assert outputs.shape == (2, 600)  # one row of output bytes per input
    assert "ai_edge_litert.interpreter" in modules
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "tvm")]


@pytest.mark.parametrize(
    "bias, during, why",
    [
        ("ones", "running the model", "600 of its 600 logits tie"),
        ("zeros", "loading the model", "its input scale times beta is"),
    ],
)
def test_reference_kernels_that_abort_name_the_softmax(cores_allowed, bias, during, why):
    model = softmax_model(bias)
    inputs = np.zeros((3, *INPUT), np.int8)
    with pytest.raises(EdgekitError) as caught:
        reference(model, inputs, stage="validate c")
    message = str(caught.value)
    assert message.startswith(
        "the reference interpreter (LiteRT BUILTIN_REF) aborted (SIGABRT) in validate c while "
        f"{during}: SOFTMAX (op 2, "
    )
    assert why in message and "the model is degenerate" in message and "\n" not in message
    assert cores(cores_allowed) == []


# ---------------------------------------------------------------- the command line


def edgekit(args: list, tmp_path: Path, **popen) -> subprocess.Popen:
    """``edgekit ARGS`` in a new process, as a user runs it: core dumps allowed, written into
    ``tmp_path``, and its own temporary directory (``tmp_path/tmp``) to check afterwards. Ctrl-C
    as in a terminal: SIGINT back to its default, as a test runner's worker may ignore it and a
    child inherits an ignored signal (Python then installs no KeyboardInterrupt)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "edgekit.cli", *map(str, args)]
    return subprocess.Popen(
        ["sh", "-c", 'ulimit -c "$(ulimit -Hc)" && exec "$@"', "sh", *command],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp"), "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )


def leftovers(tmp_path: Path, out: Path) -> list[str]:
    """Temporary folders a build left: beside its output folder or in its temporary
    directory; and any core file."""
    beside = [p.name for p in out.parent.iterdir() if p != out]
    temporary = [p.name for p in (tmp_path / "tmp").iterdir() if p.is_dir()]
    return beside + temporary + [p.name for p in cores(tmp_path)]


def test_a_model_whose_reference_kernels_abort_is_one_error_line(tied, tmp_path):
    out = tmp_path / "builds" / "tied"
    process = edgekit(["build", "--target", "cortex-m7", "--model", tied, "--out", out], tmp_path)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode in (1, 2), stderr
    (line,) = error_lines(stderr)
    # the optimized kernels of evaluate, or the reference kernels of validate: whichever aborts
    assert "aborted (SIGABRT) in " in line and "SOFTMAX" in line, line
    assert "Traceback" not in stderr and "core dumped" not in stderr
    assert leftovers(tmp_path, out) == []


def isolated_children(tmp_path: Path) -> list[int]:
    """Processes still running an ``Isolated`` child of a build started by ``edgekit()``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes()
            environment = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"edgekit.isolated" in command and f"TMPDIR={tmp_path}/tmp".encode() in environment:
            found.append(int(proc.name))
    return found


def running_isolated(pid: int) -> bool:
    """Whether the process ``pid`` has an ``Isolated`` child running now: its own children
    only (two small files), so that a loaded machine still sees a child that lives a second."""
    try:
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            for child in children.read_text().split():
                if b"edgekit.isolated" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return True
    except OSError:  # a child that ended meanwhile
        pass
    return False


@pytest.mark.slow  # the built-in model's build up to its evaluate stage: about a minute
@pytest.mark.parametrize(
    "signum, codes, in_child",
    [
        (signal.SIGINT, {130}, True),  # while evaluate runs LiteRT in its child process
        # as soon as the temporary folder is there: often inside TensorFlow's import, where a
        # KeyboardInterrupt would make CPython end the process by SIGINT (exit -2)
        (signal.SIGTERM, {143}, False),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_an_interrupted_build_leaves_nothing_behind(tmp_path, signum, codes, in_child):
    out = tmp_path / "builds" / "m7"
    out.parent.mkdir()
    process = edgekit(["build", "--target", "cortex-m7", "--out", out], tmp_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while not (
        list(out.parent.glob(f".{out.name}.tmp-*"))
        and (not in_child or running_isolated(process.pid))
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the build ended or stalled before the signal: {''.join(lines)}")
        time.sleep(0.01)
    process.send_signal(signum)
    code = process.wait(timeout=120)
    reader.join(timeout=10)
    stderr = "".join(lines)
    assert code in codes, stderr
    assert len(error_lines(stderr)) == 1 and "Traceback" not in stderr, stderr
    assert not out.exists() and leftovers(tmp_path, out) == []
    assert isolated_children(tmp_path) == []
