"""What `db partition`, `db archive` and `db restore` show: progress while they work (a live
line with rows and bytes on a terminal, one line per finished step in CI) and their reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from ..db.progress import Count, Event, Step
from .progress import is_interactive


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def _amount(count: Count) -> str:
    if count.unit == "bytes":
        return _size(count.done) + (f" of {_size(count.total)}" if count.total else "")
    text = f"{count.done:,} {count.unit}"
    if count.total:
        text += f" of ~{count.total:,}"
    return text


def _clock(start: float, now: float) -> str:
    seconds = int(now - start)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class PlainDbDisplay:
    """One line per finished step, with the elapsed time: what CI logs want."""

    def __init__(self, write: Callable[[str], Any], clock: Callable[[], float] = time.monotonic):
        self._write = write
        self._clock = clock
        self._start = clock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step) and event.done:
            detail = f": {event.detail}" if event.detail else ""
            self._write(
                f"[{_clock(self._start, self._clock())}] {event.where} {event.step}{detail}\n"
            )


class LiveDbDisplay:
    """On a terminal: the running step with its rows or bytes so far, redrawn in place;
    finished steps scroll above it."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.live import Live

        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._current = "starting"
        self._console = Console(file=stream, highlight=False, emoji=False)
        self._live = Live(
            console=self._console, refresh_per_second=8, transient=True, get_renderable=self._render
        )

    def _render(self) -> Any:
        from rich.text import Text

        with self._lock:
            return Text(f"{self._current} · {_clock(self._start, self._clock())}")

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, Count):
                self._current = f"{event.where} {event.step}: {_amount(event)}"
                return
            if not event.done:
                self._current = f"{event.where} {event.step}" + (
                    f" ({event.detail})" if event.detail else ""
                )
                return
            line = f"{event.where} {event.step}" + (f": {event.detail}" if event.detail else "")
        self._live.console.print(f"✓ {line}", markup=False)

    def __enter__(self) -> LiveDbDisplay:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


@contextmanager
def db_display(stream: IO[str], env: Mapping[str, str]) -> Iterator[Callable[[Event], None]]:
    if is_interactive(stream, env):
        with LiveDbDisplay(stream) as live:
            yield live
    else:

        def write(text: str) -> None:
            stream.write(text)
            stream.flush()

        yield PlainDbDisplay(write)


# -- reports -------------------------------------------------------------------------------


def partition_text(report: Any) -> str:
    lines: list[str] = []
    for t in report.tables:
        head = f"shard {t.shard} {t.table}: {t.action}"
        if t.rows_copied:
            head += f", {t.rows_copied:,} rows copied"
        if t.swap_seconds:
            head += f", names swapped in {t.swap_seconds * 1000:.0f} ms"
        if t.rows_moved:
            head += f", {t.rows_moved:,} rows moved out of the default partition"
        if t.partitions_created and not report.dry_run:
            head += f", {len(t.partitions_created)} partition(s) created"
        lines.append(head)
        if report.dry_run and t.statements:
            lines.append("")
            lines.extend(f"  {s};" if not s.startswith("--") else f"  {s}" for s in t.statements)
            lines.append("")
        if t.default_rows:
            lines.append(
                f"  warning: {t.default_rows:,} row(s) are left in the default partition of "
                f"{t.table}: look at them"
            )
    if report.dry_run:
        lines.append("dry run: nothing was changed")
    return "\n".join(lines) + "\n"


def partition_json(report: Any) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "tables": [
            {
                "shard": t.shard,
                "table": t.table,
                "action": t.action,
                "rows_copied": t.rows_copied,
                "partitions_created": t.partitions_created,
                "default_rows": t.default_rows,
                "rows_moved": t.rows_moved,
                "swap_ms": round(t.swap_seconds * 1000),
                "statements": t.statements,
            }
            for t in report.tables
        ],
    }


def archive_text(report: Any) -> str:
    lines = [
        f"{table}: partitions ending on or before {cutoff} are archived"
        for table, cutoff in sorted(report.cutoffs.items())
    ]
    if not report.partitions:
        lines.append("nothing to archive")
    for p in report.partitions:
        line = f"shard {p.shard} {p.partition} ({p.lower[:10]} .. {p.upper[:10]}): {p.action}"
        if not report.dry_run:
            line += f", {p.rows:,} rows, {_size(p.bytes)}"
        lines.append(line + f" -> s3://{p.bucket}/{p.key}")
        if report.dry_run:
            lines.extend(f"  {s}" for s in p.statements)
    if report.dry_run:
        lines.append("dry run: nothing was changed")
    return "\n".join(lines) + "\n"


def archive_json(report: Any) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "cutoffs": report.cutoffs,
        "partitions": [
            {
                "shard": p.shard,
                "table": p.table,
                "partition": p.partition,
                "lower": p.lower,
                "upper": p.upper,
                "action": p.action,
                "bucket": p.bucket,
                "key": p.key,
                "rows": p.rows,
                "bytes": p.bytes,
                "statements": p.statements,
            }
            for p in report.partitions
        ],
    }


def restore_text(result: Any) -> str:
    if result.action == "unchanged":
        return (
            f"shard {result.shard} {result.partition} is already restored "
            f"({result.rows:,} rows, as in the manifest)\n"
        )
    return (
        f"shard {result.shard} {result.partition}: restored {result.rows:,} rows from "
        f"s3://{result.bucket}/{result.key} (checksum and row count match the manifest)\n"
    )


def restore_json(result: Any) -> dict[str, Any]:
    return {
        "shard": result.shard,
        "table": result.table,
        "partition": result.partition,
        "action": result.action,
        "rows": result.rows,
        "bucket": result.bucket,
        "key": result.key,
    }


def app_role_text(results: Any, dry_run: bool) -> str:
    """`db app-role`: per shard, the login role made ready (or, dry, the SQL it would run,
    the password shown as '***')."""
    lines: list[str] = []
    for r in results:
        if dry_run:
            lines += [f"{r.shard}: would run", *(f"  {s};" for s in r.statements)]
        else:
            lines.append(f"{r.shard}: {r.login} ready (in floyo_app, the app's grants)")
    return "\n".join(lines) + "\n"
