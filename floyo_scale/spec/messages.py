"""Pydantic's validation errors, said plainly: the value found, what was expected, a hint.

Every message has the form `got <value>: <what is wrong>` (a missing or unknown key names
the key instead), and every issue carries a hint. Values in secret fields are never shown:
they read "a literal value". Nothing here reads files or has side effects.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ..errors import Location, SpecIssue
from .models import is_secret_field
from .yamlload import KeyPath, Provenance, dotted

MAX_SHOWN = 60  # characters of a string value shown in a message

# Each pattern a model uses, as a person would say it, with an example of a good value.
PATTERNS: dict[str, tuple[str, str]] = {
    r"^\d{12}$": ("an AWS account id is exactly 12 digits", "'123456789012' (quoted)"),
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": (
        "expected an email address of the form name@example.com",
        "alerts@floyo.app",
    ),
    r"^[a-z][a-z0-9-]{0,40}$": (
        "expected a name of lowercase letters, digits and '-', starting with a letter, "
        "at most 41 characters",
        "floyo-dev",
    ),
    r"^[A-Za-z0-9._-]{1,255}$": (
        "expected letters, digits, '.', '_' or '-' (1 to 255 characters)",
        "archive-after-30-days",
    ),
    r"^[\w.-]+/[\w.-]+$": ("expected a repository as owner/name", "floyo/floyo"),
    r"^[\w-]+$": ("expected a slug of letters, digits, '_' or '-'", "floyo"),
}

_INT_TYPES = {"int_type", "int_parsing", "int_from_float", "int_parsing_size"}
_FLOAT_TYPES = {"float_type", "float_parsing"}
_BOOL_TYPES = {"bool_type", "bool_parsing"}
_MAPPING_TYPES = {"dict_type", "model_type", "model_attributes_type", "dataclass_type"}
_BOUNDS = {
    "greater_than": ("more than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def shown(value: Any) -> str:
    """A value as a message shows it (a YAML reader's words, not Python's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "-.inf" if value < 0 else (".inf" if value > 0 else ".nan")
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        if not value:
            return "an empty string"
        text = value if len(value) <= MAX_SHOWN else value[: MAX_SHOWN - 3] + "..."
        return repr(text)
    if isinstance(value, dict):
        if not value:
            return "an empty mapping"
        keys = ", ".join(str(k) for k in list(value)[:3]) + (", ..." if len(value) > 3 else "")
        return f"a mapping ({keys})"
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {len(value)} item{_s(len(value))}"
    return f"a {type(value).__name__}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def issue_from_error(
    cls: type[BaseModel], error: Any, data: Any, prov: Provenance, fallback: Location
) -> SpecIssue:
    """One Pydantic error as a located issue with a plain message and a hint."""
    path = data_path(error["loc"], data)
    message, hint = explain(cls, error, path)
    return SpecIssue(locate(path, prov, fallback), dotted(path), message, hint)


