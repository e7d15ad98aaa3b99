"""``edgekit deploy``: a build's Linux bundle copied to a board over SSH, run there, and the
board's results brought back into the build's report.

The board needs only what a Raspberry Pi OS image has: a shell, ``tar`` and, for the runner
scripts, a Python with the runtime named in each bundle's ``requirements.txt``. The bundle is
streamed as one tar archive through ``ssh`` (no scp or sftp), unpacked next to the remote folder
and renamed onto it, so a failed copy never leaves a half-written bundle on the board. Each
artifact then runs on the same int8 evaluation inputs the build validated with; its outputs are
compared with TFLite's reference kernels on this machine, and its per-inference wall times are
the board's own: the only latencies edgekit reports for a board.
"""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.buildfolder import load_build
from edgekit.config import Checked, inputs_option, option, target_option
from edgekit.errors import EdgekitError, last_line
from edgekit.platforms.linux import ARCHES

# Where each backend's program lies in its artifact folder, by target family (c), or the runner
# script and model its artifact.json names (litert, tvm).
C_PROGRAMS = {"linux": "linux/model_run", "host": "host/model_run"}
# ``uname -m`` of a board, for each target architecture.
MACHINES = {a.name: a.machines for a in ARCHES.values()}
RUN_TIMEOUT = 3600.0
SSH_PACKAGE = "openssh-client"


