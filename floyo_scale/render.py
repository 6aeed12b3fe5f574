"""Turn library results into text: tables (rich), JSON, Markdown, YAML with provenance.

Pure functions from data to strings; the CLI decides where they go.
"""

from __future__ import annotations

import io
import json
from typing import Any

from .errors import SpecError, SpecIssue
from .spec.yamlload import Provenance

WIDTH = 120  # fixed width when not on a terminal, so output (and golden files) are stable


def console(file: Any = None, width: int | None = None):
    from rich.console import Console

    return Console(
        file=file or io.StringIO(),
        width=width or WIDTH,
        highlight=False,
        soft_wrap=False,
        no_color=True,
        emoji=False,
    )


def table_text(table: Any, width: int | None = None) -> str:
    out = console(width=width)
    out.print(table)
    return "\n".join(line.rstrip() for line in out.file.getvalue().splitlines()) + "\n"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


# -- errors ------------------------------------------------------------------------------


def spec_error_text(error: SpecError) -> str:
    lines = [issue.format() for issue in error.issues]
    lines.append(f"error: {error.message}")
    return "\n".join(lines) + "\n"


def issue_json(issue: SpecIssue) -> dict[str, Any]:
    loc = issue.location
    return {
        "file": loc.file if loc else None,
        "line": loc.line if loc else None,
        "column": loc.column if loc else None,
        "path": issue.path,
        "message": issue.message,
        "hint": issue.hint,
    }


# -- phases --------------------------------------------------------------------------------


def money(value: float | None) -> str:
    if value is None:
        return "custom"
    return f"${value:,.0f}" if value >= 100 or value == int(value) else f"${value:,.2f}"


def users_text(low: int, high: int | None) -> str:
    def short(n: int) -> str:
        return f"{n // 1000}K" if n >= 1000 and n % 1000 == 0 else str(n)

    return f"{short(low)}+" if high is None else f"{short(low)}-{short(high)}"


def phase_summary(name: str, phase: Any) -> dict[str, Any]:
    db, cache = phase.database, phase.cache
    return {
        "name": name,
        "users": {"min": phase.users.min, "max": phase.users.max},
        "budget_usd": phase.budget.monthly_usd,
        "vercel_plan": phase.web.vercel_plan,
        "supabase": {
            "plan": db.plan,
            "compute": db.compute,
            "read_replicas": len(db.read_replicas),
        },
        "shards": db.sharding.shards if db.sharding else 1,
        "cache": None
        if cache is None
        else {"node_type": cache.node_type, "replicas": cache.replicas}
        if cache.provider == "elasticache"
        else {"provider": cache.provider, "node_type": None, "replicas": 0},
        "regions": [phase.regions.primary, *phase.regions.secondaries],
        "buckets": sorted(phase.storage.buckets),
    }


def phases_table(summaries: list[dict[str, Any]]) -> str:
    from rich import box
    from rich.table import Table

    table = Table(title="Scaling phases", title_justify="left", box=box.SIMPLE_HEAD)
    for column in (
        "phase",
        "users",
        "budget/mo",
        "vercel",
        "supabase",
        "shards",
        "cache",
        "regions",
    ):
        table.add_column(column, no_wrap=True)
    for s in summaries:
        sb = s["supabase"]
        replicas = f" +{sb['read_replicas']} replica{'s' if sb['read_replicas'] != 1 else ''}"
        cache = s["cache"]
        table.add_row(
            s["name"],
            users_text(s["users"]["min"], s["users"]["max"]),
            money(s["budget_usd"]),
            s["vercel_plan"],
            f"{sb['plan']}/{sb['compute']}" + (replicas if sb["read_replicas"] else ""),
            str(s["shards"]),
            "-"
            if cache is None
            else cache.get("provider") or "?"
            if cache["node_type"] is None
            else f"{cache['node_type'].removeprefix('cache.')} x{1 + cache['replicas']}",
            "\n".join(s["regions"]),
        )
    return table_text(table)


