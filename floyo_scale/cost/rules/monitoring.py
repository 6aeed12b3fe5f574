"""Monitoring beside AWS: the Sentry plan and PostHog events, when the stack configures
them (recorded on the floyo:monitoring:Monitoring component)."""

from __future__ import annotations

from collections.abc import Iterable

from ...offline.inventory import Resource
from ..context import POSTHOG_EVENTS_PER_REQUEST, PULUMI_DOCS, NoPrice, PricingContext, Result


def monitoring_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    yield ctx.line(
        resource,
        "component",
        0.0,
        1,
        "each",
        PULUMI_DOCS,
        provider="aws",
        detail="a component: groups resources; its children are priced",
    )
    sentry = resource.inputs.get("sentry")
    if sentry:
        plan = str(sentry.get("plan") or "team")
        entry = ctx.entry(f"sentry.{plan}")
        if entry is None:
            yield NoPrice(f"no Sentry {plan} plan in the catalog")
        else:
            yield ctx.line(
                resource,
                f"Sentry {plan} plan",
                entry.price or 0.0,
                1,
                entry.unit,
                entry,
                provider="sentry",
                detail="usage beyond the plan's quotas not estimated",
            )
    if resource.inputs.get("posthog"):
        entry = ctx.entry("posthog.analytics_event")
        if entry is None:
            yield NoPrice("no PostHog price in the catalog")
        elif ctx.requests is None:
            yield NoPrice("PostHog events: no user count given to the estimate")
        else:
            free = float(entry.extra.get("free_tier", 0))
            yield ctx.line(
                resource,
                "PostHog events",
                entry.price or 0.0,
                (ctx.requests * POSTHOG_EVENTS_PER_REQUEST).over(free),
                entry.unit,
                entry,
                provider="posthog",
                detail=f"{POSTHOG_EVENTS_PER_REQUEST:g} a request beyond {free:,.0f} free",
            )
