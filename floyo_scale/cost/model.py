"""The results of an estimate: cost lines, unpriced resources, the estimate and the delta between
two (plain data, JSON round trip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CURRENCY = "USD"
PROVIDER_ORDER = {"vercel": 0, "supabase": 1, "aws": 2, "upstash": 3, "sentry": 4, "posthog": 5}


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One priced item of one resource: `low`/`high` USD a month.

    `unit_price` (USD per `unit`) × `quantity` (low, high) = (`low`, `high`), rounded to
    cents; credits have a negative unit price. `source` is the provider page the price comes
    from; `price_key` its key in the catalog (None for rules with no catalog entry).
    `(provider, component, resource, item)` identifies the line across estimates.
    """

    provider: str
    component: str
    resource: str
    item: str
    low: float
    high: float
    unit_price: float
    quantity: tuple[float, float]
    unit: str
    source: str
    type: str = ""
    detail: str = ""
    price_key: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.provider, self.component, self.resource, self.item)

    @property
    def free(self) -> bool:
        return self.low == 0 and self.high == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "component": self.component,
            "resource": self.resource,
            "type": self.type,
            "item": self.item,
            "detail": self.detail,
            "low": self.low,
            "high": self.high,
            "unit_price": self.unit_price,
            "quantity": {"low": self.quantity[0], "high": self.quantity[1]},
            "unit": self.unit,
            "source": self.source,
            "price_key": self.price_key,
        }


@dataclass(frozen=True)
class Unpriced:
    """Resources of one type the estimate could not price, and why."""

    type: str
    count: int
    reason: str
    resources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "count": self.count,
            "reason": self.reason,
            "resources": list(self.resources),
        }


@dataclass(frozen=True)
class CostEstimate:
    """The monthly cost of one stack at one phase.

    `total_low`/`total_high` sum the priced lines; they leave out everything in `unpriced`.
    `used_percent` is the high total's share of `budget_monthly` (None without a budget).
    """

    phase: str
    stack: str
    lines: tuple[CostLine, ...]
    total_low: float
    total_high: float
    budget_monthly: float | None
    used_percent: float | None
    unpriced: tuple[Unpriced, ...] = ()
    alert_percent: int | None = None
    notes: tuple[str, ...] = ()
    currency: str = CURRENCY

    @property
    def over_budget(self) -> bool:
        """True when the high figure exceeds the budget (never without a budget)."""
        return self.budget_monthly is not None and self.total_high > self.budget_monthly

    @property
    def over_alert(self) -> bool:
        """True when the high figure reaches the budget's alert threshold."""
        if self.budget_monthly is None or self.alert_percent is None:
            return False
        return self.total_high >= self.budget_monthly * self.alert_percent / 100

    @property
    def aws_high(self) -> float:
        """The AWS share of the high figure (what an AWS Budget can see)."""
        return round_cents(sum(line.high for line in self.lines if line.provider == "aws"))

    @property
    def aws_budget(self) -> float | None:
        """The AWS Budget's monthly limit: the AWS share of the high figure, in whole dollars
        rounded up (at least $1); None without a stack budget (no AWS Budget then)."""
        if self.budget_monthly is None:
            return None
        return float(max(1, math.ceil(self.aws_high - 1e-9)))

    @property
    def unpriced_count(self) -> int:
        """How many resources have something unpriced (each counted once)."""
        return len({(u.type, name) for u in self.unpriced for name in u.resources})

    def by_key(self) -> dict[tuple[str, str, str, str], CostLine]:
        return {line.key: line for line in self.lines}

    def to_json(self) -> dict[str, Any]:
        """The documented, stable JSON form (docs/cost.md)."""
        return {
            "phase": self.phase,
            "stack": self.stack,
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "total": {"low": self.total_low, "high": self.total_high},
            "budget": {
                "monthly": self.budget_monthly,
                "used_percent": self.used_percent,
                "alert_percent": self.alert_percent,
                "over_budget": self.over_budget,
                "aws_budget": self.aws_budget,
            },
            "unpriced": [u.to_json() for u in self.unpriced],
            "notes": list(self.notes),
        }


