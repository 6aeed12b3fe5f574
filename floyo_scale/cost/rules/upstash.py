"""Upstash pricing rules: the Redis database, at the offer the program chose."""

from __future__ import annotations

from collections.abc import Iterable

from ...catalog.offers import CacheDemand, payg_costs, upstash_offers
from ...offline.inventory import Resource
from ..context import NoPrice, PricingContext, Result, Span
from ..currency import usd_range

# Upstash -----------------------------------------------------------------------------------


def upstash_database_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """The offer recorded on its floyo:cache:Cache component (chosen by the program with
    catalog.offers, from the demand recorded beside it), priced from the catalog: a fixed
    plan's flat price (and its price per read region), or Pay as You Go's commands, storage
    and bandwidth. The detail says why that offer: what the others would cost."""
    component = ctx.by_key.get(resource.parent or "")
    inputs = component.inputs if component is not None else {}
    chosen, recorded = inputs.get("offer"), inputs.get("demand")
    if not chosen or not isinstance(recorded, dict):
        yield NoPrice("no Upstash offer recorded on its cache component")
        return
    demand = CacheDemand.from_json(recorded)
    offers = {o.plan_name: o for o in upstash_offers(ctx.catalog, demand)}
    offer = offers.get(str(chosen))
    if offer is None:
        yield NoPrice(f"no Upstash offer {chosen!r} in the catalog")
        return
    others = ", ".join(
        f"{o.plan_name} {_money(o.monthly)}" for o in offers.values() if o.fits and o is not offer
    )
    why = (
        f"cheapest that fits {demand.memory_gb:g} GB, {demand.commands[1] / 1e6:,.0f}M "
        f"commands and {demand.bandwidth_gb[1]:,.0f} GB a month (high); others: {others}"
    )
    if offer.fixed:
        entry = ctx.catalog.get(offer.key)
        yield ctx.line(
            resource,
            f"{offer.plan_name} plan",
            entry.price or 0.0,
            1,
            entry.unit,
            entry,
            detail=why,
        )
        if demand.read_regions:
            yield ctx.line(
                resource,
                "read regions",
                float(entry.extra.get("read_region_price", 0)),
                demand.read_regions,
                "region-month",
                entry,
                detail=f"{demand.read_regions} read region(s) on {offer.plan_name}",
            )
        return
    costs = payg_costs(ctx.catalog, demand)
    commands = ctx.catalog.get("upstash.redis.payg_100k_commands")
    storage = ctx.catalog.get("upstash.redis.payg_storage_gb")
    bandwidth = ctx.catalog.get("upstash.redis.payg_bandwidth_gb")
    factor = 1 + demand.read_regions
    yield ctx.line(
        resource,
        "commands",
        commands.price or 0.0,
        Span(demand.commands[0], demand.commands[1]) * (factor / 100_000),
        commands.unit,
        commands,
        detail=f"pay as you go: {why}",
    )
    if any(costs["storage"]):
        yield ctx.line(
            resource,
            "storage",
            storage.price or 0.0,
            costs["storage"][1] / (storage.price or 1.0),
            storage.unit,
            storage,
            detail=f"beyond {storage.extra.get('included_gb', 0)} GB included",
        )
    if any(costs["bandwidth"]):
        yield ctx.line(
            resource,
            "bandwidth",
            bandwidth.price or 0.0,
            Span(*costs["bandwidth"]) * (1 / (bandwidth.price or 1.0)),
            bandwidth.unit,
            bandwidth,
            detail=f"beyond {bandwidth.extra.get('included_gb', 0)} GB included",
        )


def upstash_plan_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    yield ctx.line(
        resource,
        "plan setting",
        0.0,
        0,
        "each",
        "https://upstash.com/pricing/redis",
        provider="upstash",
        detail="the plan is priced on its database",
    )


def _money(monthly: tuple[float, float]) -> str:
    low, high = monthly
    return usd_range(low, high)
