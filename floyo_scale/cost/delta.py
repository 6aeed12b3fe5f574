"""What changes in cost between two estimates (`diff`)."""

from __future__ import annotations

from .model import PROVIDER_ORDER, CostDelta, CostEstimate, LineDelta


def diff_costs(old: CostEstimate, new: CostEstimate) -> CostDelta:
    """Per-line and total change from `old` to `new`, lines matched on
    (provider, component, resource, item)."""
    before, after = old.by_key(), new.by_key()
    keys = list(before) + [k for k in after if k not in before]
    deltas = []
    for key in keys:
        a, b = before.get(key), after.get(key)
        if a is None:
            status = "added"
        elif b is None:
            status = "removed"
        elif (a.low, a.high) == (b.low, b.high):
            status = "unchanged"
        else:
            status = "changed"
        deltas.append(
            LineDelta(
                *key,
                old_low=a.low if a else 0.0,
                old_high=a.high if a else 0.0,
                new_low=b.low if b else 0.0,
                new_high=b.high if b else 0.0,
                status=status,
            )
        )
    deltas.sort(key=lambda d: (PROVIDER_ORDER.get(d.provider, 9), d.provider, *d.key[1:]))
    old_u = {f"{u.type} ({u.reason})" for u in old.unpriced}
    new_u = {f"{u.type} ({u.reason})" for u in new.unpriced}
    return CostDelta(
        old_phase=old.phase,
        old_stack=old.stack,
        new_phase=new.phase,
        new_stack=new.stack,
        lines=tuple(deltas),
        old_total=(old.total_low, old.total_high),
        new_total=(new.total_low, new.total_high),
        unpriced_added=tuple(sorted(new_u - old_u)),
        unpriced_removed=tuple(sorted(old_u - new_u)),
    )