@dataclass(frozen=True)
class Remote(Checked):
    """A board reached with the system's OpenSSH client, never prompting (BatchMode)."""

    host: str = option(help="the board, as for ssh", metavar="USER@BOARD")
    port: int | None = option(None, "SSH port (default: ssh's)")
    identity: str | None = option(None, "SSH private key (default: ssh's)", metavar="KEY")
    options: tuple[str, ...] = option(
        (),
        "extra 'ssh -o' option, e.g. UserKnownHostsFile=PATH (repeatable)",
        flag="--ssh-option",
        metavar="OPT",
        repeat=True,
    )

    def command(self, remote: str) -> list[str]:
        ssh = shutil.which("ssh")
        if ssh is None:
            raise EdgekitError(f"ssh not found; install it with: apt-get install {SSH_PACKAGE}")
        cmd = [ssh, "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
        if self.port is not None:
            cmd += ["-p", str(self.port)]
        if self.identity is not None:
            cmd += ["-i", self.identity]
        for extra in self.options:
            cmd += ["-o", extra]
        return [*cmd, "--", self.host, remote]

    def run(
        self, remote: str, stdin: bytes | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess:
        """Run the shell command ``remote`` on the board; stdout as bytes, stderr as text."""
        try:
            done = subprocess.run(
                self.command(remote),
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise EdgekitError(
                f"'{remote[:60]}' did not finish on {self.host} within {timeout:g} s"
            ) from None
        if done.returncode == 255:  # ssh's own failure: the board was not reached
            why = last_line(done.stderr)
            raise EdgekitError(
                f"cannot reach {self.host} over SSH ({why}); check --host, --port and "
                "--identity, and that 'ssh HOST true' works without a password"
            )
        return done


@dataclass(frozen=True)
class DeployOptions(Checked):
    """``edgekit deploy``: which build, run how, where on the board."""

    target: str = target_option("the target the folder was built for")
    python: str = option("python3", "the board's Python for the runner scripts")
    remote_dir: str | None = option(
        None,
        "where the bundle goes on the board, relative to the home folder (default "
        "edgekit-TARGET); replaced as a whole",
        metavar="DIR",
        check=lambda path: check_remote_dir(path) and None,  # raises with the whole message
    )
    inputs: int | None = inputs_option()


def deploy(folder: Path, remote: Remote, options: DeployOptions, *, quiet: bool = False) -> dict:
    """Copy the bundle in build folder ``folder`` to the board, run every artifact there and
    add the ``deploy`` section to the build's report (rewritten in place). The report dict."""
    from edgekit.progress import Log
    from edgekit.validation.artifacts import REFERENCE, input_rows, reference

    folder = Path(folder)
    build = load_build(folder)
    target = build.target
    if target.name != options.target:
        raise EdgekitError(
            f"'{folder}' was built for {target.name}, not {options.target}; pass "
            f"--target {target.name} or build for {options.target} first"
        )
    if target.family not in C_PROGRAMS:
        raise EdgekitError(
            f"edgekit deploy copies Linux bundles; {target.name} is a {target.family} target, "
            "whose firmware is flashed (see the c/firmware folder)"
        )
    artifacts = build.artifacts()
    evaluation = build.data.evaluation
    count = min(options.inputs or build.config.validate_inputs, len(evaluation))
    remote_dir = options.remote_dir or f"edgekit-{target.name}"
    python = options.python
    log = Log(quiet)

    with log.stage("connect") as detail:
        facts = _board_facts(remote, python)
        detail.append(f"{remote.host}: {facts['machine']}, {facts['python']}")
    machines = MACHINES.get(target.arch, ())
    if machines and facts["machine"].split()[-1] not in machines:
        raise EdgekitError(
            f"{remote.host} is a {facts['machine']} machine but {target.name} builds for "
            f"{target.arch}; build for the board's target (see 'edgekit targets')"
        )

    int8 = input_rows(build.tflite, evaluation, count)
    ref = reference(build.tflite, int8, stage="deploy")
    expected = build.expected(count)
    with log.stage("copy") as detail:
        archive = _bundle_archive(folder, [a.path.name for a in artifacts], int8)
        _upload(remote, remote_dir, archive)
        detail.append(f"{len(archive) / 1e6:.1f} MB to {remote.host}:{remote_dir}")

    rows = []
    for artifact in artifacts:
        name = artifact.backend
        command = _run_command(artifact, target.family, python)
        if command is None:
            log.skip(f"run {name}", "no program to run on a board")
            continue
        try:
            with log.stage(f"run {name}") as detail:
                row = _run_one(remote, remote_dir, name, command, ref, expected)
                detail.append(
                    f"bit-exact {row['bit_exact']}, max abs diff {row['max_abs_diff']}, "
                    f"median {row['latency_ms']} ms"
                )
        except EdgekitError as exc:  # one runtime missing on the board must not hide the rest
            log.fail(f"run {name}", str(exc))
            row = {"backend": name, "status": "failed", "error": str(exc)}
        row["precision"] = artifact.precision
        rows.append(row)

    report = build.report
    report["deploy"] = {
        "host": remote.host,
        "remote_dir": remote_dir,
        "machine": facts["machine"],
        "python": facts["python"],
        "inputs": count,
        "reference": REFERENCE,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
        "fastest": fastest(rows),
    }
    build.write_report()
    return report


def check_remote_dir(path: str) -> str:
    """``path`` if it can safely be replaced as a whole: never the home folder, a root-level
    folder or a path ending in '.' or '..'."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[-1] in (".", "..", "~") or (path.startswith("/") and len(parts) < 2):
        raise EdgekitError(
            f"--remote-dir '{path}' would replace a folder that is not edgekit's; name a "
            "folder of its own, e.g. edgekit-rpi4"
        )
    return path


def fastest(rows: list[dict]) -> str | None:
    """The backend with the lowest measured median latency, or None when none was measured."""
    timed = [r for r in rows if r.get("latency_ms") is not None]
    return min(timed, key=lambda r: r["latency_ms"])["backend"] if timed else None


def _board_facts(remote: Remote, python: str) -> dict:
    done = remote.run(
        f"uname -sm && {shlex.quote(python)} -c "
        "'import platform; print(\"Python\", platform.python_version())' "
        "|| echo 'no python'"
    )
    lines = done.stdout.decode(errors="replace").splitlines()
    if done.returncode != 0 or not lines:
        raise EdgekitError(f"{remote.host} did not answer 'uname -sm': {last_line(done.stderr)}")
    return {"machine": lines[0].strip(), "python": (lines[1:] or ["no python"])[0].strip()}


def _bundle_archive(folder: Path, names: list[str], inputs: np.ndarray) -> bytes:
    """The artifact folders, the int8 model and the validation inputs, as one tar archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in [*names, "model_int8.tflite", "build.json"]:
            if (folder / name).exists():
                tar.add(folder / name, arcname=name)
        data = np.ascontiguousarray(inputs, np.int8).tobytes()
        info = tarfile.TarInfo("validation/input.bin")
        info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _upload(remote: Remote, remote_dir: str, archive: bytes) -> None:
    """Unpack ``archive`` beside ``remote_dir`` and rename it onto it once complete."""
    target = _remote_path(remote_dir)
    script = (
        f'set -e; dir={target}; new="$dir.new-$$"; rm -rf "$new"; mkdir -p "$new"; '
        'tar -C "$new" -xf -; rm -rf "$dir"; mv "$new" "$dir"'
    )
    done = remote.run(script, stdin=archive, timeout=RUN_TIMEOUT)
    if done.returncode != 0:
        raise EdgekitError(
            f"copying the bundle to {remote.host}:{remote_dir} failed: {last_line(done.stderr)}"
        )


def _run_command(artifact, family: str, python: str) -> list[str] | None:
    name, details = artifact.backend, artifact.details
    out = f"validation/{name}.bin"
    if "runner" in details and "model" in details:
        return [python, f"{name}/{details['runner']}", f"{name}/{details['model']}",
                "validation/input.bin", out]  # fmt: skip
    if name == "c" and family in C_PROGRAMS:
        return [f"./c/{C_PROGRAMS[family]}", "validation/input.bin", out]
    return None


def _run_one(
    remote: Remote, remote_dir: str, name: str, command: list[str], ref, expected: dict
) -> dict:
    from edgekit.artifacts import RunOutput, parse_latency
    from edgekit.validation.artifacts import compare_outputs, median_ms

    quoted = " ".join(shlex.quote(c) for c in command)
    done = remote.run(f"cd {_remote_path(remote_dir)} && {quoted}", timeout=RUN_TIMEOUT)
    if done.returncode != 0:
        raise EdgekitError(
            f"{name} failed on {remote.host} (exit {done.returncode}): {last_line(done.stderr)}"
        )
    got = remote.run(f"cat {_remote_path(remote_dir)}/validation/{name}.bin")
    outputs = np.frombuffer(got.stdout, np.int8)
    if got.returncode != 0 or outputs.size != ref.outputs.size:
        raise EdgekitError(
            f"{name} on {remote.host} wrote {outputs.size} output bytes, expected "
            f"{ref.outputs.size}"
        )
    latency = parse_latency(done.stdout.decode(errors="replace"))
    run = RunOutput(
        outputs.reshape(ref.outputs.shape), f"ssh {remote.host}", latency_us=latency, native=True
    )
    row = compare_outputs(ref, run, name, [], **expected)
    row.update(
        status="ok",
        latency_ms=median_ms(latency),
        latency_inferences=len(latency) if latency else None,
        command=" ".join(command),
    )
    return row


def _remote_path(path: str) -> str:
    """``path`` quoted for the board's shell; a relative path stays relative to the home folder
    (a leading ``~/`` is kept unquoted so the shell expands it)."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)
