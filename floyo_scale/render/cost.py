"""Render cost estimates and cost deltas: a fixed-width table (rich), JSON, Markdown, and the
one-line summaries `plan` and `diff` print.

Pure functions from floyo_scale.cost's results to strings. Only priced fields are shown (resource
names, items, quantities, prices); no resource input is ever rendered, so no secret can be.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from ..cost import CostDelta, CostEstimate, CostLine, signed_usd, unit_usd, usd, usd_range
from ..cost.model import PROVIDER_ORDER
from ..offline.inventory import short_type
from . import text as render


def _ordered(lines: tuple[CostLine, ...]) -> list[CostLine]:
    """Grouped by provider (Vercel, Supabase, AWS, others) then component; stable inside."""
    return sorted(lines, key=lambda x: (PROVIDER_ORDER.get(x.provider, 9), x.provider, x.component))


def _num(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def quantity_text(line: CostLine) -> str:
    low, high = line.quantity
    return _num(low) if low == high else f"{_num(low)}–{_num(high)}"


def unit_price_text(line: CostLine) -> str:
    price = line.unit_price
    if line.unit == "USD":
        return "credit" if price < 0 else "charge"
    text = unit_usd(price)
    unit = line.unit.replace("1000 requests", "1k requests")
    return f"{text}/{unit}"


def _money(value: float) -> str:
    return usd(value, cents=True)


def _free_summary(estimate: CostEstimate) -> str:
    """`39 resources at $0: vercel 14, aws 23, ...` (counts by provider)."""
    free = [line for line in estimate.lines if line.free]
    if not free:
        return ""
    by_provider = Counter(line.provider for line in _ordered(tuple(free)))
    parts = ", ".join(f"{p} {n}" for p, n in by_provider.items())
    count = f"{len(free)} line{'s' if len(free) != 1 else ''}"
    return f"{count} at $0 (free, or within a free tier): {parts}"


def _why_lines(estimate: CostEstimate) -> list[str]:
    """The AWS Budget the program sets, and which cache offer was chosen and why."""
    out = []
    if estimate.aws_budget is not None:
        percent = estimate.alert_percent or 100
        out.append(
            f"AWS Budget: {usd(estimate.aws_budget)}/month, the AWS share of the high figure "
            f"({usd(estimate.aws_high, cents=True)}), alerting at {percent}%; it sees AWS "
            "spend only: the whole stack's spend is left to `floyo-scale status`"
        )
    for line in estimate.lines:
        if line.provider == "upstash" and line.detail and not line.free:
            out.append(f"cache offer: {line.item}: {line.detail}")
            break
    return out


def _budget_text(estimate: CostEstimate) -> str:
    if estimate.budget_monthly is None:
        return "no monthly budget set"
    text = f"budget {usd(estimate.budget_monthly)}, {estimate.used_percent:g}% used"
    if estimate.over_budget:
        text += ": OVER BUDGET"
    elif estimate.over_alert:
        text += f", past the {estimate.alert_percent}% alert threshold"
    return text


# -- one-line summaries for plan and diff -----------------------------------------------------


def cost_summary(estimate: CostEstimate) -> str:
    """`monthly cost: $112–$160 (budget $200, 80% used)`."""
    text = f"monthly cost: {usd_range(estimate.total_low, estimate.total_high)}"
    if estimate.budget_monthly is None:
        text += " (no budget set)"
    else:
        text += f" (budget {usd(estimate.budget_monthly)}, {estimate.used_percent:g}% used"
        text += ": over budget)" if estimate.over_budget else ")"
    unpriced = estimate.unpriced_count
    if unpriced:
        text += f"; {unpriced} resource{'s' if unpriced != 1 else ''} not priced"
    return text


def _side(phase: str, stack: str, other_stack: str) -> str:
    return phase if stack == other_stack else f"{stack}@{phase}"


def diff_summary(delta: CostDelta) -> str:
    """`growth → scale: +$612/month` (a range when the low and high figures move apart)."""
    before = _side(delta.old_phase, delta.old_stack, delta.new_stack)
    after = _side(delta.new_phase, delta.new_stack, delta.old_stack)
    low, high = delta.total_delta_low, delta.total_delta_high
    change = (
        signed_usd(low) if round(low) == round(high) else f"{signed_usd(low)} to {signed_usd(high)}"
    )
    return f"{before} → {after}: {change}/month"


# -- the estimate -------------------------------------------------------------------------------


def cost_json(estimate: CostEstimate) -> str:
    return render.to_json(estimate.to_json())


def cost_table(estimate: CostEstimate, width: int | None = None) -> str:
    """Priced lines grouped by provider and component (each group with its subtotal), the
    total, the budget, what is not priced, and the notes. Lines at $0 are counted, not listed
    (`--format json` lists them). On a narrow screen the quantity and the unit price go into
    the item column; resource names are never split."""
    table = render.fitting_table(
        [partial(_cost_table, estimate, layout) for layout in ("wide", "narrow", "stacked")], width
    )
    out = [render.table_text(table, width)]
    columns = width or render.screen().columns
    texts = [_budget_text(estimate), *_why_lines(estimate), _free_summary(estimate)]
    texts += [
        f"not priced: {u.count} x {short_type(u.type)} ({u.reason})" for u in estimate.unpriced
    ]
    texts += [f"note: {note}" for note in estimate.notes]
    for text in filter(None, texts):
        out += [line + "\n" for line in render.wrap_words(text.split(" "), columns, 2)]
    return "".join(out)


def _cost_table(estimate: CostEstimate, layout: str) -> Any:
    """`wide`: item, quantity and unit price in columns of their own; `narrow`: in one
    column; `stacked`: on a line of their own under the resource's name."""
    from rich import box
    from rich.table import Table

    title = f"Monthly cost: stack {estimate.stack} at phase {estimate.phase} ({estimate.currency})"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    if layout == "stacked":  # names whole; the item lines under them wrap to their width
        table.add_column("component / resource / item", overflow="fold")
    else:
        table.add_column("component / resource", no_wrap=True)
    if layout == "narrow":
        table.add_column("item: quantity × unit price", overflow="fold")
    elif layout == "wide":
        table.add_column("item", overflow="fold")
        table.add_column("quantity", justify="right", no_wrap=True)
        table.add_column("unit price", no_wrap=True)
    table.add_column("low", justify="right", no_wrap=True)
    table.add_column("high", justify="right", no_wrap=True)
    blank = ("",) * {"wide": 3, "narrow": 1, "stacked": 0}[layout]
    groups: dict[tuple[str, str], list[CostLine]] = {}
    for line in _ordered(estimate.lines):
        if not line.free:
            groups.setdefault((line.provider, line.component), []).append(line)
    names = [f"{provider}: {component}" for provider, component in groups]
    for i, ((provider, component), lines) in enumerate(groups.items()):
        if i:
            table.add_section()
        table.add_row(
            f"{provider}: {component}",
            *blank,
            _money(sum(x.low for x in lines)),
            _money(sum(x.high for x in lines)),
        )
        for line in lines:
            item = f"{line.item}: {quantity_text(line)} × {unit_price_text(line)}"
            amounts = (_money(line.low), _money(line.high))
            if layout == "stacked":
                names.append(f"  {line.resource}")
                table.add_row(f"  {line.resource}\n    {item}", *amounts)
            elif layout == "narrow":
                table.add_row(f"  {line.resource}", item, *amounts)
            else:
                detail = (line.item, quantity_text(line), unit_price_text(line))
                table.add_row(f"  {line.resource}", *detail, *amounts)
    table.add_section()
    table.add_row("total", *blank, _money(estimate.total_low), _money(estimate.total_high))
    if layout == "stacked":
        table.columns[0].min_width = max(len(name) for name in ["total", *names])
    return table


