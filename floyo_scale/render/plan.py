"""Plan, diff and graph text: the inventory table and PR Markdown, the diff between two phases, the
Mermaid graph.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..offline.inventory import SECRET, short_type
from .text import (
    MARKDOWN_LIMIT,
    limit_markdown,
    lines_text,
    md_code,
    md_escape,
    mermaid_label,
    mermaid_text,
    paint,
    screen,
    table_fits,
    table_text,
    wrap_words,
)

if TYPE_CHECKING:  # only for annotations (nothing more imported at run time)
    from collections.abc import Iterable

    from ..offline.inventory import Inventory, Resource
    from ..offline.plan import InventoryDiff
    from ..policy import Finding
    from ..report import PlanReport

# -- plan ------------------------------------------------------------------------------------


def _flags(resource: Resource) -> str:
    flags = []
    if resource.stateful:
        flags.append("stateful")
    if resource.protect:
        flags.append("protect")
    if resource.retain_on_delete:
        flags.append("retain")
    return ", ".join(flags)


def plan_table(inventory: Inventory, summary: dict[str, Any]) -> str:
    """Every resource by component: one row each (component, region, type, name, flags)
    when that fits the screen; else, on a narrow screen, the types as headings over their
    resources' names. A name or a type is never split."""
    from rich import box
    from rich.table import Table

    title = f"Plan: stack {inventory.stack} at phase {inventory.phase}"
    groups: dict[str, list[Any]] = {}
    for r in inventory.custom_resources():
        groups.setdefault(r.component, []).append(r)

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("component", "region", "type", "name"):
        table.add_column(column, no_wrap=True)
    table.add_column("flags")  # the only column that wraps (at its commas)
    for i, resources in enumerate(groups.values()):
        if i:
            table.add_section()
        for j, r in enumerate(resources):
            table.add_row(
                r.component if j == 0 else "",
                r.region or "-",
                short_type(r.type),
                r.name,
                _flags(r),
            )
    if not table_fits(table):
        table = _plan_table_narrow(title, groups)
    counts = ", ".join(f"{k} {v}" for k, v in summary["by_component"].items())
    regions = ", ".join(f"{k} {v}" for k, v in summary["by_region"].items())
    width = screen().columns
    footer = [
        f"{summary['resources']} resources ({counts})",
        f"by region: {regions}",
        f"stateful: {summary['stateful']}, protected: {summary['protected']}",
    ]
    return table_text(table) + "".join(
        line + "\n" for text in footer for line in wrap_words(text.split(" "), width, 2)
    )


