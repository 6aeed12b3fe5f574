"""The one progress display: what the library is doing, shown as it happens, for every command
that takes a progress.Reporter (the engine commands, `setup`, every `db` command).

Three forms, one meaning:
- live on a terminal (`rich.progress`): the running steps with their bars, rows or bytes
  and elapsed time, redrawn in place; finished steps scroll above them;
- one plain line per step elsewhere (CI logs), each with the elapsed time;
- JSON lines with `--format json`: one object per event, for a machine.

The library reports progress.ProgressEvent (Step, Count, ResourceEvent), never text; this
module alone turns them into text. Nothing here imports Pulumi. Progress goes to stderr, so
stdout stays clean for results (`preview --format json`). Secrets never reach this module:
the engine redacts every message before it builds an event.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import IO, Any

from ..offline.inventory import short_type
from ..progress import QUIET_OPS, Count, ProgressEvent, ResourceEvent, Step
from .engine import counts_line
from .text import is_ci, size_text

_ACTIVE = {  # what a running step is called while it runs
    "create": "creating",
    "update": "updating",
    "delete": "deleting",
    "replace": "replacing",
    "create-replacement": "creating replacement",
    "delete-replaced": "deleting replaced",
    "import": "importing",
}
_DONE = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted replaced",
    "import": "imported",
}
_SHOWN_RUNNING = 12  # running resources the live display lists; the rest are counted


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def amount(count: Count) -> str:
    """`12,000 rows of ~200,000`, `8.4 MB of 20.0 MB`."""
    if count.unit == "bytes":
        return size_text(count.done) + (f" of {size_text(count.total)}" if count.total else "")
    text = f"{count.done:,} {count.unit}"
    if count.total:
        text += f" of ~{count.total:,}"
    return text


def _title(where: str, step: str) -> str:
    return f"{where} {step}".strip()


def step_line(event: Step) -> str:
    """`shard 0 orders copy rows: 200000 rows`: a step, where it ran, and its detail."""
    return _title(event.where, event.step) + (f": {event.detail}" if event.detail else "")


class _Tally:
    """What every form of the display keeps: the engine operation (what is running, what is
    done, how long it took) and when the display started."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.started = clock()
        self.op = ""
        self.total: int | None = None
        self.finished: set[str] = set()  # a replacement's steps finish one resource
        self.failed = 0
        self.running: dict[str, ResourceEvent] = {}
        self.errors: dict[str, str] = {}  # urn -> last error diagnostic, for the failure line

    def seconds(self) -> float:
        return self.clock() - self.started

    def elapsed(self) -> str:
        return _clock_text(self.seconds())

    def update(self, event: ResourceEvent) -> bool:
        """Record `event`; False when it is not worth showing."""
        if event.kind == "start":
            self.op, self.total, self.failed = event.op, event.total, 0
            self.running.clear()
            self.finished.clear()
            return True
        if event.kind in ("step", "done", "failed") and event.op in QUIET_OPS:
            return False
        if event.kind == "step":
            if event.preview:
                return False  # a preview plans steps; the summary says how many
            self.running[event.urn] = event
        elif event.kind == "done":
            if event.preview:
                return False
            self.running.pop(event.urn, None)
            self.finished.add(event.urn)
        elif event.kind == "failed":
            self.running.pop(event.urn, None)
            self.failed += 1
        elif event.kind == "diagnostic":
            if event.severity == "error" and event.urn:
                self.errors[event.urn] = event.message
            return event.severity in ("warning", "error")
        return True

    def progress(self) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{len(self.finished)}{total} done{failed}"


def describe(event: ResourceEvent, tally: _Tally) -> str:
    """The one line an engine event prints (without the clock)."""
    what = f"{short_type(event.type)} {event.name}".strip()
    if event.kind == "start":
        expected = f" ({event.total} changes)" if event.total is not None else ""
        return f"{event.op} started{expected}"
    if event.kind == "step":
        return f"{_ACTIVE.get(event.op, event.op)} {what}"
    if event.kind == "done":
        return f"{_DONE.get(event.op, event.op)} {what} [{tally.progress()}]"
    if event.kind == "failed":
        message = event.message or tally.errors.get(event.urn, "")
        return f"FAILED {event.op} {what}: {message}".rstrip(": ")
    if event.kind == "diagnostic":
        where = f" ({short_type(event.type)} {event.name})" if event.name else ""
        return f"{event.severity}{where}: {event.message}"
    return f"{tally.op or 'operation'} finished: {counts_line(event.counts, to='')}"


