"""Native code that can abort, run in a child process, so that its death is one error line.

LiteRT's reference kernels call abort() on degenerate models: in edgekit's own process that
kills the build with SIGABRT and leaves its temporary folder behind. ``Isolated`` builds an
object in a child process and calls its methods there; if the child dies, the call raises
``ChildDied``, an ``EdgekitError`` naming the native code, the stage and what it was doing.

The child is a fresh interpreter (``sys.executable``), not a fork: TensorFlow's threads in the
parent make fork unsafe. It is started directly rather than by multiprocessing's 'spawn', which
runs the parent's ``__main__`` again in the child (a user's script without a main guard would
build again; pytest or the CLI would be imported for nothing). It imports only what the
object's class needs (``edgekit.interpreter.Runner``: LiteRT and numpy, not TensorFlow), talks
over a socket pair with multiprocessing's pickling ``Connection``, writes no core file, and runs
in its own process group: Ctrl-C reaches edgekit alone, which ends the child when it leaves the
``with`` block, however it leaves it.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from edgekit.errors import EdgekitError, InternalError

_HOW = {"SIGABRT": "aborted", "SIGSEGV": "crashed", "SIGBUS": "crashed", "SIGFPE": "crashed"}
_STOP_SECONDS = 5  # for a child asked to finish before it is killed


class ChildDied(EdgekitError):
    """The child process ended in the middle of a call: killed by a signal (an abort, a
    segmentation fault, the out-of-memory killer) or exited."""

    def __init__(self, what: str, stage: str, during: str, exitcode: int | None):
        self.signal = signal.Signals(-exitcode).name if exitcode and exitcode < 0 else None
        how = (
            f"{_HOW.get(self.signal, 'was killed')} ({self.signal})"
            if self.signal
            else f"exited (code {exitcode})"
        )
        super().__init__(f"{what} {how} in {stage} while {during}")


class Isolated:
    """An object that lives in a child process::

        with Isolated("the reference interpreter (LiteRT BUILTIN_REF)", "validate c") as child:
            child.open("loading the model", Runner, model, reference=True)
            outputs, _ = child.call("running the model", "run", inputs)

    ``what`` and ``stage`` name the native code and the stage, each ``during`` what it was
    doing, in the error if the child dies. Arguments and results travel pickled; exceptions
    raised in the child are raised again here.
    """

    def __init__(self, what: str, stage: str):
        self.what, self.stage = what, stage
        self._pending: str | None = None

    def __enter__(self) -> Isolated:
        ours, theirs = socket.socketpair()
        # the edgekit this one is, whether installed or run from a source tree
        path = os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env={**os.environ, "PYTHONPATH": path.rstrip(os.pathsep)},
                process_group=0,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None and self._process.poll() is None:
            try:
                self._conn.send(None)  # finish
                self._process.wait(_STOP_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self._process.poll() is None:  # an exception or Ctrl-C here: the child may be mid-call
            self._process.kill()
        self._process.wait()
        self._conn.close()

    def open(self, during: str, cls, *args, **kwargs) -> None:
        """Build ``cls(*args, **kwargs)`` in the child: the object later calls use."""
        self._send(during, ("open", cls, args, kwargs))
        self.receive()

    def call(self, during: str, method: str, *args, **kwargs):
        """``method(*args, **kwargs)`` of the child's object; its result."""
        self.submit(during, method, *args, **kwargs)
        return self.receive()

    def submit(self, during: str, method: str, *args, **kwargs) -> None:
        """Start ``call`` without waiting: the parent works meanwhile, then ``receive``s."""
        self._send(during, ("call", method, args, kwargs))

    def _send(self, during: str, request: tuple) -> None:
        if self._pending is not None:
            raise InternalError(f"{self.stage}: a call to the child is pending ({self._pending})")
        self._pending = during
        try:
            self._conn.send(request)
        except OSError:  # the pipe broke: the child is gone
            self._died()

    def receive(self):
        """The result of the pending call, or its exception raised here."""
        if self._pending is None:
            raise InternalError(f"{self.stage}: nothing was sent to the child")
        try:
            ok, value = self._conn.recv()
        except (EOFError, OSError):
            self._died()
        self._pending = None
        if not ok:
            raise value
        return value

    def _died(self):
        try:
            code = self._process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:  # it closed its end and lives on: end it
            self._process.kill()
            code = self._process.wait()
        raise ChildDied(self.what, self.stage, self._pending or "starting", code)


_CHILD = "import sys; from edgekit.isolated import serve; serve(int(sys.argv[1]))"


def serve(fd: int) -> None:
    """The child: build the object, then answer calls on ``fd`` until told to finish or the
    parent goes away."""
    conn = Connection(fd)
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    held = None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        kind, target, args, kwargs = request
        try:
            if kind == "open":
                held, reply = target(*args, **kwargs), (True, None)
            else:
                reply = (True, getattr(held, target)(*args, **kwargs))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # a result or exception that does not pickle: edgekit's bug
            conn.send((False, InternalError(f"{type(exc).__name__}: {exc}")))
