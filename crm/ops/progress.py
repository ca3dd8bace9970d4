"""Progress of long CLI work (imports, training, rescoring, the demo's loading): a rich bar on stderr, only when
stderr is a terminal.

In CI, pipes and files nothing is drawn, so stdout stays one plain line per result and stderr stays for errors.
Commands ask for a `task` (or wrap an iterable with `track`) and advance it; they never test for a terminal
themselves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

T = TypeVar("T")


class Tracker(Protocol):
    def advance(self, steps: int = 1) -> None: ...
    def describe(self, description: str) -> None: ...


class _Silent:
    def advance(self, steps: int = 1) -> None:
        pass

    def describe(self, description: str) -> None:
        pass


class _Drawn:
    def __init__(self, progress: object, task_id: object) -> None:
        self._progress = progress
        self._task = task_id

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._task, steps)  # type: ignore[attr-defined]

    def describe(self, description: str) -> None:
        self._progress.update(self._task, description=description)  # type: ignore[attr-defined]


def shown() -> bool:
    """Whether progress is drawn: stderr is a terminal that understands cursor movement."""
    try:
        return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Tracker]:
    """A bar (with a total) or a spinner with elapsed time (without one) for the life of the block.

    Transient: it is wiped when the work ends, leaving only the command's result lines on the screen."""
    if not shown():
        yield _Silent()
        return
    # rich only on a terminal: pipes and CI, most runs of the CLI, never load it.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        yield _Drawn(progress, progress.add_task(description, total=total))


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """The items, advancing a bar as each one is taken (by whoever consumes the iterator)."""
    with task(description, total) as tracker:
        for item in items:
            yield item
            tracker.advance()
