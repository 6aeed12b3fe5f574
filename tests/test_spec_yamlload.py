"""The YAML loader: provenance of every key path, and the limits that keep bad files cheap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from floyo_scale.spec import yamlload
from floyo_scale.spec.yamlload import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    YamlProblem,
    display_path,
    load_document,
)


def load_text(tmp_path: Path, text: str | bytes, name: str = "spec.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return load_document(path)


def problem(tmp_path: Path, text: str | bytes):
    with pytest.raises(YamlProblem) as caught:
        load_text(tmp_path, text)
    return caught.value.issue


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


# -- provenance -------------------------------------------------------------------------------


def test_every_key_path_has_its_line_and_column(tmp_path: Path) -> None:
    doc = load_text(
        tmp_path,
        textwrap.dedent(
            """\
            # a comment
            web:
              seats: 2
              function_regions: [iad1, dub1]
            database:
              read_replicas:
                - {region: eu-west-1}
                - region: us-east-1
                  purpose: analytics
            """
        ),
    )
    where = {k: (v.line, v.column) for k, v in doc.provenance.items()}
    assert where[()] == (2, 1)
    assert where[("web",)] == (2, 1)
    assert where[("web", "seats")] == (3, 3)  # a value is located at its key
    assert where[("web", "function_regions", 1)] == (4, 28)
    assert where[("database", "read_replicas", 0, "region")] == (7, 8)
    assert where[("database", "read_replicas", 1)] == (8, 7)
    assert where[("database", "read_replicas", 1, "purpose")] == (9, 7)
    assert all(v.file == display_path(tmp_path / "spec.yaml") for v in doc.provenance.values())


def test_crlf_line_endings_and_a_bom_keep_the_lines(tmp_path: Path) -> None:
    doc = load_text(tmp_path, "\ufeff# c\r\na: 1\r\nb:\r\n  c: 2\r\n".encode())
    assert doc.data == {"a": 1, "b": {"c": 2}}
    assert doc.provenance[("b", "c")].line == 4


def test_keys_that_are_not_strings_keep_their_text(tmp_path: Path) -> None:
    assert load_text(tmp_path, "1: a\ntrue: b\n").data == {"1": "a", "True": "b"}


def test_display_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "phases").mkdir()
    path = tmp_path / "phases" / "x.yaml"
    monkeypatch.chdir(tmp_path)
    assert display_path(path) == "phases/x.yaml"
    monkeypatch.chdir(tmp_path / "phases")
    assert display_path(path) == "x.yaml"
    assert display_path(Path("/elsewhere/y.yaml")) == "/elsewhere/y.yaml"


# -- what is refused, and where ---------------------------------------------------------------


def test_duplicate_key_in_a_list_item(tmp_path: Path) -> None:
    issue = problem(tmp_path, "a:\n  - x: 1\n    y: 2\n    x: 3\n")
    assert (issue.path, issue.location.line, issue.location.column) == ("a.0.x", 4, 5)
    assert "first written at line 2" in issue.message


def test_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    issue = problem(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    assert issue.location.line == 3 and issue.location.column > 1
    assert issue.message.startswith("YAML syntax error:")


def test_file_size_limit_is_exact(tmp_path: Path) -> None:
    head = "a: 1\n"
    fits = head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n"
    assert len(fits.encode()) == MAX_FILE_BYTES
    assert load_text(tmp_path, fits).data == {"a": 1}
    issue = problem(tmp_path, fits + "\n")
    assert "larger than the 262,144" in issue.message


def test_value_count_limit(tmp_path: Path) -> None:
    # the mapping and its key count too: 1 + 1 + items
    fits = "a: [" + ", ".join(["1"] * (MAX_NODES - 2)) + "]\n"
    assert len(load_text(tmp_path, fits).data["a"]) == MAX_NODES - 2
    issue = problem(tmp_path, "a: [" + ", ".join(["1"] * (MAX_NODES - 1)) + "]\n")
    assert "more than 20,000 values" in issue.message


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_limit(tmp_path: Path, style: str) -> None:
    def nested(levels: int) -> str:  # `levels` collections, the top mapping included
        if style == "flow":
            return "a: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"
        return (
            "a:\n"
            + "".join("  " * i + f"k{i}:\n" for i in range(1, levels))
            + "  " * levels
            + "x\n"
        )

    assert load_text(tmp_path, nested(MAX_DEPTH)).data
    issue = problem(tmp_path, nested(MAX_DEPTH + 1))
    assert f"nest more than {MAX_DEPTH} levels" in issue.message


def test_huge_nesting_is_refused_without_crashing(tmp_path: Path) -> None:
    # 100,000 levels used to overflow libyaml's recursive composer: a segmentation fault
    issue = problem(tmp_path, "a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert issue.location.line == 1 and "nest more than" in issue.message
    issue = problem(tmp_path, "a:\n  " + "- " * 100_000 + "x\n")
    assert "nest more than" in issue.message


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: *x}\n", "a: &x [1, [2, *x]]\n"])
def test_recursive_alias_is_refused(tmp_path: Path, text: str) -> None:
    issue = problem(tmp_path, text)
    assert "nest more than" in issue.message and issue.path.startswith("a.")


def test_alias_bomb_is_refused_small(tmp_path: Path) -> None:
    """Refused before it is expanded: memory is the deterministic witness (the time it takes
    is a figure, not a bound: a loaded machine stretches it)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())  # 10^9 strings if expanded
    tracemalloc.start()
    try:
        with pytest.raises(YamlProblem) as caught:
            load_document(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than 20,000 values" in caught.value.issue.message
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB of Python objects"


def test_alias_bomb_process_memory(tmp_path: Path) -> None:
    """Resident memory (C allocations included) barely grows while a bomb is refused."""
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    probe = textwrap.dedent(
        """\
        import json, resource, sys
        from pathlib import Path
        from floyo_scale.spec.yamlload import YamlProblem, load_document
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_document(Path(sys.argv[1]))
        except YamlProblem:
            pass
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"kib": after - before}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60
    )
    report = json.loads(done.stdout)
    assert report["kib"] < 32 * 1024, f"resident memory grew by {report['kib']} KiB"


def test_loader_is_the_c_loader_when_available() -> None:
    import yaml

    if hasattr(yaml, "CSafeLoader"):
        assert yamlload.Loader is yaml.CSafeLoader
