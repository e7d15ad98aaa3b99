"""The exception a user can cause (and its exit code), and the one edgekit's own bugs raise."""


class EdgekitError(Exception):
    """A mistake the user can fix (bad path, unknown target, unusable model or data).

    The CLI prints it as one line, ``Error: <message>``, and exits with ``EXIT_USAGE``;
    the message says what happened and what to do.
    """


class CannotRun(EdgekitError):
    """An artifact that was built but cannot be run on this machine (no emulated runtime for
    its architecture): its validation is skipped, never faked, and the artifact is kept."""


class CannotTake(EdgekitError):
    """A backend that cannot take this model (an operator, type or shape it has no way to
    run): the build skips it with this reason, and the other backends go on."""


class InternalError(Exception):
    """edgekit broke one of its own invariants: a bug in edgekit, not something the user did.
    Raised instead of ``assert`` (which ``python -O`` drops); the CLI says it is a bug and where
    the traceback was written."""


class Terminated(BaseException):
    """SIGTERM arrived (a job killed, a CI timeout). Like ``KeyboardInterrupt`` it unwinds every
    ``with`` and ``finally`` (``atomic_folder`` removes its temporary folder), but it is not one:
    CPython ends a process by SIGINT, whatever ``main`` returns, once a ``KeyboardInterrupt``
    has crossed C code that runs Python (pybind11, TensorFlow's imports)."""


EXIT_USAGE = 2


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of a third-party exception's message, for a one-line ``Error:``."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def last_line(text: str | bytes, prefix: str = "") -> str:
    """The last non-empty line of a tool's output (the last one starting with ``prefix`` when
    there is one): where command-line tools put the reason they failed."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    marked = [line for line in lines if prefix and line.startswith(prefix)]
    return (marked or lines or ["no message"])[-1]
