"""``edgekit deploy`` against a real OpenSSH server, started on loopback by the test, with the
host target as the board: the bundle is copied, every artifact runs there, and the board's
results land in the build's report."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import error_lines

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(
    not (Path(SSHD).exists() and shutil.which("ssh") and shutil.which("ssh-keygen")),
    reason="OpenSSH is not installed: run 'make setup' (openssh-server, openssh-client)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """An sshd on 127.0.0.1 that lets this user in with a key made here; the ssh options."""
    home = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True
        )
    (home / "authorized_keys").write_text((home / "user_key.pub").read_text())
    port = _free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation folder
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout
    options = [
        "--port",
        str(port),
        "--identity",
        str(home / "user_key"),
        "--ssh-option",
        f"UserKnownHostsFile={home / 'known_hosts'}",
        "--ssh-option",
        "StrictHostKeyChecking=accept-new",
    ]
    with open(home / "sshd.log", "w") as log:
        server = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            for _ in range(100):  # until it listens
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"sshd did not start: {(home / 'sshd.log').read_text()}")
            yield f"{user.strip()}@127.0.0.1", options, home
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture
def build_copy(host_build, tmp_path):
    """A private copy of the session's host build (deploy rewrites its report)."""
    folder = tmp_path / "build"
    shutil.copytree(host_build[0], folder)
    return folder


def test_deploy_runs_every_artifact_on_the_board_and_reports_it(cli, board, build_copy, tmp_path):
    host, options, _ = board
    remote = tmp_path / "on-board"
    code, out, err = cli(
        "deploy", build_copy, "--target", "host", "--host", host, *options,
        "--python", sys.executable, "--remote-dir", remote, "--inputs", 8, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    # the bundle stays on the board, as a user runs it there
    assert (remote / "c" / "host" / "model_run").is_file()
    assert (remote / "litert" / "run_litert.py").is_file()
    assert (remote / "validation" / "c.bin").stat().st_size == 8 * 10
    assert not list(tmp_path.glob("on-board.new-*"))  # unpacked aside, renamed onto it

    report = json.loads((build_copy / "report.json").read_text())
    section = report["deploy"]
    assert section["host"] == host and section["inputs"] == 8
    assert section["machine"].endswith("x86_64")
    results = {row["backend"]: row for row in section["results"]}
    assert set(results) == {"c", "litert", "tvm", "onnx"}
    assert results["c"]["bit_exact"] is True and results["c"]["max_abs_diff"] == 0
    for name in ("litert", "tvm", "onnx"):
        assert results[name]["top1_agreement"] >= 0.875
    assert (remote / "tvm" / "model.so").is_file() and (remote / "onnx" / "io.json").is_file()
    assert results["c"]["float_top1_agreement"] >= 0.875 and results["c"]["top1"] >= 0.875
    for row in results.values():
        assert row["status"] == "ok" and row["runner"] == f"ssh {host}"
        assert row["latency_ms"] > 0 and row["latency_inferences"] == 8
    assert section["fastest"] == min(results.values(), key=lambda r: r["latency_ms"])["backend"]
    assert "c on " in out and "fastest on" in out
    # the people's reports say it too
    markdown = (build_copy / "report.md").read_text()
    assert "## On the board" in markdown and host in markdown
    assert f"Fastest where measured: {section['fastest']}" in markdown


def test_a_runtime_missing_on_the_board_fails_only_its_backend(cli, board, build_copy, tmp_path):
    host, options, home = board
    # a board Python without numpy (so no runtime): the c program still runs and is reported
    bare = home / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    bare.chmod(0o755)
    code, out, err = cli(
        "deploy", build_copy, "--target", "host", "--host", host, *options,
        "--python", bare, "--remote-dir", tmp_path / "b", "--inputs", 2, "--quiet",
    )  # fmt: skip
    assert code == 1
    assert error_lines(err) == ["Error: 3 of 4 artifacts did not run on " + host + " (see above)"]
    results = {r["backend"]: r for r in json.loads((build_copy / "report.json").read_text())[
        "deploy"]["results"]}  # fmt: skip
    assert results["c"]["status"] == "ok" and results["c"]["bit_exact"] is True
    for name in ("litert", "tvm", "onnx"):
        assert results[name]["status"] == "failed"
        assert "No module named 'numpy'" in results[name]["error"]


def test_an_unreachable_board_is_one_line_and_leaves_the_report(cli, board, build_copy):
    _, options, home = board
    before = (build_copy / "report.json").read_bytes()
    closed = _free_port()
    code, _, err = cli(
        "deploy", build_copy, "--target", "host", "--host", "nobody@127.0.0.1",
        "--port", closed, "--identity", home / "user_key", "--quiet",
    )  # fmt: skip
    assert code == 2
    [line] = error_lines(err)
    assert "cannot reach nobody@127.0.0.1 over SSH" in line and "--port" in line
    assert (build_copy / "report.json").read_bytes() == before


def test_deploy_refuses_a_folder_built_for_another_target(cli, build_copy):
    code, _, err = cli("deploy", build_copy, "--target", "rpi4", "--host", "pi@board")
    assert code == 2
    assert error_lines(err) == [
        f"Error: '{build_copy}' was built for host, not rpi4; pass --target host or build "
        "for rpi4 first"
    ]


@pytest.mark.parametrize("path", ["/", "~", "~/", ".", "..", "/tmp", "a/..", ""])
def test_remote_dir_never_names_a_folder_that_is_not_edgekits(path):
    from edgekit.errors import EdgekitError
    from edgekit.ondevice.deploy import check_remote_dir

    with pytest.raises(EdgekitError, match="would replace a folder that is not edgekit's"):
        check_remote_dir(path)
    assert check_remote_dir("~/edgekit-rpi4") == "~/edgekit-rpi4"
    assert check_remote_dir("/tmp/edgekit/rpi4") == "/tmp/edgekit/rpi4"