# -- show ----------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    plain = (
        text
        and text.strip() == text
        and not any(c in text for c in ":#{}[],&*!|>'\"%@`")
        and text.lower() not in ("null", "true", "false", "yes", "no", "on", "off", "~")
        and not text[0].isdigit()
        and not text.startswith("-")
    )
    return text if plain else json.dumps(text)


def yaml_with_provenance(data: Any, prov: Provenance | None, indent: int = 0) -> str:
    """YAML text of `data`; with `prov`, each value ends with `# file:line` (or `# default`)."""
    lines: list[str] = []
    _emit(data, (), prov, indent, lines)
    return "\n".join(lines) + "\n"


def _where(path: tuple, prov: Provenance | None) -> str:
    if prov is None:
        return ""
    loc = prov.get(path)
    if loc:
        return f"  # {loc.file}:{loc.line}"
    return "  # default" if len(path) > 1 else ""


def _emit(data: Any, path: tuple, prov: Provenance | None, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(data, dict):
        if not data:
            return
        for key, value in data.items():
            here = path + (key,)
            if (
                isinstance(value, dict)
                and value
                or isinstance(value, list)
                and value
                and any(isinstance(v, dict) for v in value)
            ):
                lines.append(f"{pad}{key}:{_where(here, prov)}")
                _emit(value, here, prov, indent + 2, lines)
            else:
                lines.append(f"{pad}{key}: {_inline(value)}{_where(here, prov)}")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            here = path + (i,)
            if isinstance(item, dict) and item:
                sub: list[str] = []
                _emit(item, here, prov, indent + 2, sub)
                sub[0] = f"{pad}- " + sub[0][indent + 2 :]
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {_inline(item)}{_where(here, prov)}")


def _inline(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


# -- plan ------------------------------------------------------------------------------------

MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters (pulumi/actions#482)


def short_type(type_: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws:s3:Bucket`; dynamic Supabase types -> `supabase:Project`."""
    if type_.startswith("pulumi-python:dynamic/"):
        return type_.split("/", 1)[1]
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return type_


def _flags(resource: Any) -> str:
    flags = []
    if resource.stateful:
        flags.append("stateful")
    if resource.protect:
        flags.append("protect")
    if resource.retain_on_delete:
        flags.append("retain")
    return ", ".join(flags)


def plan_table(inventory: Any, summary: dict[str, Any]) -> str:
    from rich import box
    from rich.table import Table

    title = f"Plan: stack {inventory.stack} at phase {inventory.phase}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("component", "region", "type", "name", "flags"):
        table.add_column(column, no_wrap=column != "name", overflow="fold")
    previous = None
    for r in inventory.custom_resources():
        first = r.component != previous
        if first and previous is not None:
            table.add_section()
        previous = r.component
        table.add_row(
            r.component if first else "", r.region or "-", short_type(r.type), r.name, _flags(r)
        )
    counts = ", ".join(f"{k} {v}" for k, v in summary["by_component"].items())
    regions = ", ".join(f"{k} {v}" for k, v in summary["by_region"].items())
    return (
        table_text(table)
        + f"{summary['resources']} resources ({counts})\n"
        + f"by region: {regions}\n"
        + f"stateful: {summary['stateful']}, protected: {summary['protected']}\n"
    )


def plan_markdown(
    inventory: Any, summary: dict[str, Any], extra: str = "", limit: int = MARKDOWN_LIMIT
) -> str:
    regions = list(summary["by_region"])
    counts: dict[tuple[str, str], int] = {}
    for r in inventory.custom_resources():
        key = (r.component, r.region or "global")
        counts[key] = counts.get(key, 0) + 1
    lines = [
        f"### floyo-scale plan: `{inventory.stack}` at phase `{inventory.phase}`",
        "",
        f"**{summary['resources']} resources**, {summary['stateful']} stateful, "
        f"{summary['protected']} protected.",
        "",
        "| component | " + " | ".join(regions) + " | total |",
        "|---|" + "---:|" * (len(regions) + 1),
    ]
    for component, total in summary["by_component"].items():
        cells = [str(counts.get((component, region), "")) for region in regions]
        lines.append(f"| {component} | " + " | ".join(cells) + f" | {total} |")
    if extra:
        lines += ["", extra.rstrip()]
    lines += ["", "<details><summary>All resources</summary>", ""]
    lines += ["| component | region | type | name | flags |", "|---|---|---|---|---|"]
    for r in inventory.custom_resources():
        lines.append(
            f"| {r.component} | {r.region or '-'} | `{short_type(r.type)}` | {md_escape(r.name)} "
            f"| {_flags(r)} |"
        )
    lines += ["", "</details>", ""]
    return limit_markdown("\n".join(lines), limit)


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def limit_markdown(text: str, limit: int = MARKDOWN_LIMIT) -> str:
    """Keep a PR comment under GitHub's size limit, saying that it was cut (at a line end,
    closing a collapsed section it cut into)."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, max(limit - 200, 0))
    kept = text[: max(cut, 0)]
    note = "\n\n_(cut here: the full plan is in `floyo-scale plan --format json`)_\n"
    if kept.count("<details>") > kept.count("</details>"):
        note += "\n</details>\n"
    return kept + note


# -- diff ------------------------------------------------------------------------------------

_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def diff_text(diff: Any) -> str:
    old, new = diff.old, diff.new
    head = f"Diff: {old.stack}@{old.phase} -> {new.stack}@{new.phase}"
    lines = [head, ""]
    for change in diff.changes:
        r = change.resource
        mark = "  !! destroys data" if change.destructive else ""
        lines.append(
            f"{_SYMBOL[change.kind]:>2} {change.kind:<7} {short_type(r.type)} {r.name} "
            f"[{r.component}, {r.region or '-'}]{mark}"
        )
        for key, (before, after) in change.inputs.items():
            forced = " (forces replacement)" if key in change.replaced_by else ""
            lines.append(f"        {key}: {_value(before)} -> {_value(after)}{forced}")
    if not diff.changes:
        return f"{head}\n\nno changes\n"
    counts = diff.counts()
    lines += [
        "",
        ", ".join(f"{n} to {k}" for k, n in counts.items())
        + (f"; {len(diff.destructive)} destroy data" if diff.destructive else ""),
    ]
    return "\n".join(lines) + "\n"


def diff_markdown(diff: Any, extra: str = "", limit: int = MARKDOWN_LIMIT) -> str:
    old, new = diff.old, diff.new
    counts = diff.counts()
    lines = [
        f"### floyo-scale diff: `{old.stack}@{old.phase}` → `{new.stack}@{new.phase}`",
        "",
        " · ".join(f"**{n}** to {k}" for k, n in counts.items()),
        "",
    ]
    if diff.destructive:
        lines += ["> [!WARNING]", "> These changes delete or replace resources that hold data:"]
        lines += [
            f"> - `{short_type(c.resource.type)}` {md_escape(c.resource.name)} ({c.kind})"
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
        keys = ", ".join(f"`{k}`" for k in c.inputs)
        lines.append(
            f"| {c.kind} | {r.component} | {r.region or '-'} | `{short_type(r.type)}` "
            f"| {md_escape(r.name)} | {keys} |"
        )
    return limit_markdown("\n".join(lines) + "\n", limit)


# -- graph -----------------------------------------------------------------------------------


def mermaid(inventory: Any) -> str:
    """A Mermaid flowchart: the app, then per region its databases, cache and buckets."""
    from .graph import graph_model

    model = graph_model(inventory)
    lines = ["flowchart LR", f'  app["Vercel app<br/>{model.app_regions}"]']
    for region, nodes in model.regions.items():
        lines.append(f'  subgraph {_mid(region)}["{region}"]')
        for node_id, label, _kind in nodes:
            lines.append(f'    {node_id}["{label}"]')
        lines.append("  end")
    for src, dst, label in model.edges:
        lines.append(f"  {src} -->|{label}| {dst}" if label else f"  {src} --> {dst}")
    return "\n".join(lines) + "\n"


def _mid(text: str) -> str:
    return "r_" + "".join(c if c.isalnum() else "_" for c in text)
