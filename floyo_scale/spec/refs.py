"""Secret references in the spec: `${env:NAME}`, the only way a secret enters a spec (its
value is read from the environment, never from a file)."""

from __future__ import annotations

import re
from typing import Any

SECRET_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


def secret_env_name(ref: str) -> str:
    """`${env:NAME}` -> `NAME`."""
    match = SECRET_REF.match(ref)
    if not match:
        raise ValueError(f"not a secret reference: {ref!r}")
    return match.group(1)


def env_refs(value: Any) -> tuple[str, ...]:
    """The environment variables the `${env:NAME}` references in `value` name (strings at any
    depth of dicts, lists and tuples, as a stack's `model_dump()`), in order, once each: the
    one walker over secret references (the engine reads their values, `diff --base` redacts
    them)."""
    names: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            match = SECRET_REF.match(item)
            if match:
                names.append(match.group(1))
        elif isinstance(item, dict):
            for inner in item.values():
                walk(inner)
        elif isinstance(item, list | tuple):
            for inner in item:
                walk(inner)

    walk(value)
    return tuple(dict.fromkeys(names))