def cost_markdown(estimate: CostEstimate) -> str:
    """A PR-comment section: the summary, then the priced lines in a collapsed table."""
    md = render.md_escape
    lines = [
        f"### floyo-scale cost: {render.md_code(estimate.stack)} at phase "
        f"{render.md_code(estimate.phase)}",
        "",
        f"**{usd_range(estimate.total_low, estimate.total_high)} a month** "
        f"({md(_budget_text(estimate))}).",
        "",
        "| provider | component | low | high |",
        "|---|---|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[CostLine]] = {}
    for line in _ordered(estimate.lines):
        groups.setdefault((line.provider, line.component), []).append(line)
    for (provider, component), group in groups.items():
        low, high = sum(x.low for x in group), sum(x.high for x in group)
        if low == 0 and high == 0:
            continue
        lines.append(f"| {provider} | {component} | {_money(low)} | {_money(high)} |")
    lines.append(
        f"| **total** | | **{_money(estimate.total_low)}** | **{_money(estimate.total_high)}** |"
    )
    if estimate.unpriced:
        lines += ["", "**Not priced** (left out of the total):", ""]
        for u in estimate.unpriced:
            lines.append(f"- {u.count} × {render.md_code(short_type(u.type))}: {md(u.reason)}")
    extra = [*_why_lines(estimate), *estimate.notes]
    if extra:
        lines += [""] + [f"- {md(note)}" for note in extra]
    lines += [
        "",
        "<details><summary>Line items</summary>",
        "",
        "| provider | component | resource | item | quantity | unit price | low | high |",
        "|---|---|---|---|---:|---|---:|---:|",
    ]
    for line in _ordered(estimate.lines):
        if line.free:
            continue
        lines.append(
            f"| {line.provider} | {line.component} | {md(line.resource)} | {md(line.item)} "
            f"| {quantity_text(line)} | {md(unit_price_text(line))} | {_money(line.low)} "
            f"| {_money(line.high)} |"
        )
    free = _free_summary(estimate)
    if free:
        lines += ["", md(free) + "."]
    lines += ["", "</details>", ""]
    return render.limit_markdown("\n".join(lines))


# -- deltas ------------------------------------------------------------------------------------


def cost_delta_json(delta: CostDelta) -> str:
    return render.to_json(delta.to_json())


def _pair(low: float, high: float) -> str:
    """Whole dollars (the JSON form has cents): `$0–$140`, `$0 to -$20`."""
    if round(low) == round(high):
        return usd(low)
    joiner = " to " if low < 0 or high < 0 else "–"
    return f"{usd(low)}{joiner}{usd(high)}"


def _delta_pair(low: float, high: float) -> str:
    if round(low) == round(high):
        return signed_usd(low)
    return f"{signed_usd(low)} to {signed_usd(high)}"


def cost_delta_table(delta: CostDelta, width: int | None = None) -> str:
    """The lines whose cost changes (grouped by provider and component), before, after and
    the change, in whole dollars; then the totals. The title is the one-line summary."""
    table = render.fitting_table(
        [partial(_cost_delta_table, delta, stacked) for stacked in (False, True)], width
    )
    out = [render.table_text(table, width)]
    columns = width or render.screen().columns
    texts = [f"newly not priced: {text}" for text in delta.unpriced_added]
    texts += [f"now priced: {text}" for text in delta.unpriced_removed]
    for text in texts:
        out += [line + "\n" for line in render.wrap_words(text.split(" "), columns, 2)]
    return "".join(out)


def _cost_delta_table(delta: CostDelta, stacked: bool) -> Any:
    """`stacked`: the item on a line of its own under the resource's name, and the ranges
    wrap at " to " (narrow screens)."""
    from rich import box
    from rich.table import Table

    table = Table(title=diff_summary(delta), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("component / resource" + (" / item" if stacked else ""), no_wrap=True)
    if not stacked:
        table.add_column("item", overflow="fold")
    table.add_column("before", justify="right", no_wrap=not stacked)
    table.add_column("after", justify="right", no_wrap=not stacked)
    table.add_column("change", justify="right")  # wraps at " to " on a narrow screen
    symbol = {"added": "+", "removed": "-", "changed": "~"}
    blank = ("",) * (3 if stacked else 4)
    group = None
    for d in delta.changed():
        if (d.provider, d.component) != group:
            if group is not None:
                table.add_section()
            group = (d.provider, d.component)
            table.add_row(f"{d.provider}: {d.component}", *blank)
        amounts = (
            "" if d.status == "added" else _pair(d.old_low, d.old_high),
            "" if d.status == "removed" else _pair(d.new_low, d.new_high),
            _delta_pair(d.delta_low, d.delta_high),
        )
        if stacked:
            table.add_row(f"{symbol[d.status]} {d.resource}\n    {d.item}", *amounts)
        else:
            table.add_row(f"{symbol[d.status]} {d.resource}", d.item, *amounts)
    table.add_section()
    table.add_row(
        "total",
        *blank[:-3],
        _pair(*delta.old_total),
        _pair(*delta.new_total),
        _delta_pair(delta.total_delta_low, delta.total_delta_high),
    )
    return table


def cost_delta_markdown(delta: CostDelta) -> str:
    md = render.md_escape
    lines = [
        f"**Cost: {md(diff_summary(delta))}**",
        "",
        "| | provider | component | resource | item | before | after | change |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    symbol = {"added": "+", "removed": "−", "changed": "~"}
    for d in delta.changed():
        lines.append(
            f"| {symbol[d.status]} | {md(d.provider)} | {md(d.component)} | {md(d.resource)} "
            f"| {md(d.item)} | {'' if d.status == 'added' else _pair(d.old_low, d.old_high)} "
            f"| {'' if d.status == 'removed' else _pair(d.new_low, d.new_high)} "
            f"| {_delta_pair(d.delta_low, d.delta_high)} |"
        )
    lines.append(
        f"| | **total** | | | | {_pair(*delta.old_total)} | {_pair(*delta.new_total)} "
        f"| **{_delta_pair(delta.total_delta_low, delta.total_delta_high)}** |"
    )
    for text in delta.unpriced_added:
        lines.append(f"\nNewly not priced: {md(text)}")
    return render.limit_markdown("\n".join(lines) + "\n")
