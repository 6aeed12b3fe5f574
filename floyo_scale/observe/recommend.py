"""When to move: the next phase when a capacity threshold is crossed, a smaller one when
usage has stayed far below the previous phase's limits.

What the move means is computed by the libraries `diff` and `cost` use
(plan.diff_inventories, cost.diff_costs) on the same synthesized inventories; nothing is
estimated here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..cost.currency import usd
from ..spec import ResolvedStack, Workspace, load_stack
from ..spec.models import Limits
from .thresholds import Reading

# "Far below": every measured capacity figure under this share of the smaller phase's limit.
FAR_BELOW_PERCENT = 50.0

# Which reading each limit of spec.models.Limits is measured by.
LIMIT_KEYS = {
    "database.size": "database_gb",
    "database.size_total": "database_gb",  # with shards: the whole database
    "vercel.bandwidth": "bandwidth_gb_month",
    "vercel.function_gb_hours": "function_gb_hours_month",
}


@dataclass(frozen=True)
class Recommendation:
    direction: str  # "up" | "down" | "top" (crossed, but no larger phase)
    phase: str | None
    reasons: tuple[str, ...]
    target: Any = None  # the phase as the stack would have it (spec.models.Phase)
    changes: Mapping[str, int] | None = None  # diff counts
    cost_delta: Any = None  # cost.CostDelta

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "phase": self.phase,
            "reasons": list(self.reasons),
            "summary": None,  # filled in by render.status (render.phase_summary)
            "changes": dict(self.changes) if self.changes else None,
            "cost": self.cost_delta.to_json() if self.cost_delta is not None else None,
        }


def ordered_phases(workspace: Workspace) -> list[str]:
    """Phases from smallest to largest (by their users' lower bound)."""
    from ..spec import load_phase

    phases = [(load_phase(workspace, name)[1].users.min, name) for name in workspace.phase_names()]
    return [name for _, name in sorted(phases)]


def neighbours(order: Sequence[str], phase: str) -> tuple[str | None, str | None]:
    if phase not in order:
        return None, None
    i = order.index(phase)
    return (order[i - 1] if i > 0 else None, order[i + 1] if i + 1 < len(order) else None)


def far_below(readings: Sequence[Reading], name: str, limits: Limits) -> tuple[str, ...] | None:
    """Reasons when every limit is measured and each figure is under FAR_BELOW_PERCENT of
    the smaller phase's limit; None otherwise (including when any figure is missing)."""
    reasons = []
    seen: set[str] = set()
    for r in readings:
        field = LIMIT_KEYS.get(r.key)
        if field is None:
            continue
        if r.value is None:
            return None
        limit = getattr(limits, field)
        if r.value >= limit * FAR_BELOW_PERCENT / 100:
            return None
        seen.add(field)
        reasons.append(
            f"{r.label}: {_amount(r.value, r.unit)}, under {FAR_BELOW_PERCENT:g}% of "
            f"{name}'s {_amount(limit, r.unit)}"
        )
    return tuple(reasons) if seen == set(LIMIT_KEYS.values()) else None


def recommend(
    workspace: Workspace,
    stack: ResolvedStack,
    readings: Sequence[Reading],
    inventory: dict[str, Any],
) -> Recommendation | None:
    crossed = [r for r in readings if r.capacity and r.verdict.crossed]
    order = ordered_phases(workspace)
    smaller, larger = neighbours(order, stack.phase_name)
    if crossed:
        reasons = tuple(_crossed_text(r) for r in crossed)
        if larger is None:
            return Recommendation("top", None, reasons)
        return _move(workspace, stack, larger, "up", reasons, inventory)
    if smaller is not None:
        from ..spec import load_phase

        reasons_down = far_below(readings, smaller, load_phase(workspace, smaller)[1].limits)
        if reasons_down:
            return _move(workspace, stack, smaller, "down", reasons_down, inventory)
    return None


def _crossed_text(r: Reading) -> str:
    share = r.share
    of = f" of {_amount(r.limit, r.unit)} ({share:.1f}%)" if share is not None and r.limit else ""
    return f"{r.label}: {_amount(r.value, r.unit)}{of}, {r.verdict.value}"


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "?"
    return usd(value, cents=True) if unit == "USD" else f"{value:,.2f} {unit}"


def _move(
    workspace: Workspace,
    stack: ResolvedStack,
    phase: str,
    direction: str,
    reasons: tuple[str, ...],
    inventory: dict[str, Any],
) -> Recommendation:
    from ..errors import SpecError

    try:
        target = load_stack(workspace, stack.name, phase)
    except SpecError as error:
        why = error.issues[0].message if error.issues else error.message
        note = f"stacks/{stack.name}.yaml is not valid at {phase}: {why}"
        return Recommendation(direction, phase, (*reasons, note))
    if "inventory" not in inventory:  # no synthesis: say which phase, without the deltas
        return Recommendation(direction, phase, reasons, target.phase)
    from ..cost import diff_costs, estimate_for_stack
    from ..offline.plan import diff_inventories
    from .inventories import inventory_for

    current = inventory["inventory"]
    new_inventory = inventory_for(target, inventory.get("cache_root"))
    delta = diff_costs(
        estimate_for_stack(stack, current), estimate_for_stack(target, new_inventory)
    )
    changes = diff_inventories(current, new_inventory).counts()
    return Recommendation(direction, phase, reasons, target.phase, changes, delta)
