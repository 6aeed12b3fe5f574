"""What the engine is doing, shown as it happens: a live display on a terminal, one plain line
per event elsewhere (CI logs).

The engine (floyo_scale.engine) turns Pulumi's engine events into the small `Event` below and hands
each one to a sink; nothing here imports Pulumi. Progress goes to stderr, so stdout stays
clean for results (`preview --format json`). Secrets never reach this module: the engine
redacts every message before it builds an Event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

from ..engine.events import Event
from ..engine.results import QUIET_OPS
from ..offline.inventory import short_type
from .plan import change_mark
from .text import is_ci, paint

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


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


class _Tally:
    """Counts shared by both displays: what is running, what is done, how long it took."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.started = clock()
        self.op = ""
        self.total: int | None = None
        self.finished: set[str] = set()  # a replacement's steps finish one resource
        self.failed = 0
        self.running: dict[str, Event] = {}
        self.errors: dict[str, str] = {}  # urn -> last error diagnostic, for the failure line

    def elapsed(self) -> str:
        return _clock_text(self.clock() - self.started)

    def update(self, event: Event) -> bool:
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


def describe(event: Event, tally: _Tally) -> str:
    """The one line an event prints (without the clock)."""
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
    """One line per event, each with the elapsed time: what CI logs want."""

    def __init__(self, write: Callable[[str], Any], clock: Callable[[], float] = time.monotonic):
        self._write = write
        self._tally = _Tally(clock)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self._tally.update(event):
                self._write(f"[{self._tally.elapsed()}] {describe(event, self._tally)}\n")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing to pause: lines never overwrite a prompt."""
        yield


class LiveDisplay:
    """A rich Live panel on a terminal: done/total, what is running, elapsed time; finished
    and failed steps scroll above it."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.live import Live

        self._tally = _Tally(clock)
        self._lock = threading.Lock()
        self._console = Console(file=stream, highlight=False, emoji=False)
        self._live = Live(
            console=self._console, refresh_per_second=4, transient=True, get_renderable=self._render
        )

    def _render(self) -> Any:
        from rich.text import Text

        with self._lock:
            tally = self._tally
            head = f"{tally.op or 'working'}: {tally.progress()} · {tally.elapsed()}"
            lines = [head] + [
                f"  {_ACTIVE.get(e.op, e.op)} {short_type(e.type)} {e.name}"
                for e in list(tally.running.values())[:12]
            ]
            if len(tally.running) > 12:
                lines.append(f"  ... and {len(tally.running) - 12} more")
        return Text("\n".join(lines))

    def __call__(self, event: Event) -> None:
        with self._lock:
            shown = self._tally.update(event)
            line = describe(event, self._tally) if shown else ""
        if shown and event.kind in ("done", "failed", "diagnostic", "summary"):
            style = "red" if event.kind == "failed" or event.severity == "error" else None
            self._live.console.print(line, style=style, markup=False)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop redrawing while the person answers a prompt."""
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()

    def __enter__(self) -> LiveDisplay:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()


def is_interactive(stream: IO[str], env: Mapping[str, str]) -> bool:
    """A person is watching: a terminal, not CI, not a dumb terminal."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not is_ci(env) and env.get("TERM") != "dumb"


Display = PlainDisplay | LiveDisplay


@contextmanager
def display(stream: IO[str], env: Mapping[str, str]) -> Iterator[Display]:
    """The right display for `stream`: live on a terminal, plain lines otherwise."""
    if is_interactive(stream, env):
        with LiveDisplay(stream) as live:
            yield live
    else:

        def write(text: str) -> None:
            stream.write(text)
            stream.flush()

        yield PlainDisplay(write)


# -- reports: what a command prints on stdout when it is done -------------------------------
# They take floyo_scale.engine's result types (typed Any here: this module does not import Pulumi)
# and show type tokens, names and changed keys only: never a value, so never a secret.


def _change_mark(step: Any) -> str:
    return "  " + paint("!! destroys data", "bold red") if step.destroys_data else ""


def preview_table(report: Any) -> str:
    """A line per change: `+ create`, `~ update`, `+- replace`, `- delete` (in colour on a
    terminal), the type, the name, the changed keys."""
    changes = report.changes
    lines = [f"Preview: {report.op} of stack {report.stack}", ""]
    for step in sorted(changes, key=lambda s: (s.op, s.type, s.name)):
        keys = f" ({', '.join(step.keys)})" if step.keys else ""
        lines.append(
            f"{change_mark(step.op)} {short_type(step.type)} {step.name}{keys}{_change_mark(step)}"
        )
    lines += ["", counts_line(report.counts) if changes else "no changes"]
    if report.unreadable:
        lines.append(_unreadable(report.unreadable))
    return "\n".join(lines) + "\n"


def _unreadable(count: int) -> str:
    return (
        f"warning: {count} engine event(s) could not be read: the list may be incomplete, "
        "and `up` does not go on without --allow-destroy"
    )


