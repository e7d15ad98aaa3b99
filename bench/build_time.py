"""Wall time of `edgekit build` per stage, with the accuracy figures it produced.

    .venv/bin/python bench/build_time.py [TARGET ...]     (default: rpi4 cortex-m7)

Each build runs in a fresh process (the CLI, as a user runs it), so TensorFlow's import and
start-up count; stage times come from the build's own report.json.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(target: str, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "edgekit.cli",
            "build",
            "--target",
            target,
            "--out",
            str(out),
            "--quiet",
        ],
        check=True,
    )
    wall = time.perf_counter() - start
    return wall, json.loads((out / "report.json").read_text())


def main(targets: list[str]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in targets:
            wall, report = run(target, Path(tmp) / target)
            rows.append((target, wall, report))
    stages = [s["name"] for s in rows[0][2]["stages"]]
    head = f"{'target':<11} {'model':<9} {'wall s':>7} " + " ".join(
        f"{s + ' s':>10}" for s in stages
    )
    head += f" {'float top1':>10} {'int8 top1':>9} {'drop pt':>7} {'logits SQNR':>11}"
    print(head)
    for target, wall, r in rows:
        m, a = r["model"], r["accuracy"]
        times = {s["name"]: s["seconds"] for s in r["stages"]}
        line = f"{target:<11} {m['alpha']:g}@{m['resolution']:<5} {wall:>7.1f} "
        line += " ".join(f"{times.get(s, float('nan')):>10.1f}" for s in stages)
        line += (
            f" {a['float_top1']:>10.4f} {a['int8_top1']:>9.4f} {a['top1_drop_points']:>7.2f}"
            f" {a['logits_sqnr_db']:>8.1f} dB"
        )
        print(line)
    if len(rows) > 1:
        base = rows[0][1]
        print(
            "wall time ratio to "
            + rows[0][0]
            + ": "
            + ", ".join(f"{t} {w / base:.2f}" for t, w, _ in rows)
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["rpi4", "cortex-m7"])
