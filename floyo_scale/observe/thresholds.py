"""Readings and verdicts: pure functions, no I/O.

A *reading* is one live figure from one source (database size of shard 0, bandwidth this
month, p95 over the last 24 hours). Where the phase sets a limit for it, the reading is
judged against that limit and the alert percentage; where the seed sets an absolute
threshold (p95 > 1 s, error rate > 1 %), against that threshold.

Edges, written down once (and tested):
- share of a limit: `warning` from the alert percentage up (80.0 % of the limit is a
  warning, as the cost estimate's budget alert fires when it *reaches* the threshold);
  `over` when the value is past the limit (100.0 % is still `warning`).
- absolute thresholds: the seed says "p95 > 1 s" and "error rate > 1 %", so exactly 1 s or
  exactly 1 % is `ok`, anything above is `over`.
- targets (uptime): the phase's `reliability.uptime_percent` is what must at least be met, so
  exactly the target is `ok`, anything under it is `below`.
- a reading without a value (the source answered but had no data points for the window) is
  `no data`: it neither passes nor crosses.
- an *estimate* (a figure the cost model computed, not a provider measured) is shown as
  `estimate` and never judged: no warning, no over, whatever its share of the limit.

Fail closed: the seed's four alerting thresholds (SEED_THRESHOLDS: database size, bandwidth,
p95, error rate) and its reliability figure (uptime) must each be measured for a run to be
green. `blind()` names each one that was not, and why (its source unavailable or failed, no
data points in the window, or nothing to read: the reading's note says what).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    OVER = "over"
    BELOW = "below"  # under a target that must at least be met (uptime)
    NO_DATA = "no data"
    INFO = "info"  # a figure shown for context, with nothing to judge it against
    ESTIMATE = "estimate"  # computed by the cost model, not measured: shown, never judged

    @property
    def crossed(self) -> bool:
        return self in (Verdict.WARNING, Verdict.OVER, Verdict.BELOW)


class Kind(StrEnum):
    """What a reading is judged against."""

    SHARE = "share"  # a share of a limit, warning at alert_percent
    ABOVE = "above"  # an absolute threshold the value must not exceed
    BELOW = "below"  # a target the value must at least meet (uptime)
    INFO = "info"


@dataclass(frozen=True)
class Reading:
    """One figure. `limit` is in `unit`; `alert_percent` applies to SHARE only."""

    source: str  # "supabase", "vercel", "sentry", "aws", "upstash", "spend"
    key: str  # stable id for JSON: "database.size", "vercel.bandwidth", ...
    label: str  # what a person reads: "database size (primary)"
    value: float | None
    unit: str  # "GB", "GB-h", "ms", "%", "USD", "count"
    kind: Kind = Kind.INFO
    limit: float | None = None
    alert_percent: float | None = None
    window: str = ""  # "month to date", "last 24h", "now"
    endpoint: str = ""  # where it came from: "POST /v2/observability/query (vercel.request.count)"
    capacity: bool = False  # counts towards "move to the next phase" (not p95 or errors)
    note: str = ""
    estimate: bool = False  # the cost model's figure, not a measurement: never judged

    @property
    def share(self) -> float | None:
        """The value's share of the limit, in percent (None without both)."""
        if self.value is None or not self.limit:
            return None
        return self.value / self.limit * 100

    @property
    def verdict(self) -> Verdict:
        if self.estimate:
            return Verdict.ESTIMATE if self.value is not None else Verdict.NO_DATA
        return judge(self.kind, self.value, self.limit, self.alert_percent)

    def to_json(self) -> dict[str, Any]:
        share = self.share
        return {
            "source": self.source,
            "key": self.key,
            "label": self.label,
            "value": _round(self.value),
            "unit": self.unit,
            "limit": self.limit,
            "alert_percent": self.alert_percent,
            "share_percent": None if share is None else round(share, 1),
            "verdict": self.verdict.value,
            "estimate": self.estimate,
            "window": self.window,
            "endpoint": self.endpoint,
            "note": self.note,
        }


