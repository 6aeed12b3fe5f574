"""Vercel pricing rules: the team's plan and seats, project usage."""

from __future__ import annotations

from collections.abc import Iterable

from ...offline.inventory import Resource
from ..context import (
    ACTIVE_CPU_MS_PER_INVOCATION,
    FUNCTION_CONCURRENCY,
    FUNCTION_MEMORY_GB,
    FUNCTION_SHARE_OF_REQUESTS,
    FUNCTION_WALL_MS,
    GB_HOURS_PER_INVOCATION,
    NoPrice,
    PricingContext,
    Result,
    Span,
)
from ..currency import usd

# Vercel ------------------------------------------------------------------------------------


def vercel_team_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """floyo:web:Web carries the team's plan and paid seats."""
    plan = resource.inputs.get("vercel_plan")
    seats = int(resource.inputs.get("seats") or 1)
    entry = ctx.entry(f"vercel.plans.{plan}") if plan else None
    if entry is None:
        yield NoPrice(f"no Vercel plan {plan!r} in the catalog")
    elif entry.is_custom:
        yield NoPrice(f"Vercel {plan} plan: contract pricing, no list price")
    elif entry.unit == "seat-month":
        yield ctx.line(
            resource,
            f"{plan} plan seats",
            entry.price or 0.0,
            seats,
            "seat-month",
            entry,
            provider="vercel",
            detail=f"{seats} seat{'s' if seats != 1 else ''}",
        )
    else:
        yield ctx.line(
            resource, f"{plan} plan", entry.price or 0.0, 1, entry.unit, entry, provider="vercel"
        )
    if resource.inputs.get("secure_compute"):
        yield NoPrice("Vercel Secure Compute: an Enterprise add-on, contract pricing")


def _function_compute(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """Vercel function compute on fluid compute (current Pro pricing, no included amount:
    it is paid from the usage credit, then on demand): invocations, Active CPU and
    provisioned memory, at the rates of the project's first function region.

    invocations = app requests x FUNCTION_SHARE_OF_REQUESTS
    CPU-hours   = invocations x ACTIVE_CPU_MS_PER_INVOCATION / 3,600,000
    GB-hours    = invocations x FUNCTION_MEMORY_GB x FUNCTION_WALL_MS / 3,600,000
                  / FUNCTION_CONCURRENCY
    """
    if ctx.requests is None:
        yield NoPrice("function compute: no user count given to the estimate")
        return
    regions = (resource.inputs.get("resourceConfig") or {}).get("functionDefaultRegions") or []
    region = str(regions[0]) if regions else "iad1"
    invocations = ctx.requests * FUNCTION_SHARE_OF_REQUESTS
    per_invocation = ctx.entry("vercel.overage.function_invocations_million")
    cpu = ctx.entry(f"vercel.functions.active_cpu_hour.{region}")
    memory = ctx.entry(f"vercel.functions.provisioned_memory_gb_hour.{region}")
    where = region
    if cpu is None or memory is None:
        ctx.fallback_regions.add(region)
        cpu = ctx.entry("vercel.functions.active_cpu_hour.iad1")
        memory = ctx.entry("vercel.functions.provisioned_memory_gb_hour.iad1")
        where = f"{region}, at iad1's rate"
    share = f"{FUNCTION_SHARE_OF_REQUESTS:g} of app requests"
    if per_invocation is not None:
        yield ctx.line(
            resource,
            "function invocations",
            per_invocation.price or 0.0,
            invocations * 1e-6,
            per_invocation.unit,
            per_invocation,
            detail=share,
        )
    if cpu is not None:
        yield ctx.line(
            resource,
            "function active CPU",
            cpu.price or 0.0,
            invocations * (ACTIVE_CPU_MS_PER_INVOCATION / 3_600_000),
            cpu.unit,
            cpu,
            detail=f"{ACTIVE_CPU_MS_PER_INVOCATION} ms an invocation ({where})",
        )
    if memory is not None:
        yield ctx.line(
            resource,
            "function memory",
            memory.price or 0.0,
            invocations * GB_HOURS_PER_INVOCATION,
            memory.unit,
            memory,
            detail=f"{FUNCTION_MEMORY_GB} GB x {FUNCTION_WALL_MS} ms / "
            f"{FUNCTION_CONCURRENCY} at once ({where})",
        )


def vercel_project_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """Usage beyond the plan: fast data transfer (usage.egress_gb), edge requests (one
    per app request) and function compute, less the plan's monthly usage credit."""
    web = ctx.web_inputs(resource)
    plan = (web or {}).get("vercel_plan")
    entry = ctx.entry(f"vercel.plans.{plan}") if plan else None
    if entry is None:
        yield NoPrice("no Vercel plan found for this project (no floyo:web:Web parent)")
        return
    if entry.is_custom:
        yield NoPrice(f"Vercel {plan} plan usage: contract pricing, no list price")
        return
    includes = entry.extra.get("includes") or {}
    if plan == "hobby":
        yield ctx.line(
            resource,
            "usage",
            0.0,
            0,
            "month",
            entry,
            detail="Hobby has no overage billing: a project over quota is paused",
        )
        return
    transfer = ctx.entry("vercel.overage.fast_data_transfer_gb")
    requests = ctx.entry("vercel.overage.edge_requests_million")
    overage = Span(0, 0)
    if transfer is not None:
        included = float(includes.get("fast_data_transfer_gb", 0))
        gb = ctx.app_egress_gb.over(included)
        files = " (user files go through the CDN)" if ctx.files_cdn_gb.high else ""
        line = ctx.line(
            resource,
            "fast data transfer",
            transfer.price or 0.0,
            gb,
            "GB",
            transfer,
            detail=f"usage.egress_gb beyond {included:,.0f} GB included{files}",
        )
        overage = Span(overage.low + line.low, overage.high + line.high)
        yield line
    if requests is not None:
        if ctx.requests is None:
            yield NoPrice("edge requests: no user count given to the estimate")
        else:
            included = float(includes.get("edge_requests", 0))
            millions = ctx.requests.over(included) * 1e-6
            line = ctx.line(
                resource,
                "edge requests",
                requests.price or 0.0,
                millions,
                requests.unit,
                requests,
                detail=f"requests/user x users beyond {included / 1e6:,.0f}M included",
            )
            overage = Span(overage.low + line.low, overage.high + line.high)
            yield line
    for result in _function_compute(resource, ctx):
        if not isinstance(result, NoPrice):
            overage = Span(overage.low + result.low, overage.high + result.high)
        yield result
    credit = float(includes.get("usage_credit", 0))
    if credit:
        yield ctx.line(
            resource,
            "usage credit",
            -1.0,
            overage.capped(credit),
            "USD",
            entry,
            detail=f"the plan's {usd(credit)} monthly usage credit, against usage",
        )
