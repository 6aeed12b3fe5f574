"""The whole stack's spend this month, against the phase's budget.

The AWS Budget sees only AWS. Here the month is:
- AWS: what Cost Explorer says was spent (month to date) plus its forecast for the rest;
- Vercel and Supabase: the cost library's estimate (cost.estimate_cost) of the stack as
  built, priced with the usage *measured* now instead of the phase's expected usage:
  database size (Supabase), fast data transfer projected to the whole month (Vercel), S3
  storage. Plan fees, seats, compute and add-ons are what the program builds. Nothing is
  priced twice and no price lives here.

Neither Vercel's nor Supabase's spend is measured (docs/status.md, "Spend": what their APIs
offer), so the whole-stack figure is an *estimate*: shown against the budget, never judged
(thresholds.Verdict.ESTIMATE), and never a reason to move phase. AWS's own part is measured
and AWS Budgets alerts on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..cost.currency import usd
from ..spec import ResolvedStack
from ..spec.models import Range, Usage
from .thresholds import Kind, Reading, SourceResult
from .window import Window

SOURCED = ("vercel", "supabase")  # providers priced from their measured usage


def measured_usage(expected: Usage, readings: Sequence[Reading], window: Window) -> Usage:
    """The phase's usage with every figure that was measured put in its place (month-to-date
    transfer projected to the month); figures not measured keep the phase's range."""
    by_key: dict[str, float] = {}
    for r in readings:
        if r.value is None:
            continue
        if r.key == "database.size":  # per shard: the whole database is their sum
            by_key["database"] = by_key.get("database", 0.0) + r.value
        elif r.key == "vercel.bandwidth":
            by_key["egress"] = r.value / window.month_fraction
        elif r.key == "s3.size":
            by_key["storage"] = r.value

    def fixed(name: str, default: Range) -> Range:
        value = by_key.get(name)
        return default if value is None else Range(low=round(value, 6), high=round(value, 6))

    return Usage(
        database_gb=fixed("database", expected.database_gb),
        storage_gb=fixed("storage", expected.storage_gb),
        egress_gb=fixed("egress", expected.egress_gb),
        requests_per_user_month=expected.requests_per_user_month,
    )


def whole_stack(
    stack: ResolvedStack,
    results: Sequence[SourceResult],
    inventory: dict[str, Any],
    window: Window,
) -> tuple[Reading, list[str]]:
    readings = [r for s in results for r in s.readings]
    values = {r.key: r.value for r in readings}
    budget = stack.phase.budget
    notes: list[str] = []
    actual = values.get("aws.spend_mtd")
    forecast = values.get("aws.spend_forecast")
    aws_month = None if actual is None else actual + (forecast or 0.0)
    if actual is not None and forecast is None:
        notes.append("AWS: month to date only (no forecast)")
    others = None
    if "inventory" in inventory:
        from ..cost import estimate_cost

        usage = measured_usage(stack.phase.usage, readings, window)
        estimate = estimate_cost(inventory["inventory"], usage, budget, users=stack.phase.users)
        lines = [line for line in estimate.lines if line.provider in SOURCED]
        others = sum(line.high for line in lines)
        measured = [
            what
            for what, field in (
                ("database size", "database_gb"),
                ("transfer", "egress_gb"),
                ("S3 storage", "storage_gb"),
            )
            if getattr(usage, field) != getattr(stack.phase.usage, field)
        ]
        basis = (
            f"measured {', '.join(measured)}; the rest as the phase expects"
            if measured
            else "nothing measured: the phase's expected usage"
        )
        for provider in SOURCED:
            part = sum(line.high for line in lines if line.provider == provider)
            notes.append(f"{provider}: {usd(part, cents=True)} (the cost estimate, {basis})")
    else:
        notes.append("Vercel and Supabase not priced: " + inventory.get("error", "no inventory"))
    if aws_month is not None:
        notes.insert(0, f"aws: {usd(aws_month, cents=True)} (Cost Explorer: actual + forecast)")
    else:
        notes.insert(0, "aws: not read (see the aws source)")
    total = None if aws_month is None or others is None else aws_month + others
    reading = Reading(
        "spend",
        "spend.month",
        "whole-stack spend, month-end (estimate)",
        total,
        "USD",
        Kind.SHARE,
        budget.monthly_usd,
        budget.alert_percent,
        "this month",
        "Cost Explorer (AWS) + cost estimate with measured usage (Vercel, Supabase)",
        capacity=True,
        note="" if budget.monthly_usd else "no budget set for this phase",
        estimate=True,
    )
    return reading, notes
