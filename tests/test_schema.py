"""The JSON Schemas editors use (phases/schema.json, stacks/schema.json) match the models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SCHEMA_LINE = "# yaml-language-server: $schema=./schema.json"
KINDS = {"phase": "phases", "stack": "stacks"}


def spec_files(folder: str) -> list[Path]:
    return sorted((REPO / folder).glob("*.yaml"))


ALL_FILES = [p for folder in KINDS.values() for p in spec_files(folder)]


def validator(folder: str) -> jsonschema.protocols.Validator:
    schema = json.loads((REPO / folder / "schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_committed_schema_is_current(kind: str, cli) -> None:
    result = cli("schema", kind)
    assert result.code == 0, result.err
    committed = (REPO / KINDS[kind] / "schema.json").read_text(encoding="utf-8")
    assert committed == result.out, (
        f"{KINDS[kind]}/schema.json is out of date with the models; regenerate it with\n"
        f"    floyo-scale schema {kind} > {KINDS[kind]}/schema.json"
    )


@pytest.mark.parametrize("path", ALL_FILES, ids=[f"{p.parent.name}/{p.name}" for p in ALL_FILES])
def test_spec_file_points_editors_at_its_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == SCHEMA_LINE, f"{path.name} must start with the line\n{SCHEMA_LINE}"


@pytest.mark.parametrize("path", ALL_FILES, ids=[f"{p.parent.name}/{p.name}" for p in ALL_FILES])
def test_spec_file_validates_against_its_schema(path: Path) -> None:
    check = validator(path.parent.name)
    errors = sorted(check.iter_errors(yaml.safe_load(path.read_text())), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_there_are_files_to_check() -> None:
    assert len(spec_files("phases")) >= 4 and len(spec_files("stacks")) >= 3


@pytest.mark.parametrize(
    ("folder", "document", "where"),
    [
        ("phases", {"web": {"vercel_plan": "premium"}}, "web.vercel_plan"),
        ("phases", {"database": {"read_replica": []}}, "database"),
        ("phases", {"users": {"min": -1}}, "users.min"),
        ("stacks", {"phase": "dev", "overrides": {"cache": {"replicas": "two"}}}, "overrides"),
        ("stacks", {"phase": "dev", "vercell": {}}, "'vercell' was unexpected"),
    ],
    ids=["bad-plan", "unknown-key", "negative", "override-type", "stack-unknown-key"],
)
def test_schema_rejects_what_the_models_reject(folder: str, document: dict, where: str) -> None:
    errors = list(validator(folder).iter_errors(document))
    assert errors, "the schema let an invalid document through"

    def flat(errs):  # an `anyOf` (a key that may also be null) nests the precise errors
        for e in errs:
            yield e
            yield from flat(e.context or ())

    found = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in flat(errors)]
    assert any(f.startswith(where) or where in f for f in found), found


def test_phase_schema_takes_partial_files_and_extends() -> None:
    assert not list(validator("phases").iter_errors({"extends": "growth", "web": {"seats": 4}}))


def test_phase_schema_takes_null_which_removes_a_key() -> None:
    """Merge rule 3 (`null` removes a key) is valid YAML for editors too."""
    for document in ({"cache": None}, {"alerts": None}, {"database": {"sharding": None}}):
        assert not list(validator("phases").iter_errors(document)), document
    stack = {"overrides": {"cache": None, "database": {"read_replicas": None}}}
    errors = [e for e in validator("stacks").iter_errors(stack) if e.validator != "required"]
    assert not errors
