"""Property-based tests: whatever a spec file holds, the loader and validator either succeed or
raise SpecError (exit 3) with located issues: never another exception, never a traceback.

Inputs: random text and bytes, random nested structures dumped to YAML, and random mutations
of the real phase and stack files (delete a key, change a value's type, insert garbage, swap
values, edit the text). Every example is run through the CLI in-process, so the error
boundary and the renderers are covered too; specs that stay valid are also shown.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floyo_scale.cli import main

REPO = Path(__file__).resolve().parent.parent
SPEC_FILES = sorted(
    f"{folder}/{p.name}" for folder in ("phases", "stacks") for p in (REPO / folder).glob("*.yaml")
)
ORIGINAL = {rel: (REPO / rel).read_bytes() for rel in SPEC_FILES}
REAL_DATA = {rel: yaml.safe_load(text) for rel, text in ORIGINAL.items()}

FUZZ = settings(
    max_examples=50,  # five such tests: about 25 s of the suite on 2 cores
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _vocabulary(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(map(str, data)) | {w for v in data.values() for w in _vocabulary(v)}
    if isinstance(data, list):
        return {w for v in data for w in _vocabulary(v)}
    return {data} if isinstance(data, str) and len(data) < 30 else set()


VOCABULARY = sorted({w for data in REAL_DATA.values() for w in _vocabulary(data)})


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fuzz")
    for folder in ("phases", "stacks"):
        shutil.copytree(REPO / folder, root / folder)
    yield root


PYDANTIC_WORDS = ("Input should", "String should", "Value error", "Field required", "[type=")


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def check(root: Path, rel: str, content: bytes) -> int:
    """Write `content` to `rel` in the workspace, validate everything, restore the file."""
    target = root / rel
    target.write_bytes(content)
    try:
        code, out, err = run_cli("--root", str(root), "validate")
        assert code in (0, 3), f"exit {code}\n{err}\n--- {rel}:\n{content[:2000]!r}"
        assert "Traceback" not in err and "error: unexpected" not in err, err
        if code == 3:
            assert err.rstrip().splitlines()[-1].startswith("error: ")
            assert err.count("problem") >= 1
            json_code, json_out, _ = run_cli("--root", str(root), "validate", "--format", "json")
            assert json_code == 3 and '"valid": false' in json_out
            for issue in json.loads(json_out)["issues"]:  # said plainly, each with a hint
                assert issue["hint"], issue
                assert not any(raw in issue["message"] for raw in PYDANTIC_WORDS), issue
        else:  # what passes must also show, as strict JSON (no NaN or Infinity)
            stack = Path(rel).stem if rel.startswith("stacks/") else "production"
            for args in (["phases"], ["show", "--stack", stack, "--provenance"]):
                shown, text, show_err = run_cli("--root", str(root), *args, "--format", "json")
                assert shown == 0, f"{args}: {show_err}"
                json.loads(text, parse_constant=_refuse)
        return code
    finally:
        target.write_bytes(ORIGINAL[rel])


files = st.sampled_from(SPEC_FILES)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(VOCABULARY),
    st.sampled_from(["${env:X}", "${env:}", "~", "yes", "0x1F", "1e3", ".inf", "2024-01-01", ""]),
)
keys = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=12))
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


EDGE_NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 0.5, 2**31, 2**63, 10**30, 1e308, math.inf, -math.inf, math.nan]),
    st.integers(),
    st.floats(),
)


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


# -- random input ---------------------------------------------------------------------------


@FUZZ
@given(rel=files, text=st.text(max_size=400))
def test_random_text(fuzz_root: Path, rel: str, text: str) -> None:
    check(fuzz_root, rel, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(rel=files, data=st.binary(max_size=300))
def test_random_bytes(fuzz_root: Path, rel: str, data: bytes) -> None:
    check(fuzz_root, rel, data)


@FUZZ
@given(rel=files, data=st.one_of(st.dictionaries(keys, structures, max_size=8), structures))
def test_random_structures(fuzz_root: Path, rel: str, data: Any) -> None:
    check(fuzz_root, rel, dump(data))


# -- mutations of the real specs ------------------------------------------------------------


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in `data` (mapping keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths(value, (*prefix, i))
    return found


def parent_of(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_spec(draw: st.DrawFn) -> tuple[str, bytes]:
    rel = draw(files)
    data = yaml.safe_load(ORIGINAL[rel])
    for _ in range(draw(st.integers(1, 3))):
        every = paths(data)
        if not every:
            break
        path = draw(st.sampled_from(every))
        parent, last = parent_of(data, path), path[-1]
        kind = draw(st.sampled_from(["delete", "retype", "insert", "swap", "null", "number"]))
        numbers = [p for p in every if type(parent_of(data, p)[p[-1]]) in (int, float)]
        if kind == "number" and numbers:  # keeps the file valid-ish: edge values reach the rules
            path = draw(st.sampled_from(numbers))
            parent_of(data, path)[path[-1]] = draw(EDGE_NUMBERS)
        elif kind == "delete":
            del parent[last]
        elif kind == "retype":
            parent[last] = draw(structures)
        elif kind == "null":
            parent[last] = None
        elif kind == "insert":
            target = parent[last] if isinstance(parent[last], dict) else parent
            if isinstance(target, dict):
                target[draw(keys)] = draw(structures)
            else:
                target.insert(draw(st.integers(0, len(target))), draw(structures))
        else:  # swap two values
            other = draw(st.sampled_from(every))
            if other[: len(path)] != path and path[: len(other)] != other:
                other_parent = parent_of(data, other)
                parent[last], other_parent[other[-1]] = other_parent[other[-1]], parent[last]
    return rel, dump(data)


@FUZZ
@given(case=mutated_spec())
def test_mutated_real_specs(fuzz_root: Path, case: tuple[str, bytes]) -> None:
    check(fuzz_root, *case)


GARBAGE = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\t", ":", ": ", "- ", "&a ", "*a", "!!python/none ", "{", "]", "'", '"',
                     "---\n", "<<: ", "\n  ", "? ", "|", ">", "%YAML 1.1\n", "\x00", "\ufeff"]),
)  # fmt: skip


@FUZZ
@given(rel=files, data=st.data())
def test_edited_real_text(fuzz_root: Path, rel: str, data: st.DataObject) -> None:
    text = ORIGINAL[rel].decode()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        edit = data.draw(st.sampled_from(["insert", "delete", "duplicate-line"]))
        if edit == "insert":
            text = text[:at] + data.draw(GARBAGE) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)) :]
        else:
            lines = text.splitlines(keepends=True)
            i = data.draw(st.integers(0, max(len(lines) - 1, 0)))
            text = "".join(lines[: i + 1] + lines[i:])
    check(fuzz_root, rel, text.encode("utf-8", "surrogatepass"))


def test_the_real_specs_pass_the_same_check(fuzz_root: Path) -> None:
    assert all(check(fuzz_root, rel, ORIGINAL[rel]) == 0 for rel in SPEC_FILES)


SECRET_FIELDS = [("vercel", "api_token"), ("supabase", "access_token")]
LITERALS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_]{4}[A-Za-z0-9_\-+/=.]{12,40}", fullmatch=True),
    st.integers(min_value=10**11, max_value=10**30),
)


@settings(FUZZ, max_examples=30)
@given(rel=st.sampled_from([r for r in SPEC_FILES if r.startswith("stacks/")]), data=st.data())
def test_a_literal_secret_is_never_shown(fuzz_root: Path, rel: str, data: st.DataObject) -> None:
    """Whatever is pasted into a secret field (a token, a number), the message says "a literal
    value" and never repeats it, in text or JSON."""
    spec = yaml.safe_load(ORIGINAL[rel])
    section, key = data.draw(st.sampled_from(SECRET_FIELDS))
    secret = data.draw(LITERALS)
    spec[section][key] = secret
    (fuzz_root / rel).write_bytes(dump(spec))
    try:
        code, out, err = run_cli("--root", str(fuzz_root), "validate")
        _, json_out, _ = run_cli("--root", str(fuzz_root), "validate", "--format", "json")
    finally:
        (fuzz_root / rel).write_bytes(ORIGINAL[rel])
    assert code == 3
    assert f"{section}.{key}: got a literal value" in err
    for text in (out, err, json_out):
        assert str(secret) not in text
