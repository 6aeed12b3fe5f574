"""The building blocks of every text a user reads: tables (rich, fixed width when not on a
terminal), JSON, Markdown limits. Money: floyo_scale.cost.currency; type tokens:
offline.inventory.short_type.
"""

from __future__ import annotations

import io
import json
from typing import Any

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


def users_text(low: int, high: int | None) -> str:
    def short(n: int) -> str:
        return f"{n // 1000}K" if n >= 1000 and n % 1000 == 0 else str(n)

    return f"{short(low)}+" if high is None else f"{short(low)}-{short(high)}"


MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters (pulumi/actions#482)


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
