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
        else {"node_type": cache.node_type, "replicas": cache.replicas},
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
