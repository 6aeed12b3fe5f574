"""The monthly cost of what the one Pulumi program builds, computed from its Inventory.

    estimate_cost(inventory, usage, budget, users=phase.users) -> CostEstimate
    estimate_for_stack(resolved_stack, inventory)              -> CostEstimate
    diff_costs(old, new)                                        -> CostDelta

Pure: no Pulumi, no printing, no I/O beyond loading the packaged price catalog once.
Every line is priced from a resource the program registers (its type and recorded inputs)
and from the price catalog (floyo_scale/catalog/prices.yaml); usage-driven lines (storage,
egress, requests) take the phase's expected-usage figures, low and high. A resource type
with no rule in RULES is reported in `unpriced` with its count, never counted as zero.
Free resources have explicit zero-cost rules that say why. See docs/cost.md.

Owns: the model (model), the one money formatter (currency), the estimate (estimate), deltas
(delta), the assumptions and the context rules price in (context), and one module of rules
per provider (rules/). The price catalog itself is floyo_scale.catalog.
May import: catalog, offline.inventory (the Inventory it prices), spec (types only). Never
engine, guards, policy, render or cli.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time each is imported on first use
    from .context import (
        ACTIVE_CPU_MS_PER_INVOCATION,
        ARCHIVE_OBJECT_MB,
        ARCHIVE_RETRIEVED_SHARE,
        CACHE_KB_PER_WRITE,
        CACHE_WRITES_PER_REQUEST,
        FREE_ALARMS,
        FUNCTION_CONCURRENCY,
        FUNCTION_MEMORY_GB,
        FUNCTION_SHARE_OF_REQUESTS,
        FUNCTION_WALL_MS,
        HOURS_PER_MONTH,
        MONTHLY_WRITE_SHARE,
        OPEN_ENDED_USERS_FACTOR,
        POSTHOG_EVENTS_PER_REQUEST,
        S3_GETS_PER_REQUEST,
        S3_PUTS_PER_REQUEST,
        TRANSITION_PRICED_DAYS,
        Span,
    )
    from .currency import money, signed_usd, unit_usd, usd, usd_range
    from .delta import diff_costs
    from .estimate import estimate_cost, estimate_for_stack, estimate_without_budget, plan_stack
    from .model import (
        CURRENCY,
        CostDelta,
        CostEstimate,
        CostLine,
        LineDelta,
        Unpriced,
        estimate_from_json,
    )
    from .rules import RULES

_LAZY = {
    "FREE_ALARMS": ".context",
    "HOURS_PER_MONTH": ".context",
    "MONTHLY_WRITE_SHARE": ".context",
    "OPEN_ENDED_USERS_FACTOR": ".context",
    "S3_GETS_PER_REQUEST": ".context",
    "S3_PUTS_PER_REQUEST": ".context",
    "TRANSITION_PRICED_DAYS": ".context",
    "ACTIVE_CPU_MS_PER_INVOCATION": ".context",
    "ARCHIVE_OBJECT_MB": ".context",
    "ARCHIVE_RETRIEVED_SHARE": ".context",
    "CACHE_KB_PER_WRITE": ".context",
    "CACHE_WRITES_PER_REQUEST": ".context",
    "FUNCTION_CONCURRENCY": ".context",
    "FUNCTION_MEMORY_GB": ".context",
    "FUNCTION_SHARE_OF_REQUESTS": ".context",
    "FUNCTION_WALL_MS": ".context",
    "POSTHOG_EVENTS_PER_REQUEST": ".context",
    "Span": ".context",
    "diff_costs": ".delta",
    "estimate_cost": ".estimate",
    "estimate_for_stack": ".estimate",
    "estimate_without_budget": ".estimate",
    "plan_stack": ".estimate",
    "CURRENCY": ".model",
    "CostDelta": ".model",
    "CostEstimate": ".model",
    "CostLine": ".model",
    "LineDelta": ".model",
    "Unpriced": ".model",
    "estimate_from_json": ".model",
    "money": ".currency",
    "signed_usd": ".currency",
    "usd": ".currency",
    "unit_usd": ".currency",
    "usd_range": ".currency",
    "RULES": ".rules",
}


def __getattr__(name: str) -> Any:  # PEP 562: importing this package stays cheap
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "FREE_ALARMS",
    "HOURS_PER_MONTH",
    "MONTHLY_WRITE_SHARE",
    "OPEN_ENDED_USERS_FACTOR",
    "S3_GETS_PER_REQUEST",
    "S3_PUTS_PER_REQUEST",
    "TRANSITION_PRICED_DAYS",
    "ACTIVE_CPU_MS_PER_INVOCATION",
    "ARCHIVE_OBJECT_MB",
    "ARCHIVE_RETRIEVED_SHARE",
    "CACHE_KB_PER_WRITE",
    "CACHE_WRITES_PER_REQUEST",
    "FUNCTION_CONCURRENCY",
    "FUNCTION_MEMORY_GB",
    "FUNCTION_SHARE_OF_REQUESTS",
    "FUNCTION_WALL_MS",
    "POSTHOG_EVENTS_PER_REQUEST",
    "CURRENCY",
    "RULES",
    "CostDelta",
    "CostEstimate",
    "CostLine",
    "LineDelta",
    "Span",
    "Unpriced",
    "diff_costs",
    "estimate_cost",
    "estimate_for_stack",
    "estimate_without_budget",
    "estimate_from_json",
    "money",
    "plan_stack",
    "signed_usd",
    "unit_usd",
    "usd",
    "usd_range",
]
