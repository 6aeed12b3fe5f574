"""Spec text: validation errors (text and JSON), the phases table, YAML with provenance (`show`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..cost.currency import money
from ..errors import SpecError, SpecIssue
from ..spec.yamlload import KeyPath, Provenance
from .text import lines_text, screen, table_fits, table_text, to_json, users_text, wrap_words

if TYPE_CHECKING:  # only for annotations (nothing more imported at run time)
    from ..spec.loader import Description, ValidationReport
    from ..spec.models import Phase

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


def phase_summary(name: str, phase: Phase) -> dict[str, Any]:
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
    """A row per phase; on a screen too narrow for that, a column per phase."""
    from rich import box
    from rich.table import Table

    header = ("phase", "users", "budget/mo", "vercel", "supabase", "shards", "cache", "regions")
    rows = [_phase_row(s) for s in summaries]
    table = Table(title="Scaling phases", title_justify="left", box=box.SIMPLE_HEAD)
    for column in header:
        table.add_column(column, no_wrap=column not in ("supabase", "cache"))
    for row in rows:
        table.add_row(*row)
    if not table_fits(table):
        table = Table(title="Scaling phases", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("phase", no_wrap=True)
        for row in rows:
            table.add_column(row[0])
        for i, name in enumerate(header[1:], start=1):
            table.add_row(name, *(row[i] for row in rows))
    return table_text(table)


def _phase_row(s: dict[str, Any]) -> tuple[str, ...]:
    sb = s["supabase"]
    replicas = f" +{sb['read_replicas']} replica{'s' if sb['read_replicas'] != 1 else ''}"
    cache = s["cache"]
    return (
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


def _where(path: KeyPath, prov: Provenance | None) -> str:
    if prov is None:
        return ""
    loc = prov.get(path)
    if loc:
        return f"  # {loc.file}:{loc.line}"
    return "  # default" if len(path) > 1 else ""


def _emit(data: Any, path: KeyPath, prov: Provenance | None, indent: int, lines: list[str]) -> None:
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
                head = f"{pad}{key}: "
                folded = _folded(value, head)
                lines += folded[:-1] + [folded[-1] + _where(here, prov)]
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


def _folded(value: Any, head: str) -> list[str]:
    """`head` and the value, on one line; a quoted string too long for the screen folded
    between words onto lines indented by two more (a double-quoted YAML scalar folds each
    line break into one space: the value read back is the same)."""
    text = _inline(value)
    line = head + text
    width = screen().columns
    foldable = (
        isinstance(value, str)
        and text.startswith('"')
        and "  " not in value
        and value.strip() == value
        and "\\" not in text
    )
    if len(line) <= width or not foldable:
        return [line]
    pad = head[: len(head) - len(head.lstrip(" "))]
    body = head.strip() + " " + text
    return [pad + part for part in wrap_words(body.split(" "), width - len(pad), 2)]


def _inline(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def validate_text(report: ValidationReport) -> str:
    """`valid: 4 phases (startup, ...) and 3 stacks (dev, ...)`."""
    parts = []
    for what, names in (("phase", report.phases), ("stack", report.stacks)):
        if names:
            parts.append(
                f"{len(names)} {what}{'s' if len(names) != 1 else ''} ({', '.join(names)})"
            )
    return lines_text(["valid: " + " and ".join(parts or ["nothing to check"])])


def show_output(desc: Description, provenance: bool, format: str) -> str:
    """What `show` prints: the resolved spec as YAML (with `# file:line` comments when
    `provenance`) or JSON (with a `provenance` map)."""
    if format != "json":
        return yaml_with_provenance(desc.data, desc.provenance if provenance else None)
    data: Any = desc.data
    if provenance:
        where = {".".join(map(str, k)): str(v) for k, v in sorted(desc.provenance.items(), key=str)}
        data = {**desc.data, "provenance": where}
    return to_json(data)
