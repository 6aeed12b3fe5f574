"""The building blocks of every text a user reads: the screen the output goes to (its width and
whether it takes colour; whether this runs in CI, `is_ci`), tables (rich), colour, JSON,
Markdown limits. Money: floyo_scale.cost.currency; type tokens: offline.inventory.short_type.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

WIDTH = 120  # the library's default width (tests calling render directly, golden files)
UNBOUNDED = 1000  # "as wide as the content": output that goes to a file or a pipe

# Set by the CI systems floyo-scale is run from (GitHub Actions, GitLab, Buildkite, CircleCI,
# Jenkins, Azure Pipelines, TeamCity); most also set CI=true.
CI_VARIABLES = (
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
)


def is_ci(env: Mapping[str, str]) -> bool:
    """Whether this runs in CI (no prompt, no live display), read from the environment as
    the rest of the screen is (Screen.detect)."""
    return any(env.get(name, "").lower() not in ("", "0", "false") for name in CI_VARIABLES)


@dataclass(frozen=True)
class Screen:
    """Where the output goes: how wide it may be, and whether it takes colour.

    `width` None: as wide as the content needs (a pipe or a file, whatever COLUMNS says),
    so that a row is one line for grep. Tables never split a resource name or a type: they wrap or
    drop other columns to fit, or lay the rows out one below the other.
    """

    width: int | None = WIDTH
    color: bool = False

    @classmethod
    def detect(cls, stream: IO[str], env: Mapping[str, str]) -> Screen:
        """On a terminal: COLUMNS if set, else the terminal's width. Piped or redirected:
        unbounded, COLUMNS or not (a shell that exports COLUMNS would otherwise cut what
        grep reads). Colour on a terminal unless NO_COLOR (https://no-color.org) or
        TERM=dumb; FORCE_COLOR forces it."""
        try:
            tty = stream.isatty()
        except (AttributeError, OSError, ValueError):
            tty = False
        columns = env.get("COLUMNS", "").strip()
        width: int | None = None
        if tty and columns.isdigit() and int(columns) > 0:
            width = int(columns)
        elif tty:
            width = shutil.get_terminal_size((80, 24)).columns
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
    _share_width(table, width)
    out = console(width=width)
    out.print(table, crop=False)  # never cut: a line too long shows (and tests catch it)
    return "\n".join(_rstrip(line) for line in out.file.getvalue().splitlines()) + "\n"


def _share_width(table: Any, width: int) -> None:
    """Give the columns that wrap their widths, when the table is wider than `width`: each
    as wide as its longest line allows up to a level shared by all, never narrower than its
    longest word. (rich narrows them evenly and then widens those below their longest word
    back, past the screen: the console then cut amounts off the right edge.)"""
    from rich.cells import cell_len

    wrapping = [c for c in table.columns if not c.no_wrap and c.width is None]
    if not wrapping:
        return
    widest = {id(c): max(cell_len(line) for line in _texts(c)) for c in wrapping}
    floor = {id(c): max(_longest_word(c), c.min_width or 0) for c in wrapping}
    room = width - (table_min_width(table) - sum(floor.values()))
    if sum(widest.values()) <= room:
        return  # it fits as it is

    def widths(level: int) -> list[int]:
        return [max(floor[id(c)], min(widest[id(c)], level)) for c in wrapping]

    level = 0
    while level < max(widest.values()) and sum(widths(level + 1)) <= room:
        level += 1
    shares = widths(level)
    spare = room - sum(shares)
    for i, column in enumerate(wrapping):  # what the level leaves, to the first that take it
        extra = min(spare, widest[id(column)] - shares[i])
        shares[i] += max(extra, 0)
        spare -= max(extra, 0)
        column.width = shares[i]


_TAIL = re.compile(r"(?:[ \t]|\x1b\[[0-9;]*m)+$")
_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _rstrip(line: str) -> str:
    """The line without trailing blanks, also where colour codes come between them."""
    tail = _TAIL.search(line)
    return line if tail is None else line[: tail.start()] + "".join(_CODE.findall(tail.group()))


def fitting_table(layouts: list[Callable[[], Any]], width: int | None = None) -> Any:
    """The first of the tables `layouts` build (widest layout first) that fits the width,
    as it is or without its outer padding; else the last, without it (`table_text` then
    makes it as narrow as its names and amounts allow)."""
    table = None
    for build in layouts:
        table = build()
        if table_fits(table, width):
            return table
        table.pad_edge = False  # the two columns of margin, before anything wraps
        if table_fits(table, width):
            return table
    assert table is not None, "no layout"
    return table


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
            total += max(_longest_word(column), column.min_width or 0)
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


class Verbatim(str):
    """A line shown exactly as it is, however wide: SQL to copy, a row aligned in columns."""


def fit_lines(lines: Iterable[str]) -> str:
    """A report's lines, each that is wider than the screen wrapped between words (as
    `lines_text`); a line that fits, or a `Verbatim` one, is kept as it is (its spacing too)."""
    out = []
    for line in lines:
        if isinstance(line, Verbatim) or len(line) <= _screen.columns:
            out.append(line + "\n")
        else:
            out.append(lines_text([line]))
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


# -- untrusted text in Markdown and Mermaid -------------------------------------------------
#
# Names, messages and values that come from a spec (stack and resource names, emails, table
# names, error text) reach pull-request comments, `--format markdown` and Mermaid graphs.
# There they are text, never markup: the one escaper for each format is here.
# GitHub Flavored Markdown: https://github.github.com/gfm/ (backslash escapes: any ASCII
# punctuation; entity references; extended autolinks: `www.`, `http(s)://`, emails).

_MD_BACKSLASH = frozenset("\\`*_[]()!#|~")  # each loses its meaning behind a backslash
_MD_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}  # no HTML, no entity of the input's
ZWSP = "&#8203;"  # a zero-width space: breaks a mention or an autolink, invisible in the page
_LINE_START = re.compile(r"^(\d*)([-+=.)])")  # a list item or a setext underline there


def md_escape(text: object, *, html: bool = False) -> str:
    """`text` as inert Markdown prose (also inside a table cell): every character that could
    start markup is escaped (`[ ] ( ) ! ` * _ # | ~ \\` behind a backslash, `& < >` as
    entities), line breaks become spaces (a newline would end a table row, a quote or a
    fence), and what GitHub turns into a link or a notification by itself is broken by a
    zero-width space: `@` (a mention, an email autolink), `://` and `www.` (autolinks).

    `html=True`: for text inside an HTML block (`<details><summary>…`), where Markdown is not
    read and a backslash would show: entities only (`& < > "`), and the same line breaks and
    zero-width spaces."""
    flat = " ".join(str(text).splitlines())
    out: list[str] = []
    lower = flat.lower()
    for i, ch in enumerate(flat):
        if ch in _MD_ENTITY:
            out.append(_MD_ENTITY[ch])
        elif ch == '"' and html:
            out.append("&quot;")
        elif ch in _MD_BACKSLASH and not html:
            out.append("\\" + ch)
        elif ch == "@" or (ch == ":" and flat.startswith("//", i + 1)):
            out.append(ch + ZWSP)
        elif ch == "." and lower.endswith("www", 0, i):
            out.append(ZWSP + ch)
        else:
            out.append(ch)
    escaped = "".join(out)
    if html:
        return escaped
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}", escaped, count=1)


def md_code(text: object) -> str:
    """`text` as an inline code span, where nothing is markup (no link, mention or HTML): a
    fence of one backtick more than the longest run inside, line breaks as spaces, and `|`
    escaped (GFM splits table cells before it reads code spans)."""
    flat = " ".join(str(text).splitlines()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


# Mermaid (GitHub renders ```mermaid blocks): a label is written in double quotes, and every
# character that could end the quote, the node, the fence or start HTML is an entity code
# (https://mermaid.js.org/syntax/flowchart.html#entity-codes-to-escape-characters).
_MERMAID_ENTITY = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "|": "#124;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    ";": "#59;",
}


def mermaid_text(text: object) -> str:
    """`text` inside a quoted Mermaid label (or an edge label): entity codes, no line break."""
    flat = " ".join(str(text).splitlines())
    return "".join(_MERMAID_ENTITY.get(ch, ch) for ch in flat)


def mermaid_label(text: str) -> str:
    """A quoted Mermaid label: each line of `text` escaped, the lines joined with `<br/>`."""
    return '"' + "<br/>".join(mermaid_text(line) for line in text.splitlines()) + '"'


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


def size_text(n: int | None) -> str:
    """Bytes, in decimal units: `512 B`, `8.4 MB`, `1.2 TB`; `?` when not known. The one size
    formatter (progress, the archive's report, `db advise`'s evidence)."""
    if n is None:
        return "?"
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("KB", "MB", "GB"):
        if round(value, 1) < 1000:  # 999,960 B is 1.0 MB, not 1000.0 KB
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
