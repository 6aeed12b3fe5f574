"""Pulumi engine events turned into the progress.ResourceEvent the progress display shows."""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi.automation as auto

from ..progress import QUIET_OPS, Reporter, ResourceEvent
from .failures import ANSI_CODES, urn_label
from .results import Step, op_counts, op_name

# -- engine events -------------------------------------------------------------------------


class EventHandler:
    """Receives Pulumi's engine events (on the Automation API's threads), keeps the steps and
    failures, and hands redacted progress.Events to the sink. A display error never stops
    the engine: an OSError (the terminal is gone) is dropped, any other error (a bug) stops
    the display and is raised once the engine's call returns (`raise_sink_error`). The
    destroy guard must not vouch for a preview it could not read whole, so
    `unreadable` counts every event that could not be read: one this class fails on, one
    the SDK's reader dropped (`dropped`), and what the summary counts that no step event
    announced (`missing`). Steps Pulumi's own display hides (`internal`) are kept out of the
    steps and the display, as Pulumi keeps them out of its summary counts."""

    def __init__(self, sink: Reporter | None, redact: Callable[[str], str], preview: bool) -> None:
        self.sink = sink
        self.redact = redact
        self.preview = preview
        self.steps: list[Step] = []
        self.outputs_steps: list[Step] = []
        self.failures: list[tuple[str, str]] = []
        self.errors: dict[str, str] = {}
        self.unreadable = 0
        self.hidden = 0  # internal steps, not shown (default providers, ...)
        self.sink_error: Exception | None = None  # the sink's first error (not OSError)
        self._lock = threading.Lock()

    def dropped(self, warning: str) -> None:
        """An event the SDK's reader could not parse and dropped before `on_event` saw it
        (pulumi/automation/_stack.py, _EventsServicer.StreamEvents: it only warns, with the
        raw event in the warning): an op its OpType lacks (`extend-parameterize`), a diff
        kind it does not know. An internal step (no URN, as extension parameterization has,
        or a default provider) concerns no resource: hidden, as Pulumi's display hides it;
        anything else counts as unreadable."""
        raw = warning.partition("\nEvent: ")[2].partition("\n")[0]
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        meta: Any = None
        for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
            body = data.get(kind) if isinstance(data, dict) else None
            if isinstance(body, dict):
                meta = body.get("metadata")
        with self._lock:
            if isinstance(meta, dict) and internal(str(meta.get("op", "")), meta.get("urn") or ""):
                self.hidden += 1
            else:
                self.unreadable += 1

    def missing(self, counts: Mapping[str, int]) -> int:
        """What the summary counts that no readable step event announced. The summary
        (SummaryEvent.resourceChanges) counts each logical, non-internal step once by its
        op (pulumi/pulumi pkg/engine/update.go, previewActions.OnResourceStepPost: a
        replacement once, as `replace`); a step event lost on the way leaves its op short.
        Ops that change nothing (same, read, refresh) are not checked. Not for refresh
        previews, whose summary counts the result of each refresh, not its op."""
        seen = Counter(op for op, _ in {(s.op, s.urn) for s in self.steps})
        return sum(max(0, n - seen[op]) for op, n in counts.items() if op not in QUIET_OPS)

    def __call__(self, event: auto.EngineEvent) -> None:
        with self._lock:
            try:
                converted = self._convert(event)
            except Exception:  # noqa: BLE001 - counted; raising here would only break the stream
                self.unreadable += 1
                return
        if self.sink is None:
            return
        for each in converted if isinstance(converted, list) else [converted]:
            if each is not None and self.sink_error is None:
                try:
                    self.sink(each)
                except OSError:  # the terminal went away: progress is best effort
                    continue
                except Exception as exc:  # a bug in the display: raised once the call returns
                    self.sink_error = exc

    def raise_sink_error(self) -> None:
        """Raise the display's first error (a bug), on the caller's thread: raising it on
        the Automation API's event thread would only stop the stream, silently."""
        if self.sink_error is not None:
            raise self.sink_error

    def _convert(self, event: auto.EngineEvent) -> ResourceEvent | list[ResourceEvent] | None:
        if event.resource_pre_event is not None:
            step = _step(event.resource_pre_event.metadata)
            if internal(step.op, step.urn):
                self.hidden += 1
                return None
            self.steps.append(step)
            return ResourceEvent(
                "step", step.op, step.urn, step.type, step.name, preview=self.preview
            )
        if event.res_outputs_event is not None:
            step = _step(event.res_outputs_event.metadata)
            if internal(step.op, step.urn):
                return None
            self.outputs_steps.append(step)
            done = ResourceEvent(
                "done", step.op, step.urn, step.type, step.name, preview=self.preview
            )
            note = _adopted(event.res_outputs_event.metadata)
            if note is None:
                return done
            said = ResourceEvent(
                "diagnostic", "", step.urn, step.type, step.name, self.redact(note), "warning"
            )
            return [done, said]
        if event.res_op_failed_event is not None:
            step = _step(event.res_op_failed_event.metadata)
            message = self.errors.get(step.urn, "")
            self.failures.append((step.urn, message))
            return ResourceEvent("failed", step.op, step.urn, step.type, step.name, message)
        if event.diagnostic_event is not None:
            diag = event.diagnostic_event
            message = self.redact(ANSI_CODES.sub("", diag.message).strip())
            severity = diag.severity.split("#")[0]
            if diag.severity == "error" and diag.urn:
                self.errors[diag.urn] = message
            urn = diag.urn or ""
            label = urn_label(urn).split(" ") if urn else ["", ""]
            return ResourceEvent("diagnostic", "", urn, label[0], label[-1], message, severity)
        if event.summary_event is not None:
            return ResourceEvent("summary", counts=op_counts(event.summary_event.resource_changes))
        return None


