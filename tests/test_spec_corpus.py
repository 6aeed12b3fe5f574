"""The corpus of bad inputs: tests/cases/spec/<case>/.

Each case folder holds the files that differ from the repository's phases/ and stacks/
(copied into a temporary workspace, then overlaid with the case's phases/ and stacks/), an
`expect.yaml` and a golden `stderr.txt`:

    about: one line saying what is wrong
    args: [validate]             # the command line (run with --root <workspace>)
    exit: 3
    issues:                      # each must be reported: file, line, key path, message
      - {file: phases/growth.yaml, line: 24, path: database.read_replica, message: unknown key}
    count: 1                     # optional: exactly this many issues
    stderr_contains: [...]       # optional: text the error output must (not) hold
    stderr_excludes: [...]
    delete: [stacks/dev.yaml]    # optional: files removed from the workspace
    generate:                    # optional: files too large or odd to commit
      - file: stacks/dev.yaml
        parts: [{from: stacks/dev.yaml}, {text: "# padding\\n", times: 30000}]
    max_memory_mb: 20            # optional limit on the run's memory (time is not asserted:
                                 # a loaded machine stretches it; bench/ has the figures)

`path: ""` means the issue concerns the whole document; otherwise `path` is a substring of
the reported key path. Refresh the goldens with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from golden import assert_golden

CASES = Path(__file__).parent / "cases" / "spec"
CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "expect.yaml").is_file())
OVERLAY_FOLDERS = ("phases", "stacks")
EXPECT_KEYS = {
    "about", "args", "exit", "issues", "count", "stderr_contains", "stderr_excludes",
    "delete", "generate", "max_memory_mb",
}  # fmt: skip


def load_expect(case: Path) -> dict[str, Any]:
    expect = yaml.safe_load((case / "expect.yaml").read_text(encoding="utf-8"))
    unknown = set(expect) - EXPECT_KEYS
    assert not unknown, f"{case.name}/expect.yaml: unknown keys {sorted(unknown)}"
    assert expect.get("about"), f"{case.name}/expect.yaml: say what the case is about"
    return expect


def build_workspace(case: Path, expect: dict[str, Any], root: Path) -> None:
    """Overlay the case's files (and generated ones) on the copied workspace in `root`."""
    for folder in OVERLAY_FOLDERS:
        for src in sorted((case / folder).glob("*")):
            shutil.copyfile(src, root / folder / src.name)
    for rel in expect.get("delete", []):
        (root / rel).unlink()
    for spec in expect.get("generate", []):
        chunks = []
        for part in spec["parts"]:
            piece = (root / part["from"]).read_bytes() if "from" in part else part["text"].encode()
            chunks.append(piece * part.get("times", 1))
        (root / spec["file"]).write_bytes(b"".join(chunks))


def test_the_corpus_is_big_enough() -> None:
    spec_cases = [c for c in CASE_DIRS if load_expect(c)["exit"] == 3]
    assert len(spec_cases) >= 25, f"only {len(spec_cases)} invalid-spec cases"


@pytest.mark.parametrize("case", CASE_DIRS, ids=[c.name for c in CASE_DIRS])
def test_case(case: Path, workspace: Path, cli) -> None:
    expect = load_expect(case)
    build_workspace(case, expect, workspace)
    args = ["--root", str(workspace), *expect["args"]]

    result = cli(*args)

    assert result.code == expect["exit"], (
        f"exit {result.code}, expected {expect['exit']}\n{result.err}"
    )
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert "error: unexpected" not in result.err, result.err

    lines = result.err.splitlines()
    for issue in expect.get("issues", []):
        where = f"{issue['file']}:{issue['line']}:"
        assert any(
            line.startswith(where) and issue["path"] in line and issue["message"] in line
            for line in lines
        ), f"no line {where}... {issue['path']}: ...{issue['message']}... in:\n{result.err}"
    for text in expect.get("stderr_contains", []):
        assert text in result.err
    for text in expect.get("stderr_excludes", []):
        assert text not in result.err and text not in result.out, f"{text!r} was printed"
    if "count" in expect:
        assert f"error: {expect['count']} problem" in result.err

    assert_golden(case / "stderr.txt", result.err)

    if expect["exit"] == 3 and expect["args"][0] == "validate":
        check_json_issues(cli, args, expect)
    if "max_memory_mb" in expect:
        tracemalloc.start()
        try:
            cli(*args)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < expect["max_memory_mb"] * 2**20, f"peak {peak / 2**20:.1f} MiB"


def check_json_issues(cli, args: list[str], expect: dict[str, Any]) -> None:
    """`validate --format json` reports the same issues, each with file, line, column, path."""
    result = cli(*args, "--format", "json")
    assert result.code == 3
    report = yaml.safe_load(result.out)  # JSON is YAML
    assert report["valid"] is False
    issues = report["issues"]
    for issue in issues:
        assert set(issue) == {"file", "line", "column", "path", "message", "hint"}
        assert isinstance(issue["line"], int) and isinstance(issue["column"], int)
    for want in expect.get("issues", []):
        matches = [
            got
            for got in issues
            if got["file"] == want["file"]
            and got["line"] == want["line"]
            and (want["path"] in got["path"] if want["path"] else got["path"] == "")
            and want["message"] in got["message"]
        ]
        assert matches, f"{want} not among:\n{yaml.safe_dump(issues, sort_keys=False)}"
    if "count" in expect:
        assert len(issues) == expect["count"], issues
