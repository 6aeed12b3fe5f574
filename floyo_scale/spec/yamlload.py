"""YAML loading that remembers where every value came from and refuses what PyYAML lets by.

PyYAML keeps the last of two duplicate keys without a word, expands alias bombs until memory
runs out and reports binary files as odd syntax errors. This loader works on the node graph
(`compose`), so it can record the file:line:column of every key path, detect duplicate keys,
and bound the work an alias may cause before any value is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Location, SpecIssue

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 256 * 1024  # a phase or stack file is a few KiB; anything larger is a mistake
MAX_NODES = 20_000  # values built from one file, aliases counted every time they are used
MAX_DEPTH = 64  # nesting of mappings and lists; a spec nests about 7 deep

KeyPath = tuple[str | int, ...]
Provenance = dict[KeyPath, Location]

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """A loaded YAML file: its data and where each key path was written."""

    path: Path
    data: Any
    provenance: Provenance


class YamlProblem(Exception):
    def __init__(self, issue: SpecIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def display_path(path: Path) -> str:
    """Paths in messages are relative to the working directory when they can be."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_document(path: Path) -> Document:
    """Read, decode and parse one spec file; raise YamlProblem with a located issue."""
    name = display_path(path)

    def fail(message: str, line: int = 1, column: int = 1, hint: str | None = None) -> YamlProblem:
        return YamlProblem(SpecIssue(Location(name, line, column), "", message, hint))

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(
            f"cannot read the file: {exc.strerror or exc}",
            hint="check that the file exists and that you may read it",
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail(
            f"file is {len(raw):,} bytes, larger than the {MAX_FILE_BYTES:,} a spec may be",
            hint="a spec file holds a few dozen settings; is this the right file?",
        )
    if b"\x00" in raw:
        raise fail(
            "file is binary (it contains NUL bytes), not YAML",
            hint="a spec is a UTF-8 text file; is this the right file?",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise fail(
            f"file is not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)",
            line,
            column,
            hint="save the file as UTF-8",
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise fail("file is empty", hint="a spec file is a YAML mapping of settings")

    loader = Loader(text)
    try:
        too_deep = _nesting_too_deep(text)
        if too_deep is not None:
            raise fail(
                f"values nest more than {MAX_DEPTH} levels deep",
                too_deep.line + 1,
                too_deep.column + 1,
                hint="a spec nests about 7 levels deep; is this the right file?",
            )
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or str(exc)).strip()
        if "nesting depth" in problem:
            # libyaml >= 0.2.6 (PyYAML 6.0.4 wheels) stops at its own depth limit while
            # scanning ahead, before our event check reaches MAX_DEPTH: find our limit's
            # place with the pure-Python parser, so the message does not depend on the build.
            deep = _nesting_too_deep(text, yaml.SafeLoader) or mark
            raise fail(
                f"values nest more than {MAX_DEPTH} levels deep",
                deep.line + 1 if deep else line,
                deep.column + 1 if deep else column,
                hint="a spec nests about 7 levels deep; is this the right file?",
            ) from None
        hint: str | None = None
        lines = text.splitlines()
        at = lines[line - 1][:column] if mark and line <= len(lines) else ""
        if "\\t" in problem or "tab" in problem.lower() or "\t" in at:
            hint = "YAML indentation must use spaces, not tabs"
        elif "expected a single document" in (exc.context or ""):
            problem = "file holds more than one YAML document"
            hint = "remove the `---` separator: one file is one spec"
        else:
            hint = indentation_hint(lines, line) or _syntax_hint(exc, line)
        raise fail(f"YAML syntax error: {problem}", line, column, hint) from None
    except yaml.YAMLError as exc:
        raise fail(
            f"YAML syntax error: {exc}", hint="check the file's quotes, brackets and colons"
        ) from None
    finally:
        loader.dispose()

    if node is None:
        raise fail("file is empty", hint="a spec file is a YAML mapping of settings")
    if node.tag != _MAP:
        raise fail(
            "the top level must be a mapping of settings (key: value)",
            node.start_mark.line + 1,
            node.start_mark.column + 1,
            hint="write one `key: value` per line, starting at the first column, "
            "e.g. description: ...",
        )
    builder = _Builder(name, Loader(""))
    data = builder.build(node, ())
    return Document(path, data, builder.provenance)


def _nesting_too_deep(text: str, loader: type = Loader) -> yaml.Mark | None:
    """Where mappings and lists first nest deeper than MAX_DEPTH, or None.

    Read from the parser's events, which come without recursion, before the composer (which
    recurses once per level, in C with the C loader) can overflow the stack and crash.
    """
    parser = loader(text)
    depth = 0
    try:
        while not parser.check_event(yaml.StreamEndEvent):
            event = parser.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        parser.dispose()
    return None


class _Builder:
    def __init__(self, file: str, constructor: Any) -> None:
        self.file = file
        self.constructor = constructor
        self.provenance: Provenance = {}
        self.count = 0

    def _loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def _fail(
        self, node: yaml.Node, path: KeyPath, message: str, hint: str | None = None
    ) -> YamlProblem:
        return YamlProblem(SpecIssue(self._loc(node), dotted(path), message, hint))

    def build(self, node: yaml.Node, path: KeyPath, at: yaml.Node | None = None) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._fail(
                node,
                path,
                f"document expands to more than {MAX_NODES:,} values",
                hint="anchors and aliases (&x / *x) may repeat small things, not build huge ones",
            )
        if len(path) > MAX_DEPTH:  # aliases nest it: `&a [*a]` would never end
            where = SpecIssue(
                self._loc(node),
                dotted(path[:4]) + "...",
                f"values nest more than {MAX_DEPTH} levels deep",
                "an alias (*x) may not be used inside its own anchor (&x)",
            )
            raise YamlProblem(where)
        self.provenance[path] = self._loc(at or node)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise self._fail(node, path, f"unsupported tag {node.tag}", _TAG_HINT)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    raise self._fail(
                        key_node,
                        path,
                        "YAML merge keys (<<) are not supported",
                        hint="use `extends:` to build on another phase",
                    )
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self._fail(
                        key_node,
                        path,
                        "a key must be a plain string",
                        hint="write keys as plain words, e.g. disk_gb:",
                    )
                key = self.constructor.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key)  # `1:` or `true:` as keys: keep the text, the model rejects it
                if key in result:
                    first = self.provenance.get(path + (key,))
                    raise self._fail(
                        key_node,
                        path + (key,),
                        "duplicate key"
                        + (f" (first written at line {first.line})" if first else ""),
                        hint="YAML keeps only the last of two equal keys; remove one",
                    )
                result[key] = self.build(value_node, path + (key,), at=key_node)
            return result
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self._fail(node, path, f"unsupported tag {node.tag}", _TAG_HINT)
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or exc
            raise self._fail(node, path, f"cannot read value: {problem}", _TAG_HINT) from None


_TAG_HINT = "write plain values: tags (!!python/..., !!binary, !custom) are not supported"


def indentation_hint(lines: list[str], line: int) -> str | None:
    """If line `line` (1-based) is indented where no key can be, which indentation fits:
    the levels of the lines above it (their keys, and the list items they are in)."""
    if not 1 <= line <= len(lines) or not _content(lines[line - 1]):
        return None
    actual = _indents(lines[line - 1])[0]
    above = [(n + 1, text) for n, text in enumerate(lines[: line - 1]) if _content(text)]
    if not above:
        return None
    levels: dict[int, int] = {}  # indentation -> the line that has it
    lowest = None
    for number, text in reversed(above):
        dash, inner = _indents(text)
        if lowest is None or dash < lowest:
            levels.setdefault(inner, number)
            levels.setdefault(dash, number)
            lowest = dash
        if lowest == 0:
            break
    previous = above[-1][1].split(" #")[0].rstrip()
    opens = previous.endswith(":") or previous.lstrip() == "-"
    if actual in levels or (opens and actual > _indents(above[-1][1])[1]):
        return None
    below = [n for n in levels if n < actual]
    over = [n for n in levels if n > actual]
    choices = ([max(below)] if below else []) + ([min(over)] if over else [])
    if not opens and actual > max(levels):
        choices = [_indents(above[-1][1])[1]]
    said = " or ".join(
        f"{n} (like {_label(lines[levels[n] - 1], n)} on line {levels[n]})" for n in choices
    )
    spaces = "space" if actual == 1 else "spaces"
    return f"line {line} is indented {actual} {spaces}; expected {said}"


def _content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indents(text: str) -> tuple[int, int]:
    """A line's indentation, and that of what follows its `- ` list markers."""
    dash = len(text) - len(text.lstrip(" "))
    rest = text[dash:]
    inner = dash
    while rest.startswith("- "):
        skipped = len(rest) - len(rest[2:].lstrip(" "))
        inner += skipped
        rest = rest[skipped:]
    if rest.startswith(("{", "[")):
        return dash, dash if inner == dash else inner - 2  # a flow item holds no keys below
    return dash, inner


def _label(text: str, at: int) -> str:
    """The part of a line that starts at column `at`, shortened: `team:` or `- {region: a}`."""
    part = text[at:].split(" #")[0].strip()
    if part.startswith("- "):
        return f"`{part[:20]}`"
    key = part.split(":")[0]
    return f"`{key}:`" if ":" in part else f"`{part[:20]}`"


def _syntax_hint(exc: yaml.MarkedYAMLError, line: int) -> str:
    start = exc.context_mark
    if exc.context and start is not None and start.line + 1 != line:
        began = f"line {start.line + 1}, column {start.column + 1}"
        return (
            f"the value that began at {began} is not closed or not followed as YAML "
            "expects: check its quotes, brackets and colons"
        )
    return f"check line {line} and the one before it: a missing ':', quote or bracket"


def dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path)