def preview_json(report: Any) -> dict[str, Any]:
    return {
        "op": report.op,
        "stack": report.stack,
        "changes": [
            {
                "op": s.op,
                "type": s.type,
                "name": s.name,
                "urn": s.urn,
                "keys": list(s.keys),
                "stateful": s.stateful,
                "destroys_data": s.destroys_data,
            }
            for s in sorted(report.changes, key=lambda s: (s.op, s.type, s.name))
        ],
        "summary": dict(sorted(report.counts.items())),
        # events that could not be read (or that the summary counts and none announced)
        "unreadable": report.unreadable,
    }


def preview_markdown(report: Any) -> str:
    from .text import limit_markdown, md_code, md_escape

    lines = [f"### floyo-scale preview: {md_code(report.stack)}", ""]
    if report.unreadable:
        lines += [f"> {_unreadable(report.unreadable)}", ""]
    if not report.changes:
        return "\n".join(lines + ["No changes.", ""])
    lines += [counts_line(report.counts), "", "| op | type | name | changed |", "|---|---|---|---|"]
    for s in sorted(report.changes, key=lambda s: (s.op, s.type, s.name)):
        mark = " **destroys data**" if s.destroys_data else ""
        lines.append(
            f"| {s.op}{mark} | {md_code(short_type(s.type))} | {md_escape(s.name)} "
            f"| {md_escape(', '.join(s.keys))} |"
        )
    return limit_markdown("\n".join(lines) + "\n")


def counts_line(counts: Mapping[str, int], to: str = "to ") -> str:
    """`1 to create, 2 to update (40 unchanged)`; `to=""` once they are done."""
    changed = {k: v for k, v in counts.items() if k not in QUIET_OPS and v}
    text = ", ".join(f"{v} {to}{k}" for k, v in sorted(changed.items())) or "no changes"
    same = counts.get("same", 0)
    return text + (f" ({same} unchanged)" if same else "")


def review_text(review: Any) -> str:
    """What `up` found before changing anything: phase change, data loss (allowed), cost."""
    from ..cost.currency import money

    lines = [f"up: stack {review.stack} at phase {review.phase}"]
    if review.deployed_phase and review.deployed_phase != review.phase:
        lines.append(f"  deployed at phase {review.deployed_phase}")
    lines.append("  " + counts_line(review.preview.counts))
    if review.downgrade is not None:
        lines.append(review.downgrade.describe())
    for loss in review.losses:
        lines.append(f"  allowed by --allow-destroy: {loss.describe()}")
    cost = review.cost
    if cost is not None:
        lines.append(
            f"  monthly cost: {money(cost.total_low)} to {money(cost.total_high)}"
            + (f" (budget {money(cost.budget_monthly)})" if cost.budget_monthly else "")
        )
    lines += [f"  note: {note}" for note in review.notes]
    return "\n".join(lines) + "\n"


def drift_table(report: Any) -> str:
    if not report.has_drift:
        return f"no drift: stack {report.stack} matches its state\n"
    differ = len(report.drifted) or "some"
    lines = [f"Drift on stack {report.stack}: {differ} resources differ", ""]
    for d in report.drifted:
        what = "gone from the cloud" if d.op == "delete" else "changed: " + ", ".join(d.keys)
        lines.append(f"  {short_type(d.type)} {d.name}: {what.rstrip(': ')}")
    return "\n".join(lines) + "\n"


def drift_json(report: Any) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "drift": report.has_drift,
        "resources": [
            {"type": d.type, "name": d.name, "op": d.op, "keys": list(d.keys)}
            for d in report.drifted
        ],
        "summary": dict(sorted(report.counts.items())),
    }


def outputs_values(outputs: Mapping[str, Any], show_secrets: bool) -> dict[str, Any]:
    from ..offline.inventory import SECRET

    return {k: (o.value if show_secrets or not o.secret else SECRET) for k, o in outputs.items()}


def outputs_table(values: Mapping[str, Any]) -> str:
    import json

    if not values:
        return "no outputs\n"
    width = max(len(k) for k in values)
    lines = [
        f"{k:<{width}}  {v if isinstance(v, str) else json.dumps(v, sort_keys=True)}"
        for k, v in values.items()
    ]
    return "\n".join(lines) + "\n"


def pending_text(pending: Sequence[Any], problem: str | None) -> str:
    """After `up`: the alert e-mails that receive nothing until their address confirms the
    subscription (observe.aws.Pending), or why that could not be read."""
    if problem:
        return f"note: {problem}; `floyo-scale status` lists them later\n"
    if not pending:
        return ""
    lines = [
        f"waiting for confirmation: {len(pending)} alert subscription"
        f"{'s' if len(pending) != 1 else ''} receive nothing until each address clicks the "
        "link AWS sent it (once per region); `destroy` cannot delete an unconfirmed one:"
    ]
    lines += [f"  - {p.endpoint} ({p.protocol}, {p.region})" for p in pending]
    return "\n".join(lines) + "\n"
