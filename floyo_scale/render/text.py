"""The building blocks of every text a user reads: the screen the output goes to (its width and
whether it takes colour), tables (rich), colour, JSON, Markdown limits. Money:
floyo_scale.cost.currency; type tokens: offline.inventory.short_type.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

WIDTH = 120  # the library's default width (tests calling render directly, golden files)
UNBOUNDED = 1000  # "as wide as the content": output that goes to a file or a pipe


@dataclass(frozen=True)
class Screen:
    """Where the output goes: how wide it may be, and whether it takes colour.

    `width` None: as wide as the content needs (a pipe or a file, and no COLUMNS), so that a
    row is one line for grep. Tables never split a resource name or a type: they wrap or
    drop other columns to fit, or lay the rows out one below the other.
    """

    width: int | None = WIDTH
    color: bool = False

    @classmethod
    def detect(cls, stream: IO[str], env: Mapping[str, str]) -> Screen:
        """COLUMNS if set, else the terminal's width, else unbounded; colour on a terminal
        unless NO_COLOR (https://no-color.org) or TERM=dumb; FORCE_COLOR forces it."""
        try:
            tty = stream.isatty()
        except (AttributeError, OSError, ValueError):
            tty = False
        columns = env.get("COLUMNS", "").strip()
        if columns.isdigit() and int(columns) > 0:
            width: int | None = int(columns)
        elif tty:
            width = shutil.get_terminal_size((80, 24)).columns
        else:
            width = None
        if env.get("NO_COLOR"):
            color = False
        elif env.get("FORCE_COLOR"):
            color = True
        else:
            color = tty and env.get("TERM") != "dumb"
        return cls(width, color)

    @property
    def columns(self) -> int:
        return self.width or UNBOUNDED


_screen = Screen()


def use(screen: Screen) -> None:
    """Set the screen every table and colour is made for (the CLI does, once per run)."""
    global _screen
    _screen = screen


def screen() -> Screen:
    return _screen


_ANSI = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "magenta": "35",
    "cyan": "36",
}


def paint(text: str, style: str) -> str:
    """`text` in colour (`"green"`, `"bold red"`) when the screen takes colour; else as is."""
    if not _screen.color or not text:
        return text
    codes = ";".join(_ANSI[word] for word in style.split())
    return f"\x1b[{codes}m{text}\x1b[0m"


def console(file: Any = None, width: int | None = None) -> Any:
    from rich.console import Console

    color = _screen.color
    return Console(
        file=file or io.StringIO(),
        width=width or _screen.columns,
        highlight=False,
        soft_wrap=False,
        no_color=not color,
        force_terminal=color,
        color_system="standard" if color else None,
        emoji=False,
    )


def table_text(table: Any, width: int | None = None) -> str:
    """The table as text, as wide as the screen (or `width`) allows; never narrower than
    its columns that may not wrap need (rich would cut a name with an ellipsis): then its
    lines are longer than the screen, but every name is whole."""
    width = max(width or _screen.columns, table_min_width(table))
    for column in table.columns:  # a column that wraps keeps its longest word whole
        if not column.no_wrap and column.min_width is None and column.width is None:
            column.min_width = _longest_word(column)
    out = console(width=width)
    out.print(table)
    return "\n".join(_rstrip(line) for line in out.file.getvalue().splitlines()) + "\n"


_TAIL = re.compile(r"(?:[ \t]|\x1b\[[0-9;]*m)+$")
_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _rstrip(line: str) -> str:
    """The line without trailing blanks, also where colour codes come between them."""
    tail = _TAIL.search(line)
    return line if tail is None else line[: tail.start()] + "".join(_CODE.findall(tail.group()))


def table_fits(table: Any, width: int | None = None) -> bool:
    """Whether `table` fits the width without shortening a column that may not wrap."""
    return table_min_width(table) <= (width or _screen.columns)


def _texts(column: Any) -> list[str]:
    from rich.text import Text

    texts = [c.plain if isinstance(c, Text) else str(c) for c in (column.header, *column.cells)]
    return [line for text in texts for line in text.splitlines()] or [""]


def _longest_word(column: Any) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for line in _texts(column) for word in line.split()), default=0)


def table_min_width(table: Any) -> int:
    """The narrowest `table` can be without shortening a column that may not wrap (rich
    would cut those with an ellipsis): those columns at their widest, the others at their
    longest word, with the padding (one space each side), the edges and the separators of
    a boxed table."""
    from rich.cells import cell_len

    columns = table.columns
    total = (2 + len(columns) - 1) if table.box else 0
    for column in columns:
        if column.no_wrap:
            total += max(cell_len(line) for line in _texts(column))
        else:
            total += _longest_word(column)
        total += 2
    return total - (0 if table.pad_edge else 2)  # no padding outside the outer columns


def lines_text(lines: list[str], prefix: str = "") -> str:
    """Each line (prefixed: `warning: `) wrapped between words to the screen's width, the
    lines it continues on indented by two more than it is."""
    out = []
    for line in lines:
        text = prefix + line
        lead = len(text) - len(text.lstrip(" "))
        wrapped = wrap_words(text.split(" "), _screen.columns - lead, 2)
        out += [" " * lead + part + "\n" for part in wrapped] or ["\n"]
    return "".join(out)


def wrap_words(words: list[str], width: int, indent: int) -> list[str]:
    """`words` joined by spaces into lines of at most `width`, the second and later lines
    indented; a word is never split (a line holding one long word may be longer)."""
    lines: list[str] = []
    line = ""
    for word in filter(None, words):
        if not line:
            line = word if not lines else " " * indent + word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = " " * indent + word
    if line:
        lines.append(line)
    return lines


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
