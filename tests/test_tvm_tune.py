"""``--tune-trials``: the tvm backend tuned by MetaSchedule on this machine, refused for boards."""

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import error_lines

from edgekit.backends.tvm import TVMBackend
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

TRIALS = 2  # the fewest that still spread over two rounds and two tasks


@pytest.fixture(scope="module")
def tiny(tiny_int8):
    """The small int8 model (conv + ReLU6, depthwise conv, pooling, dense) and 8 inputs."""
    data = np.random.default_rng(0).integers(-128, 128, (8, 16, 16, 3), dtype=np.int8)
    return tiny_int8, data, reference(tiny_int8, data)


def test_a_negative_budget_is_one_error_line(cli, tmp_path):
    code, _, err = cli("build", "--target", "host", "--tune-trials", -1, "--out", tmp_path / "b")
    assert code == 2
    assert error_lines(err) == ["Error: --tune-trials must be at least 0, got -1"]
    assert not (tmp_path / "b").exists()


def test_board_targets_are_refused_before_any_stage_runs(cli, tiny, tmp_path):
    code, _, err = cli("build", "--target", "rpi4", "--tune-trials", 8, "--out", tmp_path / "b")
    assert code == 2
    (line,) = error_lines(err)
    assert "rpi4's cortex-a72 is not here" in line and "--target host" in line
    assert not (tmp_path / "b").exists()
    with pytest.raises(EdgekitError, match="qemu timings would rank QEMU"):
        TVMBackend().compile(
            Int8Model(tiny[0]), load_target("rpi4"), tmp_path / "tvm", CompileOptions(tune_trials=8)
        )


def test_the_budget_asks_for_the_tvm_backend_even_where_the_target_lacks_it():
    from edgekit.config import BuildConfig
    from edgekit.pipeline import Log, selected_backends

    host = replace(load_target("host"), backends=("litert",))
    for trials in (0, 5):
        config = BuildConfig(target="host", compile=CompileOptions(tune_trials=trials))
        chosen = selected_backends(config, host, Log(quiet=True))
        assert list(chosen) == (["litert", "tvm"] if trials else ["litert"])


@pytest.fixture(scope="module")
def libraries(tiny, tmp_path_factory):
    """The tiny model compiled untuned and tuned with a few trials, for the host."""
    folder = tmp_path_factory.mktemp("tvm-tune")
    host = load_target("host")
    untuned = TVMBackend().compile(Int8Model(tiny[0]), host, folder / "untuned")
    tuned = TVMBackend().compile(
        Int8Model(tiny[0]), host, folder / "tuned", CompileOptions(tune_trials=TRIALS)
    )
    return untuned, tuned


@pytest.mark.slow  # MetaSchedule: a few seconds of start-up and a few per candidate
def test_tuning_keeps_its_database_and_says_what_it_measured(libraries):
    untuned, tuned = libraries
    assert "tuning" not in untuned.details and untuned.details["target"] == {"kind": "llvm"}
    tuning = tuned.details["tuning"]
    assert tuning["tune_trials"] == TRIALS and tuning["database"] == "tuning/"
    assert 0 < tuning["trials_valid"] <= tuning["trials_run"] <= TRIALS
    assert 0 < tuning["tasks_tuned"] <= tuning["tasks"]
    assert "host CPU" in tuning["measured_on"] and tuning["seconds"] > 0
    assert tuned.details["target"]["num-cores"] == tuning["num_cores"] >= 1
    database = tuned.path / "tuning"
    records = (database / "database_tuning_record.json").read_text().splitlines()
    assert len(records) == tuning["trials_run"]
    fields = [json.loads(r)[1] for r in records]  # [trace, run seconds, target, arguments]
    assert all(f[0] for f in fields)
    assert sum(bool(f[1]) for f in fields) >= tuning["trials_valid"]
    assert (database / "database_workload.json").read_text().strip()
    # the report's artifact row and the build's progress line say it was tuned
    from edgekit.pipeline import artifact_row, artifact_summary

    host = load_target("host")
    assert artifact_row(tuned, host, tuned.path.parent)["tuning"] == tuning
    assert f"of {TRIALS} trials timed" in artifact_summary(tuned)


@pytest.mark.slow
def test_the_tuned_library_runs_and_computes_what_the_untuned_one_does(libraries, tiny):
    _, data, ref = tiny
    host = load_target("host")
    untuned, tuned = (TVMBackend().run(a, host, data).outputs for a in libraries)
    assert tuned.shape == (8, 4) and tuned.dtype == np.int8
    # Other schedules sum the float products in another order: at most one step of rounding.
    assert np.abs(tuned.astype(int) - untuned).max() <= 1
    untuned_error = np.abs(untuned.astype(int) - ref.outputs).max()
    assert np.abs(tuned.astype(int) - ref.outputs).max() <= untuned_error + 1