def internal(op: str, urn: str) -> bool:
    """A step Pulumi's display hides: the engine marks it internal (pulumi/pulumi
    pkg/engine/update.go, isInternalStep: removing a pending replace, extension
    parameterization, a default provider's step) and the display drops internal events
    (pkg/backend/display/display.go, ShowEvents), while the event log the Automation API
    reads keeps them without the flag (apitype.ResourcePreEvent has no `internal`). So it is
    worked out here as the engine does: a default provider is a `pulumi:providers:PKG`
    resource whose name starts with "default" (sdk/go/common/providers/reference.go,
    IsDefaultProvider); an extension parameterization step has no URN."""
    if op in _INTERNAL_OPS or not urn:
        return True
    qualified, _, name = urn.rpartition("::")
    type_ = qualified.rpartition("::")[2].rpartition("$")[2]
    return type_.startswith("pulumi:providers:") and name.startswith("default")


_INTERNAL_OPS = frozenset({"remove-pending-replace", "extend-parameterize"})


@contextlib.contextmanager
def sdk_dropped(events: EventHandler) -> Iterator[None]:
    """While an operation runs: each event the SDK's reader drops (it warns "Failed to parse
    engine event") is handed to `events.dropped`; other warnings go on as they were. The
    reader runs on the SDK's gRPC threads, and the warnings machinery is process-wide, so
    this sees their warnings too (one operation runs at a time)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        text = str(warning.message)
        if text.startswith(_SDK_DROPPED):
            events.dropped(text)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


_SDK_DROPPED = "Failed to parse engine event"


def _adopted(meta: auto.StepEventMetadata) -> str | None:
    """What a provider noted in the `adopted` output when it took over a resource an earlier,
    interrupted run created (the Supabase provider does, after an answer was lost)."""
    outputs = (meta.new.outputs if meta.new is not None else None) or {}
    note = outputs.get("adopted")
    return note if isinstance(note, str) and note else None


def _step(meta: auto.StepEventMetadata) -> Step:
    old = meta.old
    return Step(
        op=op_name(meta.op),
        urn=meta.urn,
        type=meta.type,
        name=meta.urn.rsplit("::", 1)[-1],
        retain_on_delete=bool(old and old.retain_on_delete),
        keys=tuple(meta.keys or meta.diffs or sorted(meta.detailed_diff or {})),
    )
