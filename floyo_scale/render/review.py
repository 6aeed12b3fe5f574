"""The pull-request comment: what a change does to every stack, readable in ten seconds.

Layout: the marker (how the workflow finds the comment to edit in place), a summary table
of the affected stacks (phase change, created/changed/replaced/deleted, monthly cost change,
budget share, what `up` would refuse), one line for the unaffected stacks, then one
collapsed section per affected stack: what `up` would refuse, the cost, every resource
change, and optionally the Mermaid graph.

Built from an allow-list: stack and phase names, counts, money, findings, and per change
its action, component, region, type, name and changed inputs (values shown only where the
inventory holds them: secrets are "[secret]" there, and a changed secret is "[secret]
changed"). Every line also goes through `redact` (the values of the secrets the specs
refer to, from the environment) before it is counted.

Size: GitHub refuses a comment over 65,536 characters. The summary is kept whole; the
sections share what is left (a section that needs less gives the rest to the others); a
section too long keeps its head and as many changes as fit, then says how many were left
out and which command shows them all; a graph that does not fit is left out, saying so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..cost import CostEstimate, signed_usd, usd, usd_range
from ..offline.inventory import SECRET, short_type
from ..review.affected import RevisionDiff, StackChange
from .plan import diff_text, findings_markdown, findings_text
from .text import lines_text, md_code, md_escape

MARKER = "<!-- floyo-scale-preview -->"
GITHUB_LIMIT = 65_536
DEFAULT_LIMIT = 60_000
VALUE_CHARS = 40
INPUTS_PER_ROW = 3
_STATUS = {
    "new": "new stack",
    "removed": "stack removed",
    "base-failed": "base failed to plan",
    "head-failed": "fails to plan",
}


def _same(text: str) -> str:
    return text


def comment(
    result: RevisionDiff,
    *,
    limit: int = DEFAULT_LIMIT,
    graph: Callable[[Any], str] | None = None,
    redact: Callable[[str], str] = _same,
) -> str:
    """The whole comment, at most `limit` characters (at most GitHub's 65,536)."""
    limit = min(limit, GITHUB_LIMIT - 1)
    affected = [s for s in result.stacks if s.affected]
    footer = redact(_footer(result))
    head = redact(_summary(result, affected))
    if len(head) + len(footer) > limit // 2:
        head = _cut_lines(head, limit // 2 - len(footer), "summary rows")
    sections = [_Section(change, graph, redact) for change in affected]
    room = limit - len(head) - len(footer)
    parts = [head]
    for section, share in zip(sections, _shares([s.size for s in sections], room), strict=True):
        parts.append(section.render(share, result.base_ref))
    parts.append(footer)
    text = "".join(parts)
    assert len(text) <= limit, (len(text), limit)
    return text


def _shares(sizes: list[int], room: int) -> list[int]:
    """Split `room` among sections: smallest first, each taking what it needs up to an even
    share of what is left."""
    shares = [0] * len(sizes)
    left = max(room, 0)
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for n, i in enumerate(order):
        fair = left // (len(order) - n)
        shares[i] = min(sizes[i], fair)
        left -= shares[i]
    return shares


# -- the summary ---------------------------------------------------------------------------


def _summary(result: RevisionDiff, affected: list[StackChange]) -> str:
    total = len(result.stacks)
    title = f"### floyo-scale: {len(affected)} of {total} stack{'s' if total != 1 else ''} affected"
    base = f"`{result.base_commit[:12]}` ({md_escape(result.base_ref)})"
    head = f"`{result.head.commit[:12]}`" if result.head.commit else "the working tree"
    if result.head.commit and result.head.dirty:
        head += " with uncommitted changes"
    lines = [MARKER, title, "", f"Base {base} → head {head}.", ""]
    refused = [s for s in affected if s.findings]
    if refused:
        names = ", ".join(md_code(s.stack) for s in refused)
        lines += [
            "> [!CAUTION]",
            f"> `floyo-scale up` would refuse {names} as changed here (details below).",
            "",
        ]
    if affected:
        lines += [
            "| stack | phase | create | change | replace | delete | monthly cost | budget "
            "| `up` would refuse |",
            "|---|---|--:|--:|--:|--:|---|---|---|",
        ]
        lines += [_summary_row(s) for s in affected]
        lines.append("")
    unaffected = [s for s in result.stacks if not s.affected]
    if unaffected:
        lines.append("Unaffected: " + ", ".join(_unaffected(s) for s in unaffected) + ".")
        lines.append("")
    if not result.stacks:
        lines += ["No stacks at either revision.", ""]
    return "\n".join(lines) + "\n"


def _summary_row(s: StackChange) -> str:
    counts = s.diff.counts() if s.diff else None
    cells = [md_code(s.stack), _phase_cell(s)]
    cells += [str(counts[k]) if counts else "?" for k in ("create", "update", "replace", "delete")]
    cells += [_cost_cell(s), _budget_cell(s.head.cost)]
    cells.append(
        "⛔ " + "; ".join(md_escape(f.summary) for f in s.findings) if s.findings else "no"
    )
    return "| " + " | ".join(cells) + " |"


def _phase_cell(s: StackChange, html: bool = False) -> str:
    def esc(text: str) -> str:
        return md_escape(text, html=html)

    status = s.status
    if status in ("new", "removed", "base-failed", "head-failed"):
        phase = s.head.phase or s.base.phase
        return f"{_STATUS[status]}" + (f" ({esc(phase)})" if phase else "")
    if s.base.phase == s.head.phase:
        return esc(s.head.phase or "?")
    return f"{esc(s.base.phase or '?')} → {esc(s.head.phase or '?')}"


def _cost_cell(s: StackChange, unit: str = "") -> str:
    if s.cost is None:
        return "?" if s.head.cost is None or not s.base.absent else ""
    low, high = s.cost.total_delta_low, s.cost.total_delta_high
    if round(low) == round(high) == 0:
        return f"{'cost unchanged' if unit else 'no change'} ({usd_range(*s.cost.new_total)}{unit})"
    delta = (
        signed_usd(high)
        if round(low) == round(high)
        else f"{signed_usd(low)} to {signed_usd(high)}"
    )
    return f"{delta} → {usd_range(*s.cost.new_total)}{unit}"


def _budget_cell(cost: CostEstimate | None) -> str:
    if cost is None:
        return "?"
    if cost.budget_monthly is None or cost.used_percent is None:
        return "no budget"
    mark = " ⛔" if cost.over_budget else " ⚠️" if cost.over_alert else ""
    return f"{cost.used_percent:g}% of {usd(cost.budget_monthly)}{mark}"


def _unaffected(s: StackChange) -> str:
    text = f"{md_code(s.stack)} ({md_escape(s.head.phase or '?')}"
    if s.head.cost is not None:
        text += f", {usd_range(s.head.cost.total_low, s.head.cost.total_high)}/month"
    if s.findings:
        text += ", already refused by `up`: " + "; ".join(md_escape(f.summary) for f in s.findings)
    return text + ")"


def _footer(result: RevisionDiff) -> str:
    return (
        f"<sub>{md_code(f'floyo-scale diff --base {result.base_ref} --all-stacks')} "
        "(offline: Pulumi's mock engine, no credentials). Costs are estimates "
        "(`floyo-scale cost`).</sub>\n"
    )


def _cut_lines(text: str, room: int, what: str) -> str:
    """The first lines of `text` that fit in `room` with a note of how many were cut ("" when
    not even the note fits)."""
    lines = text.splitlines(keepends=True)
    note = f"\n_({len(lines)} lines of the {what} cut to fit a GitHub comment)_\n"
    kept: list[str] = []
    used = len(note)
    for line in lines:
        if used + len(line) > room:
            break
        kept.append(line)
        used += len(line)
    if used > room:
        return ""
    cut = len(lines) - len(kept)
    return "".join(kept) + note.replace(f"({len(lines)} lines", f"({cut} lines")


# -- one section per affected stack --------------------------------------------------------


class _Section:
    def __init__(
        self, change: StackChange, graph: Callable[[Any], str] | None, redact: Callable[[str], str]
    ) -> None:
        self.change = change
        self.redact = redact
        self.open = redact(_section_head(change))
        self.rows = [redact(row) for row in _rows(change)]
        self.table = (
            "| action | component | region | type | name | what changes |\n"
            "|---|---|---|---|---|---|\n"
            if self.rows
            else ""
        )
        self.graph = ""
        if graph is not None and change.head.inventory is not None:
            self.graph = redact("\n```mermaid\n" + graph(change.head.inventory) + "```\n")
        self.close = "\n</details>\n\n"

    @property
    def size(self) -> int:
        return (
            len(self.open)
            + len(self.table)
            + sum(len(r) for r in self.rows)
            + len(self.graph)
            + len(self.close)
        )

    def render(self, room: int, base_ref: str) -> str:
        if self.size <= room:
            return self.open + self.table + "".join(self.rows) + self.graph + self.close
        stack = md_code(self.change.stack)
        command = md_code(f"floyo-scale diff --base {base_ref} --stack {self.change.stack}")
        more = (
            f"\n_…{{n}} more change{{s}} not shown, to fit a GitHub comment: run {command} "
            "for all._\n"
        )
        graph_note = "\n_The graph was left out to fit._\n" if self.graph else ""
        fixed = len(self.table) + len(self.close) + len(graph_note) + len(more) + 20
        summary, _, body = self.open.partition("\n")
        opening = self.open
        if len(opening) + fixed > room:
            body = _cut_lines(body, room - fixed - len(summary) - 1, "section")
            opening = summary + "\n" + body
        used = len(opening) + fixed
        kept: list[str] = []
        for row in self.rows:
            if used + len(row) > room:
                break
            kept.append(row)
            used += len(row)
        left = len(self.rows) - len(kept)
        note = more.format(n=left, s="s" if left != 1 else "") if left else ""
        table = self.table if kept else ""
        text = opening + table + "".join(kept) + note + graph_note + self.close
        if len(text) <= room:
            return text
        line = f"- {stack}: its details were left out to fit a GitHub comment; run {command}.\n"
        return line if len(line) <= room else ""


def _section_head(s: StackChange) -> str:
    counts = s.diff.counts() if s.diff else None
    bits = [_phase_cell(s, html=True)]
    if counts:
        bits.append(", ".join(f"{n} {_VERB[k]}" for k, n in counts.items() if n) or "no changes")
    if s.cost is not None:
        bits.append(_cost_cell(s, "/month"))
    if s.findings:
        bits.append("⛔ `up` would refuse")
    lines = [
        f"<details><summary><b>{md_escape(s.stack, html=True)}</b>: {' · '.join(bits)}</summary>",
        "",
    ]
    for side, name in ((s.base, "base"), (s.head, "head")):
        if side.error:
            lines += [f"**The {name} revision could not be planned**: {md_escape(side.error)}", ""]
    if s.status == "removed":
        lines += [
            "The stack file is gone; what it built stays until "
            f"{md_code(f'floyo-scale destroy --stack {s.stack}')} runs.",
            "",
        ]
    if s.findings:
        lines.append(findings_markdown(s.findings).rstrip("\n") + "\n")
    if s.head.cost is not None:
        from .cost import cost_summary

        lines += [md_escape(cost_summary(s.head.cost)), ""]
    for note in s.notes:
        lines += [f"_{md_escape(note)}_", ""]
    if s.diff is not None and not s.diff.changes:
        lines += ["No resource changes.", ""]
    return "\n".join(lines) + "\n"


_VERB = {
    "create": "to create",
    "update": "to change",
    "replace": "to replace",
    "delete": "to delete",
}


def _rows(s: StackChange) -> list[str]:
    if s.diff is None:
        return []
    rows = []
    for c in s.diff.changes:
        r = c.resource
        action = c.kind + (" ⚠️ data" if c.destructive else "")
        rows.append(
            f"| {action} | {md_escape(r.component)} | {(md_escape(r.region) if r.region else '-')} "
            f"| {md_code(short_type(r.type))} | {md_escape(r.name)} | {_what(c)} |\n"
        )
    return rows


def _what(change: Any) -> str:
    secret_changes = set(getattr(change, "secrets", ()))
    items = []
    for key, (before, after) in change.inputs.items():
        forced = " (replaces)" if key in change.replaced_by else ""
        items.append(f"{md_code(key)}: {_val(before)} → {_val(after)}{forced}")
    items += [f"{md_code(key)}: {SECRET} changed" for key in sorted(secret_changes)]
    if not items:
        return "region" if "region" in change.replaced_by else ""
    shown = items[:INPUTS_PER_ROW]
    if len(items) > INPUTS_PER_ROW:
        shown.append(f"+{len(items) - INPUTS_PER_ROW} more")
    return "; ".join(shown)


def _val(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > VALUE_CHARS:
        text = text[: VALUE_CHARS - 1] + "…"
    return md_code(text)


# -- the same, as text for a terminal --------------------------------------------------------


def revision_text(result: RevisionDiff) -> str:
    """`diff --base` in a terminal: the affected stacks with their diffs, then the others."""
    head = result.head.commit[:12] if result.head.commit else "the working tree"
    if result.head.commit and result.head.dirty:
        head += " with uncommitted changes"
    lines = [
        f"Base {result.base_commit[:12]} ({result.base_ref}) -> head {head}",
        f"affected: {', '.join(result.affected) or 'none'}",
        "",
    ]
    text = lines_text(lines)  # every line wrapped to the screen, as diff_text wraps its own
    for s in result.stacks:
        if not s.affected:
            continue
        lines = [f"== {s.stack}: {_phase_cell(s).replace('→', '->')} ({s.status})"]
        for side, name in ((s.base, "base"), (s.head, "head")):
            if side.error:
                lines.append(f"the {name} revision could not be planned: {side.error}")
        if s.head.cost is not None:
            from .cost import cost_summary

            lines.append(cost_summary(s.head.cost))
        if s.cost is not None:
            lines.append(f"cost change: {_cost_cell(s, '/month')}")
        lines += findings_text(s.findings).splitlines()
        lines += [f"note: {n}" for n in s.notes]
        text += lines_text(lines)
        if s.diff is not None:
            text += diff_text(s.diff)
        text += "\n"
    unaffected = [s for s in result.stacks if not s.affected]
    if unaffected:
        text += lines_text(
            ["unaffected: " + ", ".join(_unaffected(s).replace("`", "") for s in unaffected)]
        )
    return text
