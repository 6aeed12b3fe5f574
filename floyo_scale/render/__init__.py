"""Every piece of text a user reads: tables, JSON, Markdown (PR comments), Mermaid, YAML with
provenance, the progress display. Pure functions from data to strings (and the live display);
the CLI decides where they go.

Owns: text building blocks (text), spec errors and phases (spec), plan/diff/graph (plan), cost
tables (cost), the one progress display for every command (progress), the engine commands'
reports (engine), the db commands' reports (db, db_advise, db_move). Money goes through the
one formatter, floyo_scale.cost.currency (usd/money), which guards and policy use as well.

May import: every library layer (errors, spec, offline, cost, guards, policy, engine types),
rich. Imported only by cli: no library module imports render.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time each is imported on first use
    from ..cost.currency import money, signed_usd, usd, usd_range
    from ..offline.inventory import short_type
    from .plan import (
        diff_markdown,
        diff_text,
        findings_markdown,
        findings_text,
        mermaid,
        plan_markdown,
        plan_output,
        plan_table,
    )
    from .review import comment, revision_text
    from .spec import (
        issue_json,
        phase_summary,
        phases_table,
        show_output,
        spec_error_text,
        validate_text,
        yaml_with_provenance,
    )
    from .text import (
        MARKDOWN_LIMIT,
        WIDTH,
        console,
        limit_markdown,
        lines_text,
        md_escape,
        table_text,
        to_json,
        users_text,
    )

_LAZY = {
    "money": "..cost.currency",
    "signed_usd": "..cost.currency",
    "usd": "..cost.currency",
    "usd_range": "..cost.currency",
    "short_type": "..offline.inventory",
    "comment": ".review",
    "revision_text": ".review",
    "diff_markdown": ".plan",
    "findings_markdown": ".plan",
    "findings_text": ".plan",
    "diff_text": ".plan",
    "mermaid": ".plan",
    "plan_markdown": ".plan",
    "plan_output": ".plan",
    "show_output": ".spec",
    "plan_table": ".plan",
    "issue_json": ".spec",
    "phase_summary": ".spec",
    "phases_table": ".spec",
    "spec_error_text": ".spec",
    "validate_text": ".spec",
    "yaml_with_provenance": ".spec",
    "MARKDOWN_LIMIT": ".text",
    "WIDTH": ".text",
    "console": ".text",
    "limit_markdown": ".text",
    "lines_text": ".text",
    "md_escape": ".text",
    "table_text": ".text",
    "to_json": ".text",
    "users_text": ".text",
}


def __getattr__(name: str) -> Any:  # PEP 562: importing this package stays cheap
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "MARKDOWN_LIMIT",
    "WIDTH",
    "comment",
    "console",
    "diff_markdown",
    "diff_text",
    "findings_markdown",
    "findings_text",
    "issue_json",
    "limit_markdown",
    "lines_text",
    "md_escape",
    "mermaid",
    "money",
    "phase_summary",
    "phases_table",
    "plan_markdown",
    "plan_output",
    "show_output",
    "plan_table",
    "revision_text",
    "short_type",
    "signed_usd",
    "spec_error_text",
    "table_text",
    "to_json",
    "usd",
    "usd_range",
    "users_text",
    "validate_text",
    "yaml_with_provenance",
]
