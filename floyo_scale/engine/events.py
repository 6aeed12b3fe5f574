"""Pulumi engine events turned into the small Event the progress display shows."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi.automation as auto

from ..guards import (
    Step,
)
from .failures import _COLOR, _urn_label
from .results import _counts, _op

EventKind = Literal["start", "step", "done", "failed", "diagnostic", "summary"]


@dataclass(frozen=True)
class Event:
    """One thing the engine reported, without Pulumi's types.

    `start` opens an operation (`op` is preview/up/destroy/refresh/drift, `total` the number
    of changes expected when known); `step` a resource operation begins; `done` it finished;
    `failed` it failed (`message` is the provider's error); `diagnostic` a warning or error
    (`severity`); `summary` the operation ended (`counts` by op).
    """

    kind: EventKind
    op: str = ""
    urn: str = ""
    type: str = ""
    name: str = ""
    message: str = ""
    severity: str = ""
    total: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    preview: bool = False  # a step planned by a preview, not performed


Sink = Callable[[Event], None]


# -- engine events -------------------------------------------------------------------------


class _Events:
    """Receives Pulumi's engine events (on the Automation API's threads), keeps the steps and
    failures, and hands redacted progress.Events to the sink. A display error never stops
    the engine; an event that cannot be read is counted (`unreadable`), so that the destroy
    guard does not vouch for a preview it could not read whole."""

    def __init__(self, sink: Sink | None, redact: Callable[[str], str], preview: bool) -> None:
        self.sink = sink
        self.redact = redact
        self.preview = preview
        self.steps: list[Step] = []
        self.outputs_steps: list[Step] = []
        self.failures: list[tuple[str, str]] = []
        self.errors: dict[str, str] = {}
        self.unreadable = 0
        self._lock = threading.Lock()

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
            if each is not None:
                with contextlib.suppress(Exception):  # progress is best effort; the result is not
                    self.sink(each)

    def _convert(self, event: auto.EngineEvent) -> Event | list[Event] | None:
        if event.resource_pre_event is not None:
            step = _step(event.resource_pre_event.metadata)
            self.steps.append(step)
            return Event("step", step.op, step.urn, step.type, step.name, preview=self.preview)
        if event.res_outputs_event is not None:
            step = _step(event.res_outputs_event.metadata)
            self.outputs_steps.append(step)
            done = Event("done", step.op, step.urn, step.type, step.name, preview=self.preview)
            note = _adopted(event.res_outputs_event.metadata)
            if note is None:
                return done
            said = Event(
                "diagnostic", "", step.urn, step.type, step.name, self.redact(note), "warning"
            )
            return [done, said]
        if event.res_op_failed_event is not None:
            step = _step(event.res_op_failed_event.metadata)
            message = self.errors.get(step.urn, "")
            self.failures.append((step.urn, message))
            return Event("failed", step.op, step.urn, step.type, step.name, message)
        if event.diagnostic_event is not None:
            diag = event.diagnostic_event
            message = self.redact(_COLOR.sub("", diag.message).strip())
            severity = diag.severity.split("#")[0]
            if diag.severity == "error" and diag.urn:
                self.errors[diag.urn] = message
            urn = diag.urn or ""
            label = _urn_label(urn).split(" ") if urn else ["", ""]
            return Event("diagnostic", "", urn, label[0], label[-1], message, severity)
        if event.summary_event is not None:
            return Event("summary", counts=_counts(event.summary_event.resource_changes))
        return None


def _adopted(meta: auto.StepEventMetadata) -> str | None:
    """What a provider noted in the `adopted` output when it took over a resource an earlier,
    interrupted run created (the Supabase provider does, after an answer was lost)."""
    outputs = (meta.new.outputs if meta.new is not None else None) or {}
    note = outputs.get("adopted")
    return note if isinstance(note, str) and note else None


def _step(meta: auto.StepEventMetadata) -> Step:
    old = meta.old
    return Step(
        op=_op(meta.op),
        urn=meta.urn,
        type=meta.type,
        name=meta.urn.rsplit("::", 1)[-1],
        retain_on_delete=bool(old and old.retain_on_delete),
        keys=tuple(meta.keys or meta.diffs or sorted(meta.detailed_diff or {})),
    )
