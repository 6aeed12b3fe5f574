"""The estimate: every resource of an Inventory priced by its rule (cost.rules.RULES) with the
phase's usage, users and budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import FloyoError
from ..offline.inventory import Inventory, Resource
from .context import NoPrice, PricingContext
from .model import PROVIDER_ORDER, CostEstimate, CostLine, Unpriced, round_cents
from .rules import RULES

if TYPE_CHECKING:  # only for annotations: importing spec at run time is not needed here
    from ..catalog.prices import PriceCatalog
    from ..spec import ResolvedStack
    from ..spec.models import Budget, Usage, Users


# -- the estimate --------------------------------------------------------------------------


def estimate_for_stack(
    stack: ResolvedStack, inventory: Inventory, catalog: PriceCatalog | None = None
) -> CostEstimate:
    """The estimate for a resolved stack's inventory: usage, users and budget from its phase
    (the stack's overrides are already merged into `stack.phase`)."""
    phase = stack.phase
    return estimate_cost(inventory, phase.usage, phase.budget, catalog, users=phase.users)


def estimate_cost(
    inventory: Inventory,
    usage: Usage,
    budget: Budget | float | None,
    catalog: PriceCatalog | None = None,
    *,
    users: Users | tuple[int, int | None] | None = None,
) -> CostEstimate:
    """Price every resource in `inventory`.

    `usage`: the phase's expected usage (`database_gb`, `storage_gb`, `egress_gb`,
    `requests_per_user_month`, each with `low` and `high`). `users`: the phase's users
    (`min`, `max`; an open `max` is priced at OPEN_ENDED_USERS_FACTOR × `min`); without it,
    request-driven lines are reported unpriced. `budget`: a Budget (`monthly_usd`,
    `alert_percent`), a plain monthly figure, or None. `catalog`: defaults to the packaged
    price catalog.
    """
    if catalog is None:
        from ..catalog.prices import PriceCatalogError, load_prices

        try:
            catalog = load_prices()
        except PriceCatalogError as exc:  # the catalog imports nothing of ours, not even errors
            raise FloyoError(exc.message, exc.hint) from exc
    ctx = PricingContext(inventory, usage, users, catalog)
    lines: list[CostLine] = []
    order: dict[int, tuple[str, int, int]] = {}  # id(line) -> (anchor, depth, position)
    unpriced: dict[tuple[str, str], list[str]] = defaultdict(list)
    for resource in inventory.resources:
        anchor, depth = _anchor(resource, ctx.by_key)
        rule = RULES.get(resource.type)
        if rule is None:
            unpriced[(resource.type, "no pricing rule for this resource type")].append(
                resource.name
            )
            continue
        for result in rule(resource, ctx):
            if isinstance(result, NoPrice):
                unpriced[(resource.type, result.reason)].append(resource.name)
            else:
                order[id(result)] = (anchor, depth, len(lines))
                lines.append(result)
    # grouped by provider (Vercel, Supabase, AWS, then the rest) and component; inside a
    # group, a resource comes before those it parents (a project, then its add-ons and
    # replicas), each resource's lines in the order its rule gives them
    lines.sort(
        key=lambda x: (PROVIDER_ORDER.get(x.provider, 9), x.provider, x.component, order[id(x)])
    )
    lines = _unique(lines)
    total_low = round_cents(sum(line.low for line in lines))
    total_high = round_cents(sum(line.high for line in lines))
    monthly, alert = _budget(budget)
    used = round(total_high / monthly * 100, 1) if monthly else None
    missing = tuple(
        Unpriced(type_, len(names), reason, tuple(sorted(names)))
        for (type_, reason), names in sorted(unpriced.items())
    )
    return CostEstimate(
        phase=inventory.phase,
        stack=inventory.stack,
        lines=tuple(lines),
        total_low=total_low,
        total_high=total_high,
        budget_monthly=monthly,
        used_percent=used,
        unpriced=missing,
        alert_percent=alert,
        notes=tuple(ctx.notes(missing)),
    )


def _anchor(resource: Resource, by_key: dict[str, Resource]) -> tuple[str, int]:
    """The name of the outermost resource of the same provider that parents this one (a
    Supabase project for its replicas, an S3 bucket for its settings), and how deep it is."""
    anchor, depth, seen = resource, 0, 0
    while seen < 20:
        parent = by_key.get(anchor.parent or "")
        if parent is None or not parent.custom or parent.provider != resource.provider:
            break
        anchor, depth, seen = parent, depth + 1, seen + 1
    return anchor.name, depth


def _budget(budget: Budget | float | None) -> tuple[float | None, int | None]:
    if budget is None:
        return None, None
    if isinstance(budget, int | float):
        return float(budget), None
    monthly = budget.monthly_usd
    return (float(monthly) if monthly is not None else None), budget.alert_percent


def _unique(lines: list[CostLine]) -> list[CostLine]:
    """Keys must identify lines; a clash (two types sharing a name and an item) is resolved by
    naming the type in the item."""
    seen: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for line in lines:
        seen[line.key] += 1
    out = []
    for line in lines:
        if seen[line.key] > 1:
            short = line.type.rsplit(":", 1)[-1]
            line = replace(line, item=f"{line.item} ({short})")
        out.append(line)
    return out


def estimate_without_budget(
    stack: ResolvedStack, secrets: Mapping[str, str] | None = None, *, apart: bool = False
) -> tuple[Inventory, CostEstimate]:
    """What the program builds for `stack` without the AWS Budget, and its estimate, whose
    `aws_budget` is the Budget's limit (the AWS share of its high end). The Budget costs
    nothing, so the estimate is the same with or without it. `apart`: synthesize on a
    thread of its own (offline.synth.synthesize_apart), for a process that already runs a
    Pulumi program (infra/__main__.py, under the plain `pulumi preview`)."""
    from ..offline.synth import synthesize, synthesize_apart

    inventory = synthesize_apart(stack, secrets) if apart else synthesize(stack, secrets=secrets)
    return inventory, estimate_for_stack(stack, inventory)


def plan_stack(
    stack: ResolvedStack, secrets: Mapping[str, str] | None = None
) -> tuple[Inventory, CostEstimate]:
    """What the program builds for `stack` and what it costs, with the AWS Budget at the AWS
    share of that cost (its high end, `CostEstimate.aws_budget`).

    Two syntheses: the first without the AWS Budget gives the figure
    (`estimate_without_budget`); the second builds the Budget with it. `plan`, `cost`,
    `diff`, `graph`, `up` and the plain Pulumi entry point (infra/__main__.py) all take the
    figure from there, so they agree."""
    from ..offline.synth import synthesize

    first, estimate = estimate_without_budget(stack, secrets)
    if estimate.aws_budget is None:
        return first, estimate
    inventory = synthesize(stack, secrets=secrets, aws_budget_usd=estimate.aws_budget)
    return inventory, estimate_for_stack(stack, inventory)
