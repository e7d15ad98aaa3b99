"""edgekit sweep: a 2 x 2 sweep (1 epoch) on the process pool and on a local Ray cluster, a
failed point, resume, the lost-worker retry, and which checkpoint each point starts from."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import error_lines

from edgekit.config import BuildConfig, ModelSpec
from edgekit.frontend.train import TrainRun
from edgekit.sweep import EngineSpec, SweepSpec, run_sweep
from edgekit.sweep.points import (
    LOG_FILE,
    POINT_DIR,
    ROW_FILE,
    Point,
    find_checkpoints,
    make_point,
    shipped_checkpoints,
)
from edgekit.sweep.pool import LocalEngine
from edgekit.sweep.report import best_point, pareto_front

ALPHAS, RESOLUTIONS = (0.35, 0.5), (96, 128)
OK = ["a0.35_r96", "a0.35_r128"]  # its checkpoint as is; fine-tuned from it for 1 epoch
FAILING = ["a0.5_r96", "a0.5_r128"]  # their checkpoint is corrupted
INIT = "mobilenet_v2_0.35_96_c10_digits_small.npz"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Tiny data, 'digits_small' (10 digits per class: 70 train, 10 calibration, 20 evaluation
    images), and a checkpoint folder: the shipped 0.35@96 weights as a checkpoint of this data
    (so a0.35_r96 uses it as is and a0.35_r128 is fine-tuned from it) and a corrupted 0.5@96."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("sweep-inputs")
    digits = load_digits()
    index = np.concatenate([np.flatnonzero(digits.target == c)[:10] for c in range(10)])
    images = np.clip(digits.images[index] * (255 / 16), 0, 255).round().astype(np.uint8)
    data = root / "digits_small.npz"
    np.savez(data, images=images, labels=digits.target[index])
    checkpoints = root / "checkpoints"
    checkpoints.mkdir()
    shutil.copy(shipped_checkpoints() / "mobilenet_v2_0.35_96_c10_digits.npz", checkpoints / INIT)
    (checkpoints / "mobilenet_v2_0.5_96_c10_digits_small.npz").write_bytes(b"not a checkpoint")
    return data, checkpoints


def options(inputs, alphas=ALPHAS) -> list[str]:
    data, checkpoints = inputs
    return [
        "--target", "cortex-m7", "--alpha", ",".join(map(str, alphas)),
        "--resolution", ",".join(map(str, RESOLUTIONS)), "--data", str(data), "--epochs", "1",
        "--validate-inputs", "2", "--calibration-samples", "10", "--checkpoints", str(checkpoints),
    ]  # fmt: skip


def spec(inputs) -> SweepSpec:
    data, checkpoints = inputs
    return SweepSpec(
        build=BuildConfig("cortex-m7", data=str(data), validate_inputs=2, calibration_samples=10),
        alphas=ALPHAS,
        resolutions=RESOLUTIONS,
        epochs=1,
        checkpoints=str(checkpoints),
    )


@pytest.fixture(scope="module")
def pool_sweep(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep-pool") / "sweep"
    return out, run_sweep(spec(inputs), EngineSpec("local", jobs=2), out, quiet=True)


def rows_by_name(report: dict) -> dict:
    return {r["name"]: r for r in report["points"]}


@pytest.mark.slow
def test_pool_sweep_measures_every_point_and_names_the_best_that_fits(pool_sweep):
    out, report = pool_sweep
    assert [r["name"] for r in report["points"]] == [*OK, *FAILING]
    rows = rows_by_name(report)
    for name in OK:
        row = rows[name]
        assert row["status"] == "ok" and row["reason"] is None
        assert row["bit_exact"] is True
        assert 0 <= row["float_top1"] <= 1 and 0 <= row["int8_top1"] <= 1
        assert row["instructions"] > 1_000_000 and row["arena_bytes"] > 0
        assert row["ram_bytes"] > row["arena_bytes"] and row["flash_bytes"] > 0
        # 0.35 at 96 and 128 fit the STM32F746G-DISCO's 320 KiB RAM and 1 MiB flash
        assert row["fits"] == {"ok": True, "ram_over_bytes": 0, "flash_over_bytes": 0}
        folder = out / "points" / name
        for file in ("report.json", "build.json", "weights.npz", "point.json", LOG_FILE):
            assert (folder / file).is_file(), file
        assert (folder / "c" / "firmware" / "firmware.elf").is_file()
        built = json.loads((folder / "report.json").read_text())
        assert built["model"]["alpha"] == 0.35 and built["model"]["weights"] == "weights.npz"
    assert rows[OK[0]]["weights"] == {"from": "as is", "init": INIT, "epochs": 0}
    assert rows[OK[1]]["weights"] == {"from": "fine-tuned", "init": INIT, "epochs": 1}
    # more pixels, more instructions and a bigger arena; the same weights, the same flash ± code
    assert rows[OK[1]]["instructions"] > rows[OK[0]]["instructions"]
    assert rows[OK[1]]["arena_bytes"] > rows[OK[0]]["arena_bytes"]
    best = max((rows[n] for n in OK), key=lambda r: (r["int8_top1"], -r["instructions"]))
    assert report["best"] == best["name"]
    assert (
        set(report["pareto"]["instructions"]) <= set(OK)
        and report["best"] in (report["pareto"]["instructions"])
    )
    assert json.loads((out / "sweep.json").read_text()) == report
    assert report["engine"]["name"] == "local" and report["engine"]["jobs"] == 2
    assert (report["points_built"], report["points_reused"], report["points_failed"]) == (4, 0, 2)
    page = (out / "sweep.html").read_text()
    assert page.count("<svg") == 3 and "<script" not in page and 'src="http' not in page
    assert (
        f"Best point that fits STM32F746G-DISCO (320.0 KiB RAM, 1.0 MiB flash): {best['name']}"
        in (page)
    )
    assert "Best point that fits STM32F746G-DISCO" in (out / "sweep.md").read_text()
    # nothing temporary is left: no work folders of points, no half-written reports
    leftovers = [p.name for p in [*out.iterdir(), *(out / "points").iterdir()] if p.name[0] == "."]
    assert leftovers == []


@pytest.mark.slow
def test_failed_point_is_a_row_with_its_reason(pool_sweep):
    out, report = pool_sweep
    rows = rows_by_name(report)
    for name in FAILING:
        row = rows[name]
        assert row["status"] == "failed"
        assert "cannot read checkpoint" in row["reason"] and "\n" not in row["reason"]
        assert (
            row["int8_top1"] is None and row["instructions"] is None and row["fits"]["ok"] is None
        )
        folder = out / "points" / name
        assert "cannot read checkpoint" in (folder / LOG_FILE).read_text()
        assert json.loads((folder / "point.json").read_text())["row"]["status"] == "failed"
    text = (out / "sweep.md").read_text()
    assert "## Failed points" in text and f"{FAILING[0]}: " in text


@pytest.mark.slow
def test_resumed_sweep_rebuilds_nothing(pool_sweep, inputs, tmp_path, cli):
    out = tmp_path / "sweep"
    shutil.copytree(pool_sweep[0], out)
    built = {n: (out / "points" / n / "report.json").stat().st_mtime_ns for n in OK}
    code, stdout, stderr = cli("sweep", *options(inputs, alphas=(0.35,)), "--out", out, "--quiet")
    assert code == 0, stderr
    assert "Best point that fits STM32F746G-DISCO" in stdout
    report = json.loads((out / "sweep.json").read_text())
    assert (report["points_built"], report["points_reused"]) == (0, 2)
    assert all(r["reused"] for r in report["points"])
    assert {n: (out / "points" / n / "report.json").stat().st_mtime_ns for n in OK} == built
    old = rows_by_name(pool_sweep[1])
    assert all(r["instructions"] == old[r["name"]]["instructions"] for r in report["points"])


@pytest.mark.slow
def test_ray_sweep_gives_the_pool_figures(pool_sweep, inputs, tmp_path):
    """The sweep again as Ray tasks on a local Ray started for the run, with a0.35_r96's
    folder removed: Ray builds it and the failed points (its folder comes back as a tar
    archive) with the same deterministic figures as the pool; a0.35_r128 is kept."""
    out = tmp_path / "sweep"
    shutil.copytree(pool_sweep[0], out)
    shutil.rmtree(out / "points" / OK[0])
    report = run_sweep(spec(inputs), EngineSpec("ray", jobs=2), out, quiet=True)
    assert report["engine"]["name"] == "ray" and report["engine"]["cpus_per_point"] == 2
    assert (report["points_built"], report["points_reused"]) == (3, 1)
    pool, rows = rows_by_name(pool_sweep[1]), rows_by_name(report)
    built = rows[OK[0]]
    assert built["reused"] is False and built["bit_exact"] is True
    for key in ("status", "int8_top1", "instructions", "arena_bytes", "flash_bytes", "fits"):
        assert built[key] == pool[OK[0]][key], key  # as is: no training, so all deterministic
    folder = out / "points" / OK[0]
    assert (folder / "c" / "firmware" / "firmware.elf").is_file() and (folder / LOG_FILE).is_file()
    for name in FAILING:
        assert rows[name]["reused"] is False and "cannot read checkpoint" in rows[name]["reason"]
    assert report["best"] == pool_sweep[1]["best"]
    assert [p.name for p in (out / "points").iterdir() if p.name[0] == "."] == []


@pytest.mark.parametrize(
    "change, message",
    [
        (("--alpha", "0.3x"), "--alpha takes comma-separated numbers"),
        (("--resolution", "100"), "resolution 100 is not supported"),
        (("--target", "nope"), "unknown target 'nope'"),
        (("--target", "rpi4"), "has no board budget"),
        (("--engine", "spark"), "--engine takes local or ray"),
        (("--address", "127.0.0.1:9"), "--address names a Ray cluster"),
        (("--data", "missing.npz"), "not found"),
        (("--checkpoints", "missing"), "checkpoint folder"),
        (("--epochs", "0"), "--epochs must be at least 1"),
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(cli, tmp_path, change, message):
    args = ["--target", "cortex-m7", "--alpha", "0.35", "--resolution", "96"]
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += change
    code, _, stderr = cli("sweep", *args, "--out", tmp_path / "sweep")
    assert code == 2
    assert len(error_lines(stderr)) == 1 and message in error_lines(stderr)[0]
    assert list(tmp_path.iterdir()) == []


def test_ray_address_nothing_listens_at_is_one_error_line(cli, tmp_path):
    args = ["--target", "cortex-m7", "--alpha", "0.35", "--resolution", "96", "--engine", "ray"]
    code, _, stderr = cli("sweep", *args, "--address", "127.0.0.1:9", "--out", tmp_path / "s")
    assert code == 2
    assert error_lines(stderr) and "no Ray cluster answers at '127.0.0.1:9'" in stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the engine, without builds


def fake_point(marker: Path, alpha: float = 0.35) -> Point:
    model = ModelSpec(alpha=alpha, resolution=96)
    build = BuildConfig("cortex-m7", model=model, data=str(marker), validate_inputs=1)
    train = TrainRun("cortex-m7", data=str(marker), model=model, epochs=1, learning_rate=1e-3)
    return Point(build=build, init=None, init_sha256=None, train=train)


def dies_the_first_time(point: Point, work: Path, threads: int) -> None:
    """A point whose first process is lost (as if killed) and whose second finishes."""
    marker = Path(point.build.data)
    if not marker.exists():
        marker.write_text("died once")
        os._exit(9)
    (work / POINT_DIR).mkdir()
    (work / ROW_FILE).write_text(json.dumps({"name": point.name, "status": "ok"}))


def always_dies(point: Point, work: Path, threads: int) -> None:
    (work / LOG_FILE).write_text("segfault in the emulator\n")
    os._exit(9)


def test_lost_worker_is_retried_once(tmp_path):
    finished = []
    engine = LocalEngine(jobs=2, child=dies_the_first_time)
    engine.run([fake_point(tmp_path / "marker")], tmp_path, lambda *done: finished.append(done))
    assert [(p.name, row["status"]) for p, row, _ in finished] == [("a0.35_r96", "ok")]

    finished.clear()
    LocalEngine(jobs=1, child=always_dies).run(
        [fake_point(tmp_path / "m2")], tmp_path, lambda *done: finished.append(done)
    )
    ((point, row, _),) = finished
    assert row["status"] == "failed"
    assert row["reason"] == (
        "its process died twice (exit code 9); last output: segfault in the emulator"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "marker"]  # no work folder left behind


def test_each_point_starts_from_the_nearest_checkpoint():
    shipped = find_checkpoints(shipped_checkpoints())

    def point(alpha, resolution, dataset="digits", epochs=None):
        return make_point(
            BuildConfig("cortex-m7"),
            alpha,
            resolution,
            dataset=(dataset, 10),
            checkpoints=shipped,
            epochs=epochs,
        )

    def epochs(p):
        return p.train.epochs if p.train else 0

    own = point(0.35, 96)
    assert (own.weights_from, epochs(own), Path(own.init).name) == (
        "as is",
        0,
        "mobilenet_v2_0.35_96_c10_digits.npz",
    )
    wider = point(0.35, 160)
    assert (wider.weights_from, epochs(wider), wider.train.learning_rate) == (
        "fine-tuned",
        3,
        5e-4,
    )
    assert Path(wider.init).name == "mobilenet_v2_0.35_96_c10_digits.npz"
    assert Path(point(1.0, 128).init).name == "mobilenet_v2_1_224_c10_digits.npz"
    scratch = point(0.5, 96)
    assert (scratch.weights_from, scratch.init, epochs(scratch)) == ("from scratch", None, 15)
    assert epochs(point(0.5, 96, epochs=2)) == 2
    other_data = point(0.35, 96, dataset="flowers")
    assert (other_data.weights_from, epochs(other_data)) == ("fine-tuned", 3)
    assert point(0.35, 128).key() == point(0.35, 128).key() != point(0.35, 128, epochs=2).key()


def test_best_point_and_pareto_fronts():
    def row(name, top1, instructions, arena, fits=True, status="ok"):
        return {
            "name": name,
            "status": status,
            "int8_top1": top1,
            "instructions": instructions,
            "arena_bytes": arena,
            "flash_bytes": 1,
            "fits": {"ok": fits},
        }

    rows = [
        row("cheap", 0.90, 10, 100),
        row("balanced", 0.95, 20, 100),
        row("dominated", 0.94, 30, 200),
        row("big", 0.99, 50, 400, fits=False),
        row("broken", None, None, None, status="failed"),
    ]
    assert best_point(rows)["name"] == "balanced"  # "big" is more accurate but misses
    assert pareto_front(rows, "instructions") == ["cheap", "balanced", "big"]
    assert pareto_front(rows, "arena_bytes") == ["balanced", "big"]
