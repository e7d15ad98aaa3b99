"""MetaSchedule tuning for the ``tvm`` backend (``edgekit build --tune-trials N``).

The Relax module that TVM's TFLite frontend imports is fused the way ``tvm.compile`` would
fuse it; each fused TIR function is a tuning task. MetaSchedule searches schedules for them
within one global budget of N measured candidates, keeps what it measured in a JSON database
in the artifact folder (``tvm/tuning/``), and the library is compiled with the best schedule
of each task applied (tasks the budget never reached keep TVM's default schedule).

Candidates are timed on the CPU they are for, so only the ``host`` target is tuned: on this
machine, with MetaSchedule's local builder and runner. Board targets are refused, after trying
the one aarch64 CPU this machine has, QEMU user mode (``edgekit.platforms.userland``):

- the ranking would be QEMU's: it translates aarch64 code block by block, with no model of the
  Cortex-A72's caches, pipeline or NEON throughput, so it says which schedule QEMU translates
  best, not which the board runs best;
- TVM's RPC server does not start there: it re-executes its own interpreter for its worker
  (``sys.executable``), an aarch64 binary the host kernel cannot exec without binfmt_misc
  ("Exec format error"); it also needs cloudpickle and psutil in the userland, and
  MetaSchedule's RPC runner a tracker (tornado) on the host;
- ``import tvm`` alone takes 30 s under qemu-aarch64 here.

So tuning for a board belongs on the board: TVM's RPC server runs on a Raspberry Pi.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from edgekit.errors import EdgekitError, first_line
from edgekit.platforms.targets import Target

TUNING_FOLDER = "tuning"
# Most candidates MetaSchedule measures in one round; small budgets are spread over the tasks.
MAX_TRIALS_PER_ROUND = 64


@dataclass(frozen=True)
class Tuning:
    """What a tuning run did; recorded in the artifact's details."""

    tune_trials: int  # the budget asked for
    trials_run: int  # candidates built and timed (failed builds or runs included)
    trials_valid: int  # of those, candidates that built, ran and were timed
    tasks: int  # fused TIR functions MetaSchedule could tune
    tasks_tuned: int  # tasks with at least one timed candidate
    database: str  # relative to the artifact folder
    measured_on: str
    num_cores: int
    seconds: float

    def details(self) -> dict:
        return {"tuning": asdict(self)}


def check_tunable(target: Target, trials: int) -> None:
    """Refuse to tune for a target whose CPU edgekit cannot time candidates on."""
    if trials and target.family != "host":
        raise EdgekitError(
            f"--tune-trials tunes on the CPU that runs the candidates, and {target.name}'s "
            f"{target.cpu} is not here (qemu timings would rank QEMU, not the board); "
            "tune with --target host, or run TVM MetaSchedule on the board over TVM's RPC"
        )


def tuned_target(target: dict) -> dict:
    """The target with the core count that MetaSchedule's CPU schedules need."""
    from tvm.s_tir.meta_schedule.utils import cpu_count

    return {**target, "num-cores": int(cpu_count(logical=False))}


def tune_and_compile(module, target: dict, trials: int, folder: Path):
    """Tune ``module`` (Relax, as imported) for ``target`` with ``trials`` candidates measured
    on this machine, keep the database in ``folder / TUNING_FOLDER``, and compile it with the
    best schedules applied: (executable, Tuning)."""
    import tvm
    import tvm_ffi
    from tvm.s_tir import meta_schedule as ms

    start = time.perf_counter()
    tvm_target = tvm.target.Target(target)
    work = folder / TUNING_FOLDER
    work.mkdir(parents=True, exist_ok=True)
    # MetaSchedule's console handler takes this level: its full log goes to tuning/logs only
    logging.getLogger("tvm.s_tir.meta_schedule").setLevel(logging.WARNING)
    try:
        with _frames_of_no_module_skipped():
            import tvm.s_tir.tensor_intrin  # noqa: F401  (what MetaSchedule's tasks import first)
        fused = _fuse(module, tvm_target)
        tasks = ms.relax_integration.extract_tasks(fused, tvm_target)
        per_round = max(1, min(MAX_TRIALS_PER_ROUND, math.ceil(trials / max(1, len(tasks)))))
        database = ms.relax_integration.tune_relax(
            fused,
            {},
            tvm_target,
            str(work),
            max_trials_global=trials,
            num_trials_per_iter=per_round,
            builder=ms.builder.LocalBuilder(f_build=build_candidate, timeout_sec=60),
            runner=ms.runner.LocalRunner(timeout_sec=60),
            strategy=ms.search_strategy.EvolutionarySearch(population_size=max(64, 4 * per_round)),
            seed=0,
        )
        executable = ms.relax_integration.compile_relax(database, module, tvm_target, None)
    except Exception as exc:  # TVM raises its own error types; one line for the user
        raise EdgekitError(f"TVM MetaSchedule tuning failed: {first_line(exc)}") from None
    records = database.get_all_tuning_records()
    timed = [r for r in records if _timed(r)]
    tuned = {tvm_ffi.structural_hash(r.workload.mod) for r in timed}
    tuning = Tuning(
        tune_trials=trials,
        trials_run=len(records),
        trials_valid=len(timed),
        tasks=len(tasks),
        tasks_tuned=len(tuned),
        database=f"{TUNING_FOLDER}/",
        measured_on="this machine (host CPU, MetaSchedule local runner)",
        num_cores=int(target["num-cores"]),
        seconds=round(time.perf_counter() - start, 1),
    )
    return executable, tuning


@contextmanager
def _frames_of_no_module_skipped() -> Iterator[None]:
    """Make TVMScript's parse of its tensor intrinsics take seconds, not minutes.

    It calls ``inspect.stack()`` for each of the ~250 intrinsics, and ``inspect.getmodule``
    scans every loaded module for each frame of the import machinery
    (``<frozen importlib._bootstrap>``, ``<string>``), which belongs to none: over two minutes
    once TensorFlow's 4,000 modules are loaded. Such frames get that answer, None, at once.
    """
    original = inspect.getmodule

    def getmodule(obj, _filename=None):
        pseudo = inspect.isframe(obj) and obj.f_code.co_filename.startswith("<")
        if pseudo and _filename not in inspect.modulesbyfile:
            return None
        return original(obj, _filename)

    inspect.getmodule = getmodule
    try:
        yield
    finally:
        inspect.getmodule = original


def _fuse(module, target):
    """Legalize and fuse as ``compile_relax`` does before it applies the database, so that the
    tuned workloads are the functions it looks up."""
    import tvm
    from tvm import relax
    from tvm.relax import pipeline

    passes = [
        *pipeline.library_dispatch_passes(target),
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ]
    with target, tvm.transform.PassContext(opt_level=3):
        return tvm.transform.Sequential(passes)(module)


def _timed(record) -> bool:
    return bool(record.run_secs) and all(
        math.isfinite(float(s)) and float(s) < 1e9 for s in record.run_secs
    )


def build_candidate(mod, target, params):
    """MetaSchedule's default candidate build without importing ``tvm.s_tir.tensor_intrin``:
    that import parses every GPU tensor intrinsic (about 35 s), in each fresh builder process,
    for every round. The float CPU schedules tuned here use none of them."""
    from tvm.driver import build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    del params  # MetaSchedule passes none for Relax tasks
    return build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)
