"""What `db advise` shows: its findings (table, JSON, Markdown for a job summary) and what
`--apply` did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .text import lines_text, md_escape, size_text, to_json

if TYPE_CHECKING:  # only for annotations: render imports no library module at run time
    from ..db.advice import Advice, Proof, ShardAdvice
    from ..db.advise_apply import ApplyReport

_SEVERITY = {"high": "HIGH", "medium": "MEDIUM", "low": "low", "info": "info"}


def _evidence(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if value is None:
            value = "never" if key.startswith("last_") else "none"
        elif key in ("bytes", "table_bytes") and isinstance(value, int):
            value = size_text(value)
        elif isinstance(value, float):
            value = f"{value:,.1f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        parts.append(f"{key.replace('_', ' ')} {value}")
    return "; ".join(parts)


def _proof(proof: Proof | None) -> str | None:
    if proof is None:
        return None
    if proof.method == "hypopg":
        return f"proved (hypopg): planner cost {proof.before:,.1f} -> {proof.after:,.1f}"
    before = f"planner cost now {proof.before:,.1f}; " if proof.before is not None else ""
    return before + proof.note


def _health(shard: ShardAdvice) -> str:
    h = shard.health
    parts = [
        f"pg_stat_statements {shard.statements}",
        f"statistics since {shard.stats_since}",
    ]
    for what in ("table", "index"):
        ratio = h.get(f"{what}_cache_hit_ratio")
        parts.append(
            f"{what} cache hits {ratio:.2%}" if ratio is not None else f"{what} cache hits n/a"
        )
    if "connections" in h:
        parts.append(f"connections {h['connections']} of {h['max_connections']}")
    parts.append(f"long-running {h.get('long_running', 0)}")
    parts.append(f"idle in transaction {h.get('idle_in_transaction', 0)}")
    return ", ".join(parts)


def advice_text(advice: Advice) -> str:
    lines: list[str] = []
    for shard in advice.shards:
        lines.append(f"{shard.label}: {len(shard.findings)} finding(s)")
        lines.append(f"  {_health(shard)}")
        for f in shard.findings:
            lines.append("")
            lines.append(f"[{_SEVERITY.get(f.severity, f.severity)}] {f.title}")
            lines.append(f"  id: {f.id}")
            lines.append(f"  evidence: {_evidence(f.evidence)}")
            for q in f.queries[:3]:
                lines.append(
                    f"  statement: {_short(q['query'])} ({q['calls']:,} calls, "
                    f"mean {q['mean_ms']:,.2f} ms)"
                )
            lines.append(f"  effect: {f.effect}")
            proof = _proof(f.proof)
            if proof:
                lines.append(f"  proof: {proof}")
            if f.fix_sql:
                lines.append(f"  fix: {f.fix_sql}")
        for title, key in (
            ("by total time", "by_total_time"),
            ("by mean time", "by_mean_time"),
            ("by calls", "by_calls"),
        ):
            rows = shard.top.get(key) or []
            if rows:
                lines.append("")
                lines.append(f"top statements {title}:")
                for q in rows[:5]:
                    lines.append(
                        f"  {q['total_ms']:>12,.1f} ms total {q['mean_ms']:>10,.2f} ms mean "
                        f"{q['calls']:>9,} calls  {_short(q['query'])}"
                    )
        lines.append("")
    for note in advice.notes:
        lines.append(f"note: {note}")
    counts = advice.counts()
    lines.append(
        "findings: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + " (read only: nothing was changed; --apply creates the indexes)"
    )
    return lines_text(lines)


def _short(query: str, limit: int = 100) -> str:
    text = " ".join(query.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def advice_json(advice: Advice) -> str:
    return to_json(advice.to_dict())


def advice_markdown(advice: Advice) -> str:
    """For a job summary: one table of findings per shard, the fixes in a SQL block."""
    out = ["## Database advice", ""]
    counts = advice.counts()
    out.append(", ".join(f"**{n}** {s}" for s, n in counts.items()))
    out.append("")
    out += [f"> {md_escape(note)}" for note in advice.notes]
    if advice.notes:
        out.append("")
    for shard in advice.shards:
        out += [f"### {md_escape(shard.label)}", "", md_escape(_health(shard)), ""]
        if not shard.findings:
            out += ["No findings.", ""]
            continue
        out += ["| severity | finding | evidence | effect |", "|---|---|---|---|"]
        for f in shard.findings:
            effect = f.effect
            proof = _proof(f.proof)
            if proof:
                effect += f" ({proof})"
            out.append(
                f"| {f.severity} | {md_escape(f.title)}<br>`{md_escape(f.id)}` | "
                f"{md_escape(_evidence(f.evidence))} | {md_escape(effect)} |"
            )
        fixes = [f"-- {f.id}\n{f.fix_sql}" for f in shard.findings if f.fix_sql]
        if fixes:
            out += ["", "```sql", *fixes, "```"]
        out.append("")
    return "\n".join(out) + "\n"


def apply_text(result: ApplyReport) -> str:
    lines = []
    for a in result.actions:
        line = f"shard {a.shard} {a.index}: {a.outcome}"
        if a.seconds:
            line += f" in {a.seconds:.1f} s"
        if a.error:
            line += f" ({a.error})"
        if a.invalid_dropped:
            line += "; the invalid index it left was dropped"
        lines.append(line)
        if a.cost_before is not None and a.cost_after is not None:
            change = (a.cost_after - a.cost_before) / a.cost_before if a.cost_before else 0.0
            lines.append(
                f"  planner cost of its statement {a.cost_before:,.1f} -> {a.cost_after:,.1f} "
                f"({change:+.0%}); mean time before {a.mean_ms_before:,.2f} ms (the next "
                "`db advise` shows the new one once the application has run it)"
                if a.mean_ms_before is not None
                else f"  planner cost of its statement {a.cost_before:,.1f} -> "
                f"{a.cost_after:,.1f} ({change:+.0%})"
            )
    if not result.actions:
        lines.append("nothing to apply")
    return lines_text(lines)


def apply_json(advice: Advice, result: ApplyReport) -> str:
    return to_json({**advice.to_dict(), "applied": result.to_dict()["actions"]})
