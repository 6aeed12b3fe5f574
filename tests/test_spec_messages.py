"""Every Pydantic error a spec can cause, said plainly: `got <value>: <what is wrong>` and a hint.

Each row changes one value of a valid phase or stack and checks the message the user reads
(floyo_scale/spec/messages.py). The corpus (tests/cases/spec/) covers the same through files
and the CLI; this table covers each error type once, fast, and shows the wording side by side.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from floyo_scale.errors import Location
from floyo_scale.spec import Phase, Stack, Workspace, load_phase
from floyo_scale.spec.messages import issue_from_error, shown

REPO = Path(__file__).resolve().parent.parent
STACK = yaml.safe_load((REPO / "stacks/production.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def growth() -> dict[str, Any]:
    resolved, _ = load_phase(Workspace(REPO), "growth")
    return resolved.data


def problems(cls: type[BaseModel], data: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    try:
        cls.model_validate(data)
    except ValidationError as exc:
        where = Location("f.yaml", 1, 1)
        found = [issue_from_error(cls, e, data, {}, where) for e in exc.errors()]
        return [(i.path, i.message, i.hint) for i in found]
    return []


def put(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()

# (model, key path, value, the message, a part of the hint)
ROWS = [
    # string_type: an unquoted number, a yes, a mapping
    ("stack", "aws.account_id", 111111111111, "got the number 111111111111: expected a string",
     "quote it: account_id: '111111111111'"),
    ("stack", "description", True, "got true: expected a string", "put the value in quotes"),
    ("stack", "vercel.team", {"a": 1}, "got a mapping (a): expected a string", "same line"),
    # string_type on a field of names: the names
    ("phase", "database.compute", 5, "got the number 5: expected a compute size", "one of: nano"),
    # int_parsing, int_from_float, float_parsing, finite_number, bool_parsing
    ("phase", "database.disk_gb", "16GB", "got '16GB': expected a whole number",
     "without quotes or units, e.g. disk_gb: 8"),
    ("phase", "web.seats", 2.5, "got the number 2.5: expected a whole number", "round it"),
    ("phase", "limits.database_gb", "lots", "got 'lots': expected a number", "digits only"),
    ("phase", "limits.database_gb", float("inf"), "got .inf: expected a finite number",
     ".inf and .nan are not allowed"),
    ("phase", "web.function_failover", "maybe", "got 'maybe': expected true or false",
     "function_failover: true"),
    # literal_error: a close match, a quoted number, a case slip
    ("phase", "cache.eviction_policy", "allkeys-lr", "got 'allkeys-lr': expected one of",
     "did you mean allkeys-lru?"),
    ("phase", "database.pitr_days", "7", "got '7': expected one of 0, 7, 14 or 28",
     "write it without quotes: 7"),
    ("phase", "web.vercel_plan", "Pro", "got 'Pro': expected one of 'hobby', 'pro' or",
     "write it in lower case: pro"),
    # extra_forbidden, missing
    ("phase", "database.disk_size_gb", 8, "unknown key 'disk_size_gb'", "did you mean disk_gb?"),
    ("phase", "limits.database_gb", DELETE, "required key is missing",
     "add database_gb: a number (more than 0)"),
    ("phase", "cache.ttl_seconds", DELETE, "required key is missing",
     "add ttl_seconds: a mapping with api_responses, queries, sessions"),
    # string_pattern_mismatch, in words
    ("stack", "aws.account_id", "1234", "got '1234': an AWS account id is exactly 12 digits",
     "'123456789012' (quoted)"),
    ("stack", "notifications.emails.0", "oncall",
     "got 'oncall': expected an email address of the form name@example.com",
     "emails: [alerts@floyo.app]"),
    ("stack", "vercel.git_repository.repo", "floyo",
     "got 'floyo': expected a repository as owner/name", "repo: floyo/floyo"),
    ("stack", "project", "Floyo", "got 'Floyo': expected a name of lowercase letters",
     "project: floyo-dev"),
    # greater_than(_equal), less_than_equal
    ("phase", "database.disk_gb", 4, "got the number 4: must be at least 8",
     "disk_gb takes at least 8 and at most 60000 (every project starts with 8 GB"),
    ("phase", "limits.database_gb", 0, "got the number 0: must be more than 0", "more than 0"),
    ("phase", "alerts", {"error_rate_percent": 101}, "got the number 101: must be at most 100",
     "error_rate_percent takes more than 0 and at most 100"),
    # too_short, list_type, dict_type / model_type
    ("phase", "web.function_regions", [], "got an empty list: expected at least 1 item",
     "function_regions: [iad1]"),
    ("phase", "web.function_regions", "iad1", "got 'iad1': expected a list", "- item"),
    ("phase", "cache", ["a"], "got a list of 1 item: expected a mapping of settings",
     "valid keys here: engine"),
    # value_error from the models' validators
    ("phase", "regions.primary", "us-east-7", "got 'us-east-7': not a known AWS region",
     "did you mean us-east-"),
    ("phase", "users", {"min": 10, "max": 5}, "max (5) must be greater than min (10)",
     "max: null"),
    ("stack", "vercel.domains.0", "https://floyo.app/path",
     "got 'https://floyo.app/path': a domain is a bare hostname, not a URL", "write floyo.app"),
    ("stack", "vercel.domains.0", "Floyo.App",
     "got 'Floyo.App': a domain is written in lower case", "write floyo.app"),
]  # fmt: skip


@pytest.mark.parametrize(
    "row",
    ROWS,
    ids=[f"{r[1]}=" + ("<deleted>" if r[2] is DELETE else repr(r[2]))[:60] for r in ROWS],
)
def test_each_error_is_said_plainly(row: tuple, growth: dict[str, Any]) -> None:
    kind, path, value, message, hint = row
    cls, data = (Stack, STACK) if kind == "stack" else (Phase, growth)
    if kind == "stack":
        data = {k: v for k, v in data.items() if k != "overrides"}
    found = problems(cls, put(data, path, value))
    assert len(found) == 1, found
    got_path, got_message, got_hint = found[0]
    assert path.startswith(got_path) or got_path.startswith(path), (got_path, path)
    assert got_message.startswith(message), got_message
    assert got_hint and hint in got_hint, got_hint


@pytest.mark.parametrize(
    ("field", "literal"),
    [("vercel.api_token", "vcp_9f8e7d6c5b4a"), ("supabase.access_token", 123456789012345)],
)
def test_a_secret_field_never_shows_its_value(field: str, literal: Any) -> None:
    data = {k: v for k, v in STACK.items() if k != "overrides"}
    [(path, message, hint)] = problems(Stack, put(data, field, literal))
    assert path == field
    assert message.startswith("got a literal value: ")
    assert str(literal) not in message + (hint or "")
    assert hint and "${env:" in hint


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (False, "false"),
        (12, "the number 12"),
        (float("-inf"), "-.inf"),
        ("", "an empty string"),
        ("x" * 100, repr("x" * 57 + "...")),
        ({}, "an empty mapping"),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, "a mapping (a, b, c, ...)"),
        ([1], "a list of 1 item"),
    ],
)
def test_values_are_shown_as_a_yaml_reader_would_say_them(value: Any, text: str) -> None:
    assert shown(value) == text