class PlainDisplay:
    """One line per finished step and per engine event, each with the elapsed time: what
    CI logs want. A step's start and its running counts print nothing (the next line would
    only repeat them)."""

    def __init__(
        self, write: Callable[[str], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._write = write
        self._tally = _Tally(clock)
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            line = self._line(event)
            if line is not None:
                self._write(f"[{self._tally.elapsed()}] {line}\n")

    def _line(self, event: ProgressEvent) -> str | None:
        if isinstance(event, ResourceEvent):
            return describe(event, self._tally) if self._tally.update(event) else None
        if isinstance(event, Step) and event.done:
            return step_line(event)
        return None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing to pause: lines never overwrite a prompt."""
        yield


class JsonDisplay:
    """One JSON object per line (`--format json`): `event` is "step", "count" or "resource",
    `t` the seconds since the display started. A step's start and its end are both written;
    running counts at most once a second per step (and when they reach their total), so a
    fast copy does not flood the log; engine events as the plain display shows them."""

    COUNT_EVERY = 1.0  # seconds between two counts of one step

    def __init__(
        self, write: Callable[[str], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._write = write
        self._tally = _Tally(clock)
        self._lock = threading.Lock()
        self._counted: dict[tuple[str, str], float] = {}  # (where, step) -> last count's time

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            record = self._record(event)
            if record is not None:
                self._write(json.dumps(record, sort_keys=True) + "\n")

    def _record(self, event: ProgressEvent) -> dict[str, Any] | None:
        now = round(self._tally.seconds(), 3)
        if isinstance(event, ResourceEvent):
            if not self._tally.update(event):
                return None
            return {"event": "resource", "t": now, **asdict(event), "counts": dict(event.counts)}
        key = (event.where, event.step)
        if isinstance(event, Count):
            last = self._counted.get(key)
            finished = event.total is not None and event.done >= event.total
            if last is not None and now - last < self.COUNT_EVERY and not finished:
                return None
            self._counted[key] = now
            return {"event": "count", "t": now, **asdict(event)}
        if event.done:
            self._counted.pop(key, None)
        return {"event": "step", "t": now, **asdict(event)}

    @contextmanager
    def paused(self) -> Iterator[None]:
        yield


class LiveDisplay:
    """On a terminal, a `rich.progress` display: the engine operation with done/total, the
    resources and steps running, each with its bar (rows, bytes) and elapsed time, redrawn
    in place; finished steps, failures and warnings scroll above it."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._tally = _Tally(clock)
        self._lock = threading.Lock()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            console=Console(file=stream, highlight=False, emoji=False),
            transient=True,
            refresh_per_second=8,
            get_time=clock,
        )
        self._op: Any = None  # the engine operation's task
        self._tasks: dict[Any, Any] = {}  # a urn or (where, step) -> its task

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            line, style = self._apply(event)
        if line is not None:
            self.progress.console.print(line, style=style, markup=False)

    def _task(self, key: Any, description: str, total: float | None = None) -> Any:
        if key not in self._tasks:
            self._tasks[key] = self.progress.add_task(description, total=total, amount="")
        return self._tasks[key]

    def _drop(self, key: Any) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)

    def _apply(self, event: ProgressEvent) -> tuple[str | None, str | None]:
        """Update the tasks; the line to print above them (and its style), if any."""
        if isinstance(event, Count):
            task = self._task((event.where, event.step), _title(event.where, event.step))
            self.progress.update(
                task, total=event.total, completed=event.done, amount=amount(event)
            )
            return None, None
        if isinstance(event, Step):
            if not event.done:
                detail = f" ({event.detail})" if event.detail else ""
                self._task((event.where, event.step), _title(event.where, event.step) + detail)
                return None, None
            self._drop((event.where, event.step))
            return f"✓ {step_line(event)}", None
        return self._engine(event)

    def _engine(self, event: ResourceEvent) -> tuple[str | None, str | None]:
        tally = self._tally
        if not tally.update(event):
            return None, None
        if event.kind == "start":
            for urn in [k for k in self._tasks if isinstance(k, str)]:
                self._drop(urn)
            if self._op is not None:
                self.progress.remove_task(self._op)
            self._op = self.progress.add_task(event.op, total=event.total, amount="")
        elif event.kind == "step" and len(self._tasks) < _SHOWN_RUNNING:
            what = f"  {_ACTIVE.get(event.op, event.op)} {short_type(event.type)} {event.name}"
            self._task(event.urn, what)
        elif event.kind in ("done", "failed"):
            self._drop(event.urn)
        if self._op is not None:
            more = len(tally.running) - sum(1 for k in self._tasks if isinstance(k, str))
            self.progress.update(
                self._op,
                completed=len(tally.finished),
                description=f"{tally.op or 'working'}"
                + (f" (and {more} more running)" if more > 0 else ""),
                amount=tally.progress(),
            )
        if event.kind in ("done", "failed", "diagnostic", "summary"):
            red = event.kind == "failed" or event.severity == "error"
            return describe(event, tally), "red" if red else None
        return None, None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop redrawing while the person answers a prompt."""
        self.progress.stop()
        try:
            yield
        finally:
            self.progress.start()

    def __enter__(self) -> LiveDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def is_interactive(stream: IO[str], env: Mapping[str, str]) -> bool:
    """A person is watching: a terminal, not CI, not a dumb terminal."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not is_ci(env) and env.get("TERM") != "dumb"


Display = PlainDisplay | JsonDisplay | LiveDisplay


@contextmanager
def display(
    stream: IO[str], env: Mapping[str, str], *, json_lines: bool = False
) -> Iterator[Display]:
    """The display for `stream`: JSON lines when asked (`--format json`), else live on a
    terminal, plain lines otherwise."""

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    if json_lines:
        yield JsonDisplay(write)
    elif is_interactive(stream, env):
        with LiveDisplay(stream) as live:
            yield live
    else:
        yield PlainDisplay(write)
