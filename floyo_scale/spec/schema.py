"""JSON Schemas for the spec files, for editors (yaml-language-server) and for review.

A phase file holds only its differences, so the phase-file schema is the Phase model with
nothing required, every key also allowed to be `null` (merge rule 3: it removes the key),
plus `extends`. A stack file's `overrides` take that same partial schema.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .models import Phase, Stack

SCHEMA_ID = "https://floyo.app/schemas/floyo-scale"


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def _nullable(schema: Any) -> Any:
    """Every property of every object may also be null."""
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: _or_null(p) for name, p in out["properties"].items()}
    return out


def _or_null(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") == "null" or {"type": "null"} in prop.get("anyOf", []):
        return prop
    if isinstance(prop.get("type"), str) and "enum" not in prop and "const" not in prop:
        return {**prop, "type": [prop["type"], "null"]}  # keeps errors precise for editors
    meta = {k: v for k, v in prop.items() if k in ("title", "description", "default")}
    core = {k: v for k, v in prop.items() if k not in meta}
    return {**meta, "anyOf": [core, {"type": "null"}]}


def phase_file_schema() -> dict[str, Any]:
    # a dict in, a dict out: both walk the JSON tree and keep each node's kind
    schema: dict[str, Any] = _nullable(_without_required(Phase.model_json_schema()))
    schema["properties"] = {
        "extends": {"type": "string", "description": "the phase this one builds on"},
        **schema["properties"],
    }
    schema["title"] = "floyo-scale phase file"
    schema["$id"] = f"{SCHEMA_ID}/phase.json"
    return schema


def stack_file_schema() -> dict[str, Any]:
    schema = Stack.model_json_schema()
    partial = phase_file_schema()
    defs = schema.setdefault("$defs", {})
    for name, definition in partial.pop("$defs", {}).items():
        defs.setdefault(name, definition)
    # the partial Phase definitions (nothing required) win over the full ones for overrides
    overrides = copy.deepcopy(partial)
    overrides["properties"].pop("extends")
    for key in ("title", "$id"):
        overrides.pop(key, None)
    overrides["description"] = "any phase value; merged over the phase (see docs/spec.md)"
    schema["properties"]["overrides"] = overrides
    schema["title"] = "floyo-scale stack file"
    schema["$id"] = f"{SCHEMA_ID}/stack.json"
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
