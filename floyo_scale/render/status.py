"""Render a status report: a fixed-width table (rich), JSON, and Markdown (the watch
workflow's issue body). Pure functions from observe.status.StatusReport to strings; no
credential is ever part of a report, so none can be rendered."""

from __future__ import annotations

from typing import Any

from ..cost.currency import signed_usd, usd, usd_range
from ..observe.status import StatusReport
from ..observe.thresholds import Reading, SourceState, Verdict
from .spec import phase_summary
from .text import UNBOUNDED, screen, table_text, to_json, wrap_words

_MARK = {
    Verdict.OK: "ok",
    Verdict.WARNING: "WARNING",
    Verdict.OVER: "OVER",
    Verdict.BELOW: "BELOW",
    Verdict.NO_DATA: "no data",
    Verdict.INFO: "",
    Verdict.ESTIMATE: "estimate",
}
_EMOJI = {
    Verdict.OK: "✅ ok",
    Verdict.WARNING: "⚠️ warning",
    Verdict.OVER: "🛑 over",
    Verdict.BELOW: "🛑 below target",
    Verdict.NO_DATA: "— no data",
    Verdict.INFO: "",
    Verdict.ESTIMATE: "≈ estimate (not judged)",
}


def amount(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "USD":
        return usd(value, cents=True)
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "%":
        return f"{value:.2f}%"
    if abs(value) >= 100:  # 1,000 GB, 59,982 GB: two decimals only where they tell
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def limit_text(r: Reading, alert: bool = True) -> str:
    """The limit ("16 GB (alert 80%)", "> 1,000 ms"); without `alert` the amount alone
    (the table states the alert percentages once, under it)."""
    if r.limit is None:
        return ""
    if r.kind.value == "above":
        return f"> {amount(r.limit, r.unit)}"
    if r.kind.value == "below":  # a target to meet (uptime)
        return f"≥ {amount(r.limit, r.unit)}"
    if not alert or r.alert_percent is None:
        return amount(r.limit, r.unit)
    return amount(r.limit, r.unit) + f" (alert {r.alert_percent:g}%)"


def alerts_text(report: StatusReport) -> str:
    """The alert percentage of each judged share, said once: "a share of its limit warns
    from 80%" (or each figure's own when they differ)."""
    shares = [
        r
        for r in report.readings
        if r.kind.value == "share" and r.limit and r.alert_percent is not None
    ]
    percents = {r.alert_percent for r in shares}
    if not shares:
        return ""
    if len(percents) == 1:
        return f"a share of a limit warns from {shares[0].alert_percent:g}%"
    return "warns from: " + ", ".join(f"{r.label} {r.alert_percent:g}%" for r in shares)


def share_text(r: Reading) -> str:
    share = r.share
    return "" if share is None or r.kind.value != "share" else f"{share:.1f}%"


def headline(report: StatusReport) -> str:
    crossed, failed, blind = report.crossed, report.failed, report.blind
    parts = []
    if crossed:
        parts.append(f"{len(crossed)} threshold{'s' if len(crossed) != 1 else ''} crossed")
    if blind:
        names = ", ".join(b.threshold for b in blind)
        parts.append(f"BLIND: not measured: {names}")
    if failed:
        names = ", ".join(s.name for s in failed)
        parts.append(f"could not read {names}")
    if not parts:
        parts.append("every seed threshold measured and within bounds")
    return (
        f"stack {report.stack} at phase {report.phase}, {report.generated_at}: "
        + "; ".join(parts)
        + f" (exit {int(report.exit_code)})"
    )


def _wrapped(lines: list[str], width: int) -> str:
    """Each line wrapped between words to `width`, continued two further in than it starts
    (as `plan` wraps its footer): no value is ever cut."""
    out = []
    for line in lines:
        lead = len(line) - len(line.lstrip(" "))
        parts = wrap_words(line.split(" "), width - lead, 2) or [""]
        out += [" " * lead + part + "\n" for part in parts]
    return "".join(out)


def status_table(report: StatusReport, width: int | None = None) -> str:
    """The headline, the table and what follows it, every line within `width` (default: the
    screen's), as `plan` does: columns that hold a value never wrap, the metric and window
    wrap between words, the alert percentages are said once under the table."""
    from rich.table import Table

    width = width or screen().width or UNBOUNDED
    table = Table(box=None, pad_edge=False, show_edge=False)
    headers = ("source", "metric", "value", "limit", "share", "verdict", "window")
    for column in headers:
        table.add_column(
            column,
            justify="right" if column in ("value", "limit", "share") else "left",
            no_wrap=column not in ("metric", "window"),
        )
    table.add_row(*("─" * len(h) for h in headers))  # the rule under the header
    for r in report.readings:
        table.add_row(
            r.source,
            r.label,
            amount(r.value, r.unit),
            limit_text(r, alert=False),
            share_text(r),
            _MARK[r.verdict],
            r.window,
        )
    out = _wrapped([headline(report), ""], width)
    out += table_text(table, width)
    lines = [text for text in (alerts_text(report),) if text]
    # who must still confirm an alert subscription (observe.aws.pending_reading)
    lines += [
        f"{r.label}: {r.note}"
        for r in report.readings
        if r.key == "aws.pending_subscriptions" and r.note
    ]
    lines += _blind_lines(report) + _sources_lines(report)
    lines += [f"spend: {n}" for n in report.spend_notes]
    lines += [f"trend: {f.text}" for f in report.forecasts]
    lines += [f"outlook: {n}" for n in report.outlook]
    if report.recorded:
        lines.append(f"recorded in {report.recorded}")
    out += _wrapped(["", *lines] if lines else [], width)
    out += _wrapped(_recommendation_text(report).splitlines(), width)
    out += _wrapped([f"note: {n}" for n in report.notes], width)
    return out


def _blind_lines(report: StatusReport) -> list[str]:
    return [f"not measured: {b.threshold} ({b.reason})" for b in report.blind]


def _sources_lines(report: StatusReport) -> list[str]:
    lines = []
    for s in report.sources:
        if s.state in (SourceState.OK, SourceState.NOT_APPLICABLE):
            continue
        lines.append(f"{s.name}: {s.state.value}: {s.message}")
        if s.hint:
            lines.append(f"  hint: {s.hint}")
    return lines


def _delta_text(advice: Any) -> str:
    delta = advice.cost_delta
    if delta is None:
        return ""
    old = usd_range(*delta.old_total)
    new = usd_range(*delta.new_total)
    change = (
        signed_usd(delta.total_delta_low)
        if delta.total_delta_low == delta.total_delta_high
        else f"{signed_usd(delta.total_delta_low)} to {signed_usd(delta.total_delta_high)}"
    )
    return f"monthly cost {old} -> {new} ({change} a month)"


def _changes_text(advice: Any) -> str:
    if not advice.changes:
        return ""
    c = advice.changes
    return (
        f"{c.get('create', 0)} to create, {c.get('update', 0)} to change, "
        f"{c.get('replace', 0)} to replace, {c.get('delete', 0)} to delete"
    )


def _summary_text(summary: Any) -> str:
    if not summary:
        return ""
    users = summary["users"]
    upto = f"{users['max']:,}" if users["max"] else "+"
    db = summary["supabase"]
    cache = summary["cache"]
    cache_text = (
        "no cache" if cache is None else f"cache {cache.get('provider') or cache.get('node_type')}"
    )
    budget = f"{usd(summary['budget_usd'])}/month" if summary["budget_usd"] else "budget per stack"
    return (
        f"{users['min']:,}–{upto} users, {budget}, Vercel {summary['vercel_plan']}, "
        f"Supabase {db['plan']} {db['compute']} with {db['read_replicas']} read replica(s), "
        f"{summary['shards']} shard(s), {cache_text}, regions {', '.join(summary['regions'])}"
    )


def _recommendation_text(report: StatusReport) -> str:
    advice = report.recommendation
    if advice is None:
        return ""
    if advice.direction == "top":
        head = "thresholds crossed, and there is no larger phase: raise the limits in the spec"
    elif advice.direction == "up":
        head = f"recommendation: move stack {report.stack} up to phase {advice.phase}"
    else:
        head = f"a smaller phase would do: {advice.phase}"
    lines = [head]
    lines += [f"  because {reason}" for reason in advice.reasons]
    for text in (_summary_text(summary(report)), _changes_text(advice), _delta_text(advice)):
        if text:
            lines.append(f"  {text}")
    if advice.phase and advice.direction in ("up", "down"):
        lines.append(
            f"  see: floyo-scale diff {report.phase} {advice.phase} --stack {report.stack}"
        )
    return "\n" + "\n".join(lines) + "\n"


def summary(report: StatusReport) -> dict[str, Any] | None:
    """The recommended phase's summary, as `phases` shows it."""
    advice = report.recommendation
    if advice is None or advice.target is None:
        return None
    return phase_summary(advice.phase, advice.target)


def _chart(report: StatusReport, key: str) -> list[str]:
    """A Mermaid xychart-beta (GitHub renders it) of one figure over the kept history,
    against its limit and warning threshold."""
    from ..observe.history import series

    current = next((r for r in report.readings if r.key == key), None)
    points = series(report.history, key)
    if current is None or current.limit is None or len(points) < 2:
        return []
    by_day: dict[str, float] = {}
    for at, value in points:
        by_day[at.strftime("%m-%d")] = value  # the day's last reading
    days = list(by_day)
    values = ", ".join(f"{v:.2f}" for v in by_day.values())
    alert = current.limit * (current.alert_percent or 100) / 100
    top = max([current.limit, *by_day.values()]) * 1.1
    title = current.label + (" (month projection)" if key == "vercel.bandwidth" else "")
    return [
        "",
        "```mermaid",
        "xychart-beta",
        f'    title "{title}, {current.unit}: limit {current.limit:g}, warning {alert:g}"',
        "    x-axis [" + ", ".join(f'"{d}"' for d in days) + "]",
        f'    y-axis "{current.unit}" 0 --> {top:.0f}',
        f"    line [{values}]",
        "    line [" + ", ".join(f"{alert:g}" for _ in days) + "]",
        "    line [" + ", ".join(f"{current.limit:g}" for _ in days) + "]",
        "```",
    ]


def history_table(
    stack: str, phase: str, days: int, rows: list[Any], where: str, width: int | None = None
) -> str:
    """`status --history`: each kept figure's first and latest value, its trend and when it
    crosses its warning threshold."""
    from rich.table import Table

    width = width or screen().width or UNBOUNDED
    head = f"stack {stack} at phase {phase}: readings of the last {days} days, kept in {where}"
    if not rows:
        return _wrapped([head, "", "nothing recorded yet: run `status --record` daily"], width)
    headers = ("metric", "points", "first", "latest", "per day", "warning on")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in headers:
        table.add_column(column, justify="left" if column == "metric" else "right",
                         no_wrap=column != "metric")  # fmt: skip
    table.add_row(*("─" * len(h) for h in headers))
    for row in rows:
        f = row.forecast
        when = "" if f is None else ("not within a year" if f.crosses is None else
                                     ("now" if not f.days else f.crosses.isoformat()))  # fmt: skip
        table.add_row(
            row.key,
            str(row.points),
            amount(row.first[1], row.unit) if row.first else "—",
            amount(row.last[1], row.unit) if row.last else "—",
            "" if f is None else f"{f.slope_per_day:+,.2f}",
            when,
        )
    notes = [f"trend: {r.forecast.text}" for r in rows if r.forecast is not None]
    notes.append(
        "forecast: Theil-Sen over the last 30 days, from 7 days of readings; bandwidth and "
        "function hours as the month's projection"
    )
    return _wrapped([head, ""], width) + table_text(table, width) + _wrapped(["", *notes], width)


def history_json(stack: str, phase: str, days: int, rows: list[Any]) -> str:
    return to_json(
        {
            "stack": stack,
            "phase": phase,
            "days": days,
            "metrics": [
                {
                    "key": r.key,
                    "unit": r.unit,
                    "points": r.points,
                    "first": None
                    if r.first is None
                    else {"at": r.first[0].isoformat(), "value": r.first[1]},
                    "latest": None
                    if r.last is None
                    else {"at": r.last[0].isoformat(), "value": r.last[1]},
                    "forecast": None if r.forecast is None else r.forecast.to_json(),
                }  # fmt: skip
                for r in rows
            ],
        }
    )


def status_json(report: StatusReport) -> str:
    data = report.to_json()
    if data["recommendation"] is not None:
        data["recommendation"]["summary"] = summary(report)
    return to_json(data)


def status_markdown(report: StatusReport) -> str:
    from .text import md_code
    from .text import md_escape as md

    out = [f"## floyo-scale status: {md_code(report.stack)} at {md_code(report.phase)}", ""]
    out.append(md(headline(report).split(": ", 1)[1].capitalize() + "."))
    out.append("")
    out.append("| source | metric | value | limit | share | verdict | window |")
    out.append("|---|---|---:|---|---:|---|---|")
    for r in report.readings:
        out.append(
            f"| {md(r.source)} | {md(r.label)} | {md(amount(r.value, r.unit))} | "
            f"{md(limit_text(r))} | {md(share_text(r))} | {_EMOJI[r.verdict]} | {md(r.window)} |"
        )
    if report.blind:
        out += ["", "### Not measured: the watch is blind to these", ""]
        out += [f"- **{md(b.threshold)}**: {md(b.reason)}" for b in report.blind]
        out += [
            "",
            "A seed threshold that is not measured is not known to be within bounds: "
            "no run is green while one is blind.",
        ]
    problems = [
        s for s in report.sources if s.state in (SourceState.FAILED, SourceState.UNAVAILABLE)
    ]
    if problems:
        out += ["", "### Sources not read", ""]
        for s in problems:
            hint = f" — {md(s.hint)}" if s.hint else ""
            out.append(f"- **{md(s.name)}** ({s.state.value}): {md(s.message)}{hint}")
    if report.spend_notes:
        out += ["", "### Spend", ""] + [f"- {md(n)}" for n in report.spend_notes]
    if report.forecasts or report.history:
        out += ["", "### Trend", ""]
        out += [f"- {md(f.text)}" for f in report.forecasts]
        out += [f"- **{md(n)}**" for n in report.outlook]
        for key in ("database.size", "vercel.bandwidth"):
            out += _chart(report, key)
    advice = report.recommendation
    if advice is not None:
        out += ["", "### Recommendation", ""]
        out.append(md(_recommendation_text(report).strip().splitlines()[0]))
        out.append("")
        out += [f"- {md(reason)}" for reason in advice.reasons]
        for text in (_summary_text(summary(report)), _changes_text(advice), _delta_text(advice)):
            if text:
                out.append(f"- {md(text)}")
        if advice.phase and advice.direction in ("up", "down"):
            out += [
                "",
                md_code(f"floyo-scale diff {report.phase} {advice.phase} --stack {report.stack}")
                + " shows every change.",
            ]
    if report.notes:
        out += [""] + [f"> {md(n)}" for n in report.notes]
    return "\n".join(out) + "\n"
