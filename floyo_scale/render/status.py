"""Render a status report: a fixed-width table (rich), JSON, and Markdown (the watch
workflow's issue body). Pure functions from observe.status.StatusReport to strings; no
credential is ever part of a report, so none can be rendered."""

from __future__ import annotations

from typing import Any

from ..cost.currency import signed_usd, usd_range
from ..observe.status import StatusReport
from ..observe.thresholds import Reading, SourceState, Verdict
from .spec import phase_summary
from .text import table_text, to_json

_MARK = {
    Verdict.OK: "ok",
    Verdict.WARNING: "WARNING",
    Verdict.OVER: "OVER",
    Verdict.NO_DATA: "no data",
    Verdict.INFO: "",
}
_EMOJI = {
    Verdict.OK: "✅ ok",
    Verdict.WARNING: "⚠️ warning",
    Verdict.OVER: "🛑 over",
    Verdict.NO_DATA: "— no data",
    Verdict.INFO: "",
}


def amount(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "USD":
        return f"${value:,.2f}"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "%":
        return f"{value:.2f}%"
    return f"{value:,.2f} {unit}"


def limit_text(r: Reading) -> str:
    if r.limit is None:
        return ""
    if r.kind.value == "above":
        return f"> {amount(r.limit, r.unit)}"
    alert = f" (alert {r.alert_percent:g}%)" if r.alert_percent is not None else ""
    return amount(r.limit, r.unit) + alert


def share_text(r: Reading) -> str:
    share = r.share
    return "" if share is None or r.kind.value != "share" else f"{share:.1f}%"


def headline(report: StatusReport) -> str:
    crossed, failed = report.crossed, report.failed
    parts = []
    if crossed:
        parts.append(f"{len(crossed)} threshold{'s' if len(crossed) != 1 else ''} crossed")
    if failed:
        names = ", ".join(s.name for s in failed)
        parts.append(f"could not read {names}")
    if not parts:
        parts.append("all within thresholds")
    return (
        f"stack {report.stack} at phase {report.phase}, {report.generated_at}: "
        + "; ".join(parts)
        + f" (exit {int(report.exit_code)})"
    )


def status_table(report: StatusReport, width: int | None = None) -> str:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=headline(report), title_justify="left")
    for column in ("source", "metric", "value", "limit", "share", "verdict", "window"):
        table.add_column(column, justify="right" if column in ("value", "share") else "left")
    for r in report.readings:
        table.add_row(
            r.source,
            r.label,
            amount(r.value, r.unit),
            limit_text(r),
            share_text(r),
            _MARK[r.verdict],
            r.window,
        )
    out = table_text(table, width)
    # who must still confirm an alert subscription (observe.aws.pending_reading)
    out += "".join(
        f"{r.label}: {r.note}\n"
        for r in report.readings
        if r.key == "aws.pending_subscriptions" and r.note
    )
    out += _sources_text(report)
    out += "".join(f"spend: {n}\n" for n in report.spend_notes)
    out += _recommendation_text(report)
    out += "".join(f"note: {n}\n" for n in report.notes)
    return out


def _sources_text(report: StatusReport) -> str:
    lines = []
    for s in report.sources:
        if s.state in (SourceState.OK, SourceState.NOT_APPLICABLE):
            continue
        lines.append(f"{s.name}: {s.state.value}: {s.message}\n")
        if s.hint:
            lines.append(f"  hint: {s.hint}\n")
    return "".join(lines)


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
    budget = f"${summary['budget_usd']:,.0f}/month" if summary["budget_usd"] else "budget per stack"
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