def _plan_table_narrow(title: str, groups: dict[str, list[Any]]) -> Any:
    """The plan on a narrow screen: component, then each type as a heading, its resources'
    names under it (with region and flags beside them)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("component / type / name", no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("flags")
    for i, resources in enumerate(groups.values()):
        if i:
            table.add_section()
        table.add_row(Text(resources[0].component, style="bold"), "", "")
        by_type: dict[str, list[Any]] = {}
        for r in resources:
            by_type.setdefault(short_type(r.type), []).append(r)
        for type_, members in by_type.items():
            table.add_row(f"  {type_}", "", "")
            for r in members:
                table.add_row(f"    {r.name}", r.region or "-", _flags(r))
    return table


def plan_markdown(
    inventory: Inventory, summary: dict[str, Any], extra: str = "", limit: int = MARKDOWN_LIMIT
) -> str:
    regions = list(summary["by_region"])
    counts: dict[tuple[str, str], int] = {}
    for r in inventory.custom_resources():
        key = (r.component, r.region or "global")
        counts[key] = counts.get(key, 0) + 1
    lines = [
        f"### floyo-scale plan: {md_code(inventory.stack)} at phase {md_code(inventory.phase)}",
        "",
        f"**{summary['resources']} resources**, {summary['stateful']} stateful, "
        f"{summary['protected']} protected.",
        "",
        "| component | " + " | ".join(md_escape(r) for r in regions) + " | total |",
        "|---|" + "---:|" * (len(regions) + 1),
    ]
    for component, total in summary["by_component"].items():
        cells = [str(counts.get((component, region), "")) for region in regions]
        lines.append(f"| {md_escape(component)} | " + " | ".join(cells) + f" | {total} |")
    if extra:
        lines += ["", extra.rstrip()]
    lines += ["", "<details><summary>All resources</summary>", ""]
    lines += ["| component | region | type | name | flags |", "|---|---|---|---|---|"]
    for r in inventory.custom_resources():
        lines.append(
            f"| {md_escape(r.component)} | {(md_escape(r.region) if r.region else '-')} "
            f"| {md_code(short_type(r.type))} | {md_escape(r.name)} | {_flags(r)} |"
        )
    lines += ["", "</details>", ""]
    return limit_markdown("\n".join(lines), limit)


# -- diff ------------------------------------------------------------------------------------

_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
_COLOR = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red"}


def change_mark(kind: str) -> str:
    """`+ create`, `~ update`, `+- replace`, `- delete`: symbol and word, in colour on a
    terminal (green, yellow, magenta, red); the width is the same either way."""
    symbol, color = _SYMBOL.get(kind, ""), _COLOR.get(kind)
    text = f"{symbol:>2} {kind:<7}"
    return paint(text, color) if color else text


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def diff_text(diff: InventoryDiff) -> str:
    """One line per change (wrapped between words on a narrow screen, never inside a
    name or a type), its changed inputs under it."""
    old, new = diff.old, diff.new
    head = f"Diff: {old.stack}@{old.phase} -> {new.stack}@{new.phase}"
    width = screen().columns
    lines = [head, ""]
    for change in diff.changes:
        r = change.resource
        words = [short_type(r.type), r.name, f"[{r.component}, {r.region or '-'}]"]
        if change.destructive:
            words.append(" !! destroys data")  # two spaces before it once joined
        elif change.kind == "delete" and r.retain_on_delete:
            words.append("(retained: the data stays)")  # not destructive (Change.destructive)
        # wrapped as plain text (the change mark is 10 characters wide), then painted
        wrapped = wrap_words(["x" * 10, *words], width, 11)
        wrapped[0] = change_mark(change.kind) + wrapped[0][10:]
        if change.destructive:
            wrapped[-1] = wrapped[-1].replace(
                "!! destroys data", paint("!! destroys data", "bold red")
            )
        lines += wrapped
        for key, (before, after) in change.inputs.items():
            forced = "(forces replacement)" if key in change.replaced_by else ""
            words = [f"{key}:", _value(before), "->", _value(after), forced]
            lines += [" " * 8 + line for line in wrap_words(words, width - 8, 4)]
        for key in change.secrets:
            forced = "(forces replacement)" if key in change.replaced_by else ""
            lines += [
                " " * 8 + line
                for line in wrap_words([f"{key}:", SECRET, "changed", forced], width - 8, 4)
            ]
    notes = lines_text([f"note: {n}" for n in diff.notes])
    if not diff.changes:
        return f"{head}\n\nno changes\n{notes}"
    counts = diff.counts()
    summary = ", ".join(f"{n} to {k}" for k, n in counts.items()) + (
        f"; {len(diff.destructive)} destroy data" if diff.destructive else ""
    )
    lines += ["", *wrap_words(summary.split(" "), width, 2)]
    return "\n".join(lines) + "\n" + notes


def diff_markdown(diff: InventoryDiff, extra: str = "", limit: int = MARKDOWN_LIMIT) -> str:
    old, new = diff.old, diff.new
    counts = diff.counts()
    lines = [
        f"### floyo-scale diff: {md_code(f'{old.stack}@{old.phase}')} → "
        f"{md_code(f'{new.stack}@{new.phase}')}",
        "",
        " · ".join(f"**{n}** to {k}" for k, n in counts.items()),
        "",
    ]
    if diff.destructive:
        lines += ["> [!WARNING]", "> These changes delete or replace resources that hold data:"]
        lines += [
            f"> - {md_code(short_type(c.resource.type))} {md_escape(c.resource.name)} ({c.kind})"
            for c in diff.destructive
        ]
        lines.append("")
    if extra:
        lines += [extra.rstrip(), ""]
    lines += [
        "| action | component | region | type | name | changed inputs |",
        "|---|---|---|---|---|---|",
    ]
    for c in diff.changes:
        r = c.resource
        keys = ", ".join(
            [md_code(k) for k in c.inputs] + [f"{md_code(k)} (secret)" for k in c.secrets]
        )
        lines.append(
            f"| {c.kind} | {md_escape(r.component)} | {(md_escape(r.region) if r.region else '-')} "
            f"| {md_code(short_type(r.type))} | {md_escape(r.name)} | {keys} |"
        )
    return limit_markdown("\n".join(lines) + "\n", limit)


# -- graph -----------------------------------------------------------------------------------


def mermaid(inventory: Inventory) -> str:
    """A Mermaid flowchart: the app, then per region its databases, cache and buckets."""
    from ..offline.graph import graph_model

    model = graph_model(inventory)
    lines = ["flowchart LR", f"  app[{mermaid_label('Vercel app' + chr(10) + model.app_regions)}]"]
    for region, nodes in model.regions.items():
        lines.append(f"  subgraph {_mid(region)}[{mermaid_label(region)}]")
        for node_id, label, _kind in nodes:
            lines.append(f"    {_mid(node_id, '')}[{mermaid_label(label)}]")
        lines.append("  end")
    for src, dst, label in model.edges:
        ends = _mid(src, ""), _mid(dst, "")
        lines.append(
            f'  {ends[0]} -->|"{mermaid_text(label)}"| {ends[1]}'
            if label
            else f"  {ends[0]} --> {ends[1]}"
        )
    return "\n".join(lines) + "\n"


def _mid(text: str, prefix: str = "r_") -> str:
    """A Mermaid node id: letters, digits and `_` only (ASCII)."""
    return prefix + "".join(c if c.isascii() and c.isalnum() else "_" for c in text)


# -- what `up` would refuse -------------------------------------------------------------------


def _allowed(finding: Finding) -> str:
    return (
        f"pass {finding.override} to go on anyway" if finding.override else "no flag overrides it"
    )


def findings_text(findings: Iterable[Finding]) -> str:
    """`up would refuse: ...` lines, one per guard.Finding."""
    return "".join(f"up would refuse: {f.message} ({_allowed(f)})\n" for f in findings)


def findings_markdown(findings: Iterable[Finding]) -> str:
    blocks = []
    for f in findings:
        message = "\n> ".join(md_escape(line) for line in f.message.splitlines())
        blocks.append(f"> [!CAUTION]\n> `up` would refuse: {message}\n> ({_allowed(f)})\n\n")
    return "".join(blocks)


def plan_output(report: PlanReport, format: str, max_chars: int) -> str:
    """What `plan` prints (report.PlanReport): JSON, a PR comment (Markdown), or the table with
    the cost and the warnings."""
    from ..offline.plan import summarize
    from .cost import cost_summary
    from .text import to_json

    if format == "json":
        return to_json(report.to_json())
    cost = cost_summary(report.cost)
    summary = summarize(report.inventory)
    if format == "markdown":
        extra = f"**{md_escape(cost)}**" + "".join(
            f"\n\n> [!WARNING]\n> {md_escape(w)}" for w in report.warnings
        )
        return plan_markdown(report.inventory, summary, extra, max_chars)
    return (
        plan_table(report.inventory, summary)
        + lines_text([cost])
        + lines_text(report.warnings, "warning: ")
    )