def estimate_from_json(data: dict[str, Any]) -> CostEstimate:
    """Read back `CostEstimate.to_json()` (the `cost` of a saved `plan --format json`)."""
    lines = tuple(
        CostLine(
            provider=ln["provider"],
            component=ln["component"],
            resource=ln["resource"],
            item=ln["item"],
            low=float(ln["low"]),
            high=float(ln["high"]),
            unit_price=float(ln["unit_price"]),
            quantity=(float(ln["quantity"]["low"]), float(ln["quantity"]["high"])),
            unit=ln["unit"],
            source=ln["source"],
            type=ln.get("type", ""),
            detail=ln.get("detail", ""),
            price_key=ln.get("price_key"),
        )
        for ln in data["lines"]
    )
    budget = data.get("budget") or {}
    return CostEstimate(
        phase=data["phase"],
        stack=data["stack"],
        lines=lines,
        total_low=float(data["total"]["low"]),
        total_high=float(data["total"]["high"]),
        budget_monthly=budget.get("monthly"),
        used_percent=budget.get("used_percent"),
        unpriced=tuple(
            Unpriced(u["type"], int(u["count"]), u["reason"], tuple(u.get("resources", ())))
            for u in data.get("unpriced", ())
        ),
        alert_percent=budget.get("alert_percent"),
        notes=tuple(data.get("notes", ())),
        currency=data.get("currency", CURRENCY),
    )


@dataclass(frozen=True)
class LineDelta:
    """One line's change between two estimates (0 on the side where it is absent)."""

    provider: str
    component: str
    resource: str
    item: str
    old_low: float
    old_high: float
    new_low: float
    new_high: float
    status: str = "changed"  # added | removed | changed | unchanged

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.provider, self.component, self.resource, self.item)

    @property
    def delta_low(self) -> float:
        return round_cents(self.new_low - self.old_low)

    @property
    def delta_high(self) -> float:
        return round_cents(self.new_high - self.old_high)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "component": self.component,
            "resource": self.resource,
            "item": self.item,
            "status": self.status,
            "old": {"low": self.old_low, "high": self.old_high},
            "new": {"low": self.new_low, "high": self.new_high},
            "delta": {"low": self.delta_low, "high": self.delta_high},
        }


@dataclass(frozen=True)
class CostDelta:
    """What moving from one estimate to another changes, per line and in total."""

    old_phase: str
    old_stack: str
    new_phase: str
    new_stack: str
    lines: tuple[LineDelta, ...]
    old_total: tuple[float, float]
    new_total: tuple[float, float]
    unpriced_added: tuple[str, ...] = ()
    unpriced_removed: tuple[str, ...] = ()

    @property
    def total_delta_low(self) -> float:
        return round_cents(self.new_total[0] - self.old_total[0])

    @property
    def total_delta_high(self) -> float:
        return round_cents(self.new_total[1] - self.old_total[1])

    def changed(self) -> tuple[LineDelta, ...]:
        """The lines whose cost changes (a $0 line that appears or goes is left out)."""
        return tuple(d for d in self.lines if d.delta_low or d.delta_high)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": {"phase": self.old_phase, "stack": self.old_stack},
            "to": {"phase": self.new_phase, "stack": self.new_stack},
            "currency": CURRENCY,
            "lines": [d.to_json() for d in self.changed()],
            "total": {
                "old": {"low": self.old_total[0], "high": self.old_total[1]},
                "new": {"low": self.new_total[0], "high": self.new_total[1]},
                "delta": {"low": self.total_delta_low, "high": self.total_delta_high},
            },
            "unpriced": {
                "added": list(self.unpriced_added),
                "removed": list(self.unpriced_removed),
            },
        }


def round_cents(value: float) -> float:
    return round(value + 0.0, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
