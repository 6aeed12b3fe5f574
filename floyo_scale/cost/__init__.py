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

Owns: the model (model), the one money formatter (money), the estimate (estimate), deltas
(delta), the assumptions and the context rules price in (context), and one module of rules
per provider (rules/). The price catalog itself is floyo_scale.catalog.
May import: catalog, offline.inventory (the Inventory it prices), spec (types only). Never
engine, guards, policy, render or cli.
"""

from .context import (
    FREE_ALARMS,
    HOURS_PER_MONTH,
    MONTHLY_WRITE_SHARE,
    OPEN_ENDED_USERS_FACTOR,
    S3_GETS_PER_REQUEST,
    S3_PUTS_PER_REQUEST,
    TRANSITION_PRICED_DAYS,
    UPSTASH_CACHE_SHARE_OF_DATABASE,
    UPSTASH_COMMANDS_PER_REQUEST,
    Span,
)
from .delta import diff_costs
from .estimate import estimate_cost, estimate_for_stack
from .model import (
    CURRENCY,
    CostDelta,
    CostEstimate,
    CostLine,
    LineDelta,
    Unpriced,
    estimate_from_json,
)
from .money import money, signed_usd, usd, usd_range
from .rules import RULES

__all__ = [
    "FREE_ALARMS",
    "HOURS_PER_MONTH",
    "MONTHLY_WRITE_SHARE",
    "OPEN_ENDED_USERS_FACTOR",
    "S3_GETS_PER_REQUEST",
    "S3_PUTS_PER_REQUEST",
    "TRANSITION_PRICED_DAYS",
    "UPSTASH_CACHE_SHARE_OF_DATABASE",
    "UPSTASH_COMMANDS_PER_REQUEST",
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
    "estimate_from_json",
    "money",
    "signed_usd",
    "usd",
    "usd_range",
]