def judge(
    kind: Kind, value: float | None, limit: float | None, alert_percent: float | None
) -> Verdict:
    """The verdict for one value (see the module docstring for the edges)."""
    if kind is Kind.INFO:
        return Verdict.INFO if value is not None else Verdict.NO_DATA
    if value is None or limit is None:
        return Verdict.NO_DATA
    if kind is Kind.ABOVE:
        return Verdict.OVER if value > limit else Verdict.OK
    if kind is Kind.BELOW:
        return Verdict.BELOW if value < limit else Verdict.OK
    if value > limit:
        return Verdict.OVER
    alert = 100.0 if alert_percent is None else alert_percent
    # compare in percent, rounded to 1e-9, so 6.4 of 8 is exactly 80 % (not 79.999...)
    if round(value / limit * 100, 9) >= alert:
        return Verdict.WARNING
    return Verdict.OK


class SourceState(StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"  # not configured, or a credential missing: not an error
    FAILED = "failed"  # asked and could not read (HTTP error, timeout)
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class SourceResult:
    """What one source gave: its readings, or why it gave none."""

    name: str
    state: SourceState
    readings: tuple[Reading, ...] = ()
    message: str = ""
    hint: str = ""
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "message": self.message,
            "hint": self.hint,
            "seconds": round(self.seconds, 2),
            "notes": list(self.notes),
        }


# The seed's alerting thresholds ("Monitoring & Alerting"), each with the readings that
# measure it: any one of them with a value measures it (p95 and error rate come from Vercel,
# and from Sentry when the stack configures it). Every reading listed must have a value
# (a stack with shards has one database size per shard).
SEED_THRESHOLDS: dict[str, tuple[str, ...]] = {
    "database size": ("database.size",),
    "bandwidth": ("vercel.bandwidth",),
    "p95": ("vercel.p95", "sentry.p95"),
    "error rate": ("vercel.error_rate", "sentry.failure_rate"),
    "uptime": ("uptime",),  # one per domain (Route 53 health checks, observe/aws.py)
}
# Where each is read from, to say why it is blind when no reading came back.
SEED_SOURCES: dict[str, tuple[str, ...]] = {
    "database size": ("supabase",),
    "bandwidth": ("vercel",),
    "p95": ("vercel", "sentry"),
    "error rate": ("vercel", "sentry"),
    "uptime": ("aws",),
}


@dataclass(frozen=True)
class Blind:
    """A seed threshold that was not measured, and why."""

    threshold: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"threshold": self.threshold, "reason": self.reason}


def blind(sources: tuple[SourceResult, ...] | list[SourceResult]) -> tuple[Blind, ...]:
    """Each seed threshold no reading measured, with the reason (see the module docstring)."""
    readings = [r for s in sources for r in s.readings]
    by_name = {s.name: s for s in sources}
    out: list[Blind] = []
    for threshold, keys in SEED_THRESHOLDS.items():
        measured = False
        empty: dict[str, str] = {}  # source -> why its reading has no value
        for key in keys:
            mine = [r for r in readings if r.key == key]
            if mine and all(r.value is not None for r in mine):
                measured = True
            elif mine:
                missing = [r for r in mine if r.value is None]
                empty[mine[0].source] = "; ".join(
                    dict.fromkeys(r.note or "no data points" for r in missing)
                )
        if measured:
            continue
        reasons = []
        for name in SEED_SOURCES[threshold]:
            source = by_name.get(name)
            if source is None or source.state is SourceState.NOT_APPLICABLE:
                continue
            if name in empty:
                reasons.append(f"{name}: {empty[name]}")
            elif source.state is SourceState.OK:
                reasons.append(f"{name}: not in its answer")
            else:
                reasons.append(f"{name} {source.state.value}: {source.message}")
        out.append(Blind(threshold, "; ".join(reasons) or "no source reads it"))
    return tuple(out)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
