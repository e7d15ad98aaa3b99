"""Stage-by-stage progress on stderr; the stage records go into the report."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Stage:
    name: str
    status: str  # "done", "failed" or "skipped"
    detail: str
    seconds: float


class Log:
    """Stage-by-stage progress on stderr; the stage records go into the report."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.stages: list[Stage] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        """Time a stage; the body appends its one-line outcome to the yielded list."""
        detail: list[str] = []
        start = time.perf_counter()
        self.say(f"{name}: ...")
        yield detail
        seconds = time.perf_counter() - start
        self.stages.append(Stage(name, "done", "; ".join(detail), round(seconds, 2)))
        self.say(f"{name}: {'; '.join(detail)} ({seconds:.1f} s)")

    def fail(self, name: str, why: str) -> None:
        self.stages.append(Stage(name, "failed", why, 0.0))
        self.say(f"{name}: failed, {why}")

    def skip(self, name: str, why: str) -> None:
        self.stages.append(Stage(name, "skipped", why, 0.0))
        self.say(f"{name}: skipped, {why}")

    def say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)
