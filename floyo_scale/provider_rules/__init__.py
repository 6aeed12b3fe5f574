"""Provider rules: what the providers' APIs accept, checked over the Inventory before anything
is sent.

Pulumi's mock engine checks argument names and types, not values: a bucket name with an
underscore, a Sentry alert on a dataset Sentry no longer accepts, or a budget notifying a topic
it may not publish to all pass `plan` and fail (or silently do nothing) at `up`. Each rule here
is data: the resource types it reads, the source it was taken from, and a check that names the
value it refuses. `broken_rules` runs them all; `policy.provider_rule_finding` turns the result
into what `plan` exits 3 on, `diff` reports and `up` refuses, on the same path as
reachability (policy.refusals).

`cause` says who can fix a broken rule: "spec" (a value the spec chose: a name, a class, a
region, lifecycle days) or "program" (what floyo-scale itself builds: a bug to report).

Layer "guards" (docs/architecture.md): may import errors, catalog, offline; pure functions.
One module per kind of rule: `names`, `values`, `cross`, and `cloudfront` for the files CDN;
`base` holds what they share.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..offline.inventory import Inventory, short_type
from .base import Broken, Rule, show
from .cloudfront import CDN_RULES
from .cross import CROSS_RULES
from .names import NAME_RULES
from .values import ENUM_RULES

__all__ = ["RULES", "Broken", "Rule", "broken_rules"]

RULES: tuple[Rule, ...] = (*NAME_RULES, *ENUM_RULES, *CROSS_RULES, *CDN_RULES)


def broken_rules(inventory: Inventory, rules: Iterable[Rule] | None = None) -> list[Broken]:
    """Every value of `inventory` a provider would refuse, in rule order."""
    found = []
    for rule in RULES if rules is None else rules:
        for resource in inventory.resources:
            if resource.type not in rule.types:
                continue
            for value, message in rule.check(resource, inventory):
                found.append(
                    Broken(
                        rule.id,
                        f"{short_type(resource.type)} {resource.name}",
                        show(value),
                        message,
                        rule.source,
                        rule.cause,
                    )
                )
    return found
