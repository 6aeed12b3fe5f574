"""Supabase pricing rules: organization plan, project compute and disk, replicas, add-ons."""

from __future__ import annotations

from collections.abc import Iterable

from ...offline.inventory import Resource
from ..context import NoPrice, PricingContext, Result, span_text
from ..currency import usd

# Supabase ----------------------------------------------------------------------------------


def supabase_project_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """Compute per project; the plan fee, compute credit and egress once per organization
    (on its first project by name); disk beyond the included 8 GB per project."""
    inputs = resource.inputs
    plan = inputs.get("plan")
    org = str(inputs.get("organization_slug"))
    org_projects = ctx.org_projects.get(org, [resource])
    first = org_projects[0].key == resource.key
    plan_entry = ctx.entry(f"supabase.plans.{plan}") if plan else None
    if plan_entry is None:
        yield NoPrice(f"no Supabase plan {plan!r} in the catalog")
        return
    if first:
        if plan_entry.is_custom:
            yield NoPrice(f"Supabase {plan} plan: contract pricing, no list price")
        else:
            yield ctx.line(
                resource,
                f"{plan} plan",
                plan_entry.price or 0.0,
                1,
                "month",
                plan_entry,
                detail=f"per organization ({org})",
            )
    # compute
    size = str(inputs.get("instance_size"))
    compute, called = ctx.compute_price(size, plan)
    if compute is None:
        yield NoPrice(f"no Supabase compute size {size!r} in the catalog")
    elif plan == "free":
        yield ctx.line(
            resource,
            "compute",
            0.0,
            1,
            "month",
            plan_entry,
            detail=f"{size}, free on the Free plan",
        )
    else:
        yield ctx.line(
            resource, "compute", compute.price or 0.0, 1, "month", compute, detail=called
        )
    includes = plan_entry.extra.get("includes") or {}
    # compute credit, once per organization, against the compute of its projects (never replicas)
    credit = float(includes.get("compute_credit", 0))
    if first and credit and plan != "free":
        total = 0.0
        for project in org_projects:
            entry, _ = ctx.compute_price(str(project.inputs.get("instance_size")), plan)
            total += entry.price or 0.0 if entry else 0.0
        yield ctx.line(
            resource,
            "compute credit",
            -1.0,
            min(credit, total),
            "USD",
            plan_entry,
            detail=f"{usd(credit)} per organization, against project compute",
        )
    # disk
    disk = ctx.entry("supabase.disk.gp3_gb")
    if plan == "free":
        pass  # the Free plan caps the database at 0.5 GB: no disk to buy
    elif disk is not None:
        included = ctx.disk_included()
        provisioned = ctx.provisioned_disk_gb(resource)
        yield ctx.line(
            resource,
            "disk",
            disk.price or 0.0,
            provisioned.over(included),
            disk.unit,
            disk,
            detail=f"{span_text(provisioned)} GB provisioned, {included:,.0f} GB included",
        )
    # egress, once per organization
    egress = ctx.entry("supabase.egress.uncached_gb")
    if first and egress is not None:
        quota = (egress.extra.get("included_gb") or {}).get(plan)
        if quota is None:
            yield NoPrice(f"Supabase egress on the {plan} plan: no list quota or rate")
        else:
            yield ctx.line(
                resource,
                "egress",
                egress.price or 0.0,
                ctx.egress_gb.over(float(quota)),
                "GB",
                egress,
                detail=f"usage.egress_gb beyond {quota:,.0f} GB included per organization",
            )


def supabase_replica_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    """A read replica: the primary's compute size (no credit) and 1.25x its disk, from GB 1."""
    primary = ctx.by_key.get(resource.parent or "")
    if primary is None or primary.type != "pulumi-python:dynamic/supabase:Project":
        yield NoPrice("read replica whose primary project is not in the inventory")
        return
    plan = primary.inputs.get("plan")
    size = str(primary.inputs.get("instance_size"))
    compute, called = ctx.compute_price(size, plan)
    if compute is None:
        yield NoPrice(f"no Supabase compute size {size!r} in the catalog")
    else:
        yield ctx.line(
            resource,
            "replica compute",
            compute.price or 0.0,
            1,
            "month",
            compute,
            detail=f"{called}, as its primary {primary.name}; no compute credit",
        )
    disk = ctx.entry("supabase.read_replica.disk_gb")
    if disk is not None:
        factor = float(disk.extra.get("disk_multiplier", 1.25))
        gb = ctx.provisioned_disk_gb(primary) * factor
        yield ctx.line(
            resource,
            "replica disk",
            disk.price or 0.0,
            gb,
            disk.unit,
            disk,
            detail=f"{factor:g}x the primary's provisioned disk, from the first GB",
        )


def supabase_addon_rule(resource: Resource, ctx: PricingContext) -> Iterable[Result]:
    kind, variant = resource.inputs.get("addon_type"), resource.inputs.get("addon_variant")
    if kind != "pitr":
        yield NoPrice(f"Supabase add-on {kind!r}: no pricing rule")
        return
    entry = ctx.entry(f"supabase.pitr.{variant}")
    if entry is None:
        yield NoPrice(f"no Supabase PITR variant {variant!r} in the catalog")
        return
    days = entry.extra.get("retention_days")
    yield ctx.line(
        resource,
        "PITR",
        entry.price or 0.0,
        1,
        "month",
        entry,
        detail=f"{days} days of retention" if days else str(variant),
    )