def explain(cls: type[BaseModel], error: Any, path: KeyPath) -> tuple[str, str]:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    field = field_at(cls, path)
    secret = field is not None and is_secret_field(field)
    got = "got a literal value" if secret else f"got {shown(value)}"
    key = _key_name(path)
    about = _about(field)

    if kind == "missing":
        expected = expected_text(cls, path)
        return "required key is missing", f"add {key}: {expected}" + _then(about)
    if kind == "extra_forbidden":
        known = fields_at(cls, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        if close:
            return f"unknown key {str(path[-1])!r}", f"did you mean {close[0]}?"
        return f"unknown key {str(path[-1])!r}", "valid keys here: " + ", ".join(sorted(known))
    if kind == "value_error":
        problem = ctx.get("error")
        text = str(problem) if problem is not None else error["msg"]
        hint = getattr(problem, "hint", None) or about or "see docs/spec.md for this key"
        if isinstance(value, dict):  # a rule across the keys of a mapping: the text names them
            return text, hint
        return f"{got}: {text}", hint
    if kind == "string_type":
        named = _named_choices(field)
        if named:
            what = _what(field) or "name"
            return f"{got}: expected a {what}", "one of: " + ", ".join(named)
        return f"{got}: expected a string", _string_hint(key, value, secret)
    if kind in _INT_TYPES:
        example = _example_number(field, 16)
        if kind == "int_from_float":
            return f"{got}: expected a whole number", f"round it, e.g. {key}: {example}"
        hint = f"write digits only, without quotes or units, e.g. {key}: {example}"
        return f"{got}: expected a whole number", hint
    if kind in _FLOAT_TYPES:
        example = _example_number(field, 100)
        return f"{got}: expected a number", f"write digits only, e.g. {key}: {example}"
    if kind == "finite_number":
        example = _example_number(field, 100)
        return (
            f"{got}: expected a finite number",
            f".inf and .nan are not allowed; e.g. {key}: {example}",
        )
    if kind in _BOOL_TYPES:
        return f"{got}: expected true or false", f"e.g. {key}: true"
    if kind in ("literal_error", "enum"):
        choices = _choices(field)
        expected = ctx.get("expected") or ", ".join(map(repr, choices))
        return f"{got}: expected one of {expected}", _choice_hint(value, choices, expected)
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        what, example = PATTERNS.get(pattern, ("does not have the expected form", ""))
        if "[key]" in error["loc"] and isinstance(value, str):  # a mapping's key: a name
            renamed = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-") or "uploads"
            hint = f"rename it, e.g. {renamed if renamed[0].isalpha() else 'b-' + renamed}"
        elif example:
            hint = f"e.g. {_example(path, example)}"
        else:
            hint = f"it must match the regular expression {pattern}"
        return f"{got}: {what}", _string_hint(key, value, secret) if secret else hint
    if kind in ("string_too_short", "string_too_long"):
        bound = "at least" if kind == "string_too_short" else "at most"
        size = ctx.get("min_length", ctx.get("max_length"))
        return f"{got}: expected {bound} {size} characters", about or "see docs/spec.md"
    if kind in _BOUNDS:
        words, name = _BOUNDS[kind]
        limit = _number(ctx.get(name))
        allowed = bounds_text(field)
        hint = f"{key} takes {allowed}" if allowed else f"use a number {words} {limit}"
        return f"{got}: must be {words} {limit}", hint + _then(about)
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        size = ctx.get("min_length", ctx.get("max_length"))
        items = "item" if size == 1 else "items"
        return f"{got}: expected {bound} {size} {items}", about or f"e.g. {key}: [iad1]"
    if kind in ("list_type", "set_type", "tuple_type"):
        hint = f"write a list: {key}: [a, b], or one `- item` per line under {key}:"
        return f"{got}: expected a list", hint
    if kind in _MAPPING_TYPES:
        known = fields_at(cls, path)
        hint = "valid keys here: " + ", ".join(sorted(known)) if known else f"e.g. {key}: {{}}"
        return f"{got}: expected a mapping of settings (key: value)", hint
    text = error["msg"]
    return f"{got}: {text[0].lower() + text[1:] if text else kind}", about or "see docs/spec.md"


def _then(about: str | None) -> str:
    return f" ({about})" if about else ""


def _about(field: FieldInfo | None) -> str | None:
    return field.description if field is not None and field.description else None


def _key_name(path: KeyPath) -> str:
    """The key as written in the file (a list item is named by its list's key)."""
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return "value"


def _example(path: KeyPath, value: str) -> str:
    if path and isinstance(path[-1], int):
        return f"{_key_name(path)}: [{value}]"
    return f"{_key_name(path)}: {value}"


def _string_hint(key: str, value: Any, secret: bool) -> str:
    if secret:
        return "refer to an environment variable instead: " + key + ": ${env:NAME}"
    if isinstance(value, bool):
        return (
            "YAML reads unquoted yes, no, on, off, true and false as true or false; "
            f"put the value in quotes, e.g. {key}: 'yes'"
        )
    if isinstance(value, int | float):
        return f"YAML reads unquoted digits as a number; quote it: {key}: '{value}'"
    if value is None:
        return f"write a value after {key}:, or remove the key"
    if isinstance(value, dict | list):
        return f"write one value on the same line: {key}: text"
    return f"e.g. {key}: text"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _example_number(field: FieldInfo | None, default: int) -> str:
    default_value = field.default if field is not None else None
    if isinstance(default_value, int | float) and default_value is not False and default_value:
        return _number(default_value)
    for meta in field.metadata if field is not None else []:
        if isinstance(meta, Ge) and isinstance(meta.ge, int | float):
            return _number(max(meta.ge, 1))
    return str(default)


def bounds_text(field: FieldInfo | None) -> str | None:
    """`8 to 60000`, `at least 1`, `more than 0` ... from a field's constraints."""
    if field is None:
        return None
    low = high = None
    for meta in field.metadata:
        if isinstance(meta, Ge):
            low = f"at least {_number(meta.ge)}"
        elif isinstance(meta, Gt):
            low = f"more than {_number(meta.gt)}"
        elif isinstance(meta, Le):
            high = f"at most {_number(meta.le)}"
        elif isinstance(meta, Lt):
            high = f"less than {_number(meta.lt)}"
    if low and high:
        return f"{low} and {high}"
    return low or high


def _choices(field: FieldInfo | None) -> list[Any]:
    if field is None:
        return []
    annotation = field.annotation
    for arg in [annotation, *typing.get_args(annotation)]:
        if typing.get_origin(arg) is typing.Literal:
            return list(typing.get_args(arg))
    return []


def _what(field: FieldInfo | None) -> str | None:
    for meta in field.metadata if field is not None else []:
        what = getattr(getattr(meta, "func", None), "what", None)
        if what:
            return str(what)
    return None


def _named_choices(field: FieldInfo | None) -> tuple[str, ...]:
    """The names a field takes when a validator checks them (models._one_of)."""
    for meta in field.metadata if field is not None else []:
        choices = getattr(getattr(meta, "func", None), "choices", None)
        if choices:
            return tuple(choices)
    return tuple(str(c) for c in _choices(field))


def _choice_hint(value: Any, choices: list[Any], expected: str) -> str:
    texts = [str(c) for c in choices]
    if isinstance(value, str) and value in texts and value not in choices:
        return f"write it without quotes: {value}"
    if isinstance(value, str) and value.lower() in choices:
        return f"write it in lower case: {value.lower()}"
    words = isinstance(value, str) and all(isinstance(c, str) for c in choices)
    close = difflib.get_close_matches(value, texts, n=1, cutoff=0.5) if words else []
    if close:
        return f"did you mean {close[0]}?"
    return "write one of them exactly: " + ", ".join(texts) if texts else expected


def expected_text(cls: type[BaseModel], path: KeyPath) -> str:
    """What a missing key takes, in words."""
    field = field_at(cls, path)
    if field is None:
        return "a value"
    model = _model_in(field.annotation)
    if model is not None:
        required = [n for n, f in model.model_fields.items() if f.is_required()]
        keys = ", ".join(required or list(model.model_fields))
        return f"a mapping with {keys}"
    choices = _choices(field)
    if choices:
        return "one of " + ", ".join(map(str, choices))
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(args) == 1 and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = args[0]  # `int | None`
    origin = typing.get_origin(annotation)
    if origin is list:
        return "a list"
    if annotation is int:
        return "a whole number" + (f" ({bounds_text(field)})" if bounds_text(field) else "")
    if annotation is float:
        return "a number" + (f" ({bounds_text(field)})" if bounds_text(field) else "")
    if annotation is bool:
        return "true or false"
    return "a value"


def locate(path: KeyPath, prov: Provenance, fallback: Location) -> Location:
    for n in range(len(path), -1, -1):
        if path[:n] in prov:
            return prov[path[:n]]
    return fallback


def data_path(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """Pydantic's loc with its type tags (`function-after[...]`, `[key]`) removed."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or unknown key
            node = None
    return tuple(path)


def _is_tag(part: str) -> bool:
    return part == "[key]" or "[" in part or part[:1].isupper()


def field_at(cls: type[BaseModel], path: KeyPath) -> FieldInfo | None:
    """The field that holds the value at `path` (a list item or mapping value: its list's)."""
    annotation: Any = cls
    field: FieldInfo | None = None
    for part in path:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            field = model.model_fields[part]
            annotation = field.annotation
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin in (list, dict) and args:
            annotation = _unwrap(args[-1])
            if _model_in(annotation) is None and field is not None:
                field = _item_field(args[-1], field)
            continue
        return None
    return field


def _unwrap(annotation: Any) -> Any:
    """`Annotated[str, ...]` -> str."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _item_field(annotation: Any, parent: FieldInfo) -> FieldInfo:
    """A list item's own constraints (`list[Annotated[str, Field(pattern=...)]]`)."""
    if typing.get_origin(annotation) is typing.Annotated:
        item = FieldInfo.from_annotation(annotation)
        item.description = item.description or parent.description
        return item
    return parent


def fields_at(cls: type[BaseModel], path: KeyPath) -> list[str]:
    """The field names of the model found by following `path` from `cls`."""
    annotation: Any = cls
    for part in path:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if origin in (list, dict) and args:
            annotation = args[-1]
        elif isinstance(annotation, types.UnionType) or origin is typing.Union:
            annotation = next((a for a in args if _model_in(a)), annotation)
            model = _model_in(annotation)
            if model and isinstance(part, str) and part in model.model_fields:
                annotation = model.model_fields[part].annotation
    model = _model_in(annotation)
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


__all__ = [
    "PATTERNS",
    "data_path",
    "explain",
    "field_at",
    "fields_at",
    "issue_from_error",
    "locate",
    "shown",
]
