"""`diff --base GIT_REF`: every stack as it is at a git revision (planned by that revision's
own program, in a child process) against the working tree.

One temporary repository holds a copy of the program, the phases and two stacks (dev at
startup, production at growth). Each scenario is a commit that differs from the working
tree in one way; the working tree is the original copy throughout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from floyo_scale.errors import UsageError
from floyo_scale.review import revision
from floyo_scale.review.affected import compare_revision
from floyo_scale.spec import Workspace

REPO = Path(__file__).resolve().parent.parent


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _copy(dest: Path) -> None:
    shutil.copytree(
        REPO / "floyo_scale", dest / "floyo_scale", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "phases", dest / "phases")
    (dest / "stacks").mkdir()
    for stack in ("dev", "production"):
        shutil.copy(REPO / "stacks" / f"{stack}.yaml", dest / "stacks")
    for name in ("pyproject.toml", "Pulumi.yaml"):
        shutil.copy(REPO / name, dest / name)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


class Scenarios:
    """A repository whose commits each differ from the working tree in one way."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.original = root.parent / "original"
        _copy(self.original)
        shutil.copytree(self.original, root)
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.email", "test@example.com")
        git(root, "config", "user.name", "test")
        self.commits: dict[str, str] = {}

    def commit(self, name: str, change: Callable[[Path], None] | None = None) -> None:
        if change is not None:
            change(self.root)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", name)
        self.commits[name] = git(self.root, "rev-parse", "HEAD")
        self.restore()

    def restore(self) -> None:
        """The working tree back to the original copy (uncommitted, as a PR's head)."""
        for folder in ("floyo_scale", "phases", "stacks"):
            shutil.rmtree(self.root / folder)
            shutil.copytree(self.original / folder, self.root / folder)


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    s = Scenarios(tmp_path_factory.mktemp("diffbase") / "repo")
    s.commit("same")
    s.commit(
        "phase",  # growth's query cache TTL: production (growth) changes, dev (startup) not
        lambda r: _edit(r / "phases" / "growth.yaml", "queries: 300", "queries: 600"),
    )
    s.commit(
        "stack", lambda r: _edit(r / "stacks" / "production.yaml", "phase: growth", "phase: scale")
    )
    s.commit(
        "program",  # the program itself: every stack's Vercel variables carry another comment
        lambda r: _edit(
            r / "floyo_scale" / "infra" / "web.py", '"managed by floyo-scale"', '"managed by hand"'
        ),
    )
    s.commit(
        "secret-ref",
        lambda r: _edit(
            r / "stacks" / "dev.yaml", "${env:VERCEL_API_TOKEN}", "${env:VERCEL_TOKEN_OLD}"
        ),
    )
    s.commit("no-dev", lambda r: (r / "stacks" / "dev.yaml").unlink())
    s.commit(
        "broken",  # the base's own program cannot even be imported
        lambda r: (r / "floyo_scale" / "infra" / "__init__.py").write_text("raise SystemError\n"),
    )
    return s


def compare(s: Scenarios, base: str, stacks: list[str] | None = None):
    return compare_revision(Workspace(s.root), s.commits[base], stacks)


def by_stack(result) -> dict:
    return {c.stack: c for c in result.stacks}


def test_nothing_changed_and_the_working_tree_is_not_touched(scenarios: Scenarios) -> None:
    before = git(scenarios.root, "status", "--porcelain")
    head = git(scenarios.root, "rev-parse", "HEAD")
    result = compare(scenarios, "same")
    assert git(scenarios.root, "status", "--porcelain") == before
    assert git(scenarios.root, "rev-parse", "HEAD") == head
    assert result.affected == []
    assert [c.status for c in result.stacks] == ["unchanged", "unchanged"]
    assert result.base_commit == scenarios.commits["same"]


def test_a_phase_change_affects_the_stacks_at_that_phase(scenarios: Scenarios, cli) -> None:
    """Through the CLI: `--format json` lists the affected stacks, for a CI matrix."""
    args = ("--root", scenarios.root, "diff", "--base", scenarios.commits["phase"])
    result = cli(*args, "--all-stacks", "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["affected"] == ["production"]
    assert [s["status"] for s in data["stacks"]] == ["unchanged", "changed"]
    [change] = data["stacks"][1]["changes"]
    assert change["name"] == "cache-ttl-queries"
    assert change["inputs"]["value"] == {"old": "600", "new": "300"}


def test_a_stack_change(scenarios: Scenarios) -> None:
    result = compare(scenarios, "stack", ["production"])
    assert result.affected == ["production"]
    production = by_stack(result)["production"]
    assert (production.base.phase, production.head.phase) == ("scale", "growth")
    assert production.cost is not None and production.cost.total_delta_high < 0


def test_a_program_change_is_seen_through_the_base_revisions_own_program(
    scenarios: Scenarios,
) -> None:
    result = compare(scenarios, "program", ["dev"])
    assert result.affected == ["dev"]
    for change in result.stacks:
        assert change.diff is not None
        comments = {c.inputs.get("comment") for c in change.diff.changes}
        assert comments == {("managed by hand", "managed by floyo-scale")}


def test_only_a_secret_reference(scenarios: Scenarios) -> None:
    result = compare(scenarios, "secret-ref", ["dev"])
    assert result.affected == ["dev"]
    [change] = by_stack(result)["dev"].diff.changes
    assert change.resource.type == "pulumi:providers:vercel"
    assert change.secrets == ("apiToken",) and change.inputs == {}
    assert "VERCEL" not in json.dumps(result.to_json())


def test_a_stack_absent_at_the_base_is_new(scenarios: Scenarios) -> None:
    result = compare(scenarios, "no-dev")
    dev = by_stack(result)["dev"]
    assert dev.status == "new" and result.affected == ["dev"]
    assert dev.diff is not None and dev.diff.counts()["create"] == len(
        dev.head.inventory.custom_resources()
    )
    assert dev.cost is not None and dev.cost.old_total == (0.0, 0.0)


def test_a_base_that_cannot_be_planned_is_reported_never_empty(scenarios: Scenarios) -> None:
    result = compare(scenarios, "broken")
    assert result.affected == ["dev", "production"]
    for change in result.stacks:
        assert change.status == "base-failed"
        assert change.diff is None and change.cost is None
        assert "SystemError" in change.base.error
        assert change.head.inventory is not None  # the head is still planned and checked
    data = result.to_json()
    assert data["stacks"][0]["base"]["error"] and data["stacks"][0]["changes"] is None


def test_unknown_ref_and_unknown_stack_are_usage_errors(scenarios: Scenarios) -> None:
    with pytest.raises(UsageError, match="not a commit"):
        compare_revision(Workspace(scenarios.root), "no-such-branch")
    with pytest.raises(UsageError, match="no stack named staging"):
        compare(scenarios, "same", ["staging"])


def test_the_child_refuses_a_package_from_elsewhere(tmp_path: Path) -> None:
    """The child must import the revision's floyo_scale, not the installed one."""
    rev = revision.Revision("x", "0" * 40, tmp_path, tmp_path)
    (tmp_path / "stacks").mkdir()
    result = revision.plan_stack(rev, "dev", {"PATH": "/usr/bin:/bin"})
    assert not result.ok and "not from the revision" in (result.error or "")


def test_cli_red_when_up_would_refuse_but_the_comment_is_printed(
    scenarios: Scenarios, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The working tree lowers production's budget below its cost: the comment still comes
    out in full, and --fail-on-guard makes the exit code 6; without it, 0."""
    production = scenarios.root / "stacks" / "production.yaml"
    original = production.read_text()
    assert "monthly_usd: 340" in original
    production.write_text(original.replace("monthly_usd: 340", "monthly_usd: 100"))
    monkeypatch.setenv("VERCEL_API_TOKEN", "CANARY-token-in-env")
    try:
        args = ("--root", scenarios.root, "diff", "--base", scenarios.commits["same"])
        red = cli(*args, "--stack", "production", "--format", "markdown", "--fail-on-guard")
    finally:
        production.write_text(original)
    assert red.code == 6, red.err
    assert red.out.startswith("<!-- floyo-scale-preview -->")
    assert "| `production` | growth |" in red.out
    assert r"⛔ over budget \(" in red.out and "`up` would refuse: the estimated" in red.out
    assert "(pass --allow-over-budget to go on anyway)" in red.out
    assert "would refuse the change to production: over budget" in red.err
    assert "CANARY" not in red.out


def test_cli_usage(cli, scenarios: Scenarios) -> None:
    root = ("--root", scenarios.root)
    assert cli(*root, "diff").code == 2
    assert cli(*root, "diff", "growth", "--base", "main").code == 2
    assert cli(*root, "diff", "growth", "scale", "--all-stacks").code == 2
    both = cli(*root, "diff", "--base", "main", "--all-stacks", "--stack", "dev")
    assert both.code == 2 and "--all-stacks goes with --base" in both.err


def test_the_base_revision_runs_without_the_callers_credentials(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base revision (anyone's branch) runs with PATH, HOME and the digest key only: its
    program, here one that prints its environment, sees no credential of the caller."""
    seen: dict[str, dict[str, str]] = {}
    real = revision.plan_stack

    def spy(rev: revision.Revision, stack: str, env) -> revision.BasePlan:
        seen[stack] = revision.child_environment(rev, env)
        return real(rev, stack, env)

    for name, value in {
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "SUPABASE_ACCESS_TOKEN": "sbp_" + "t" * 40,
        "PULUMI_CONFIG_PASSPHRASE": "passphrase-value",
        "PULUMI_BACKEND_URL": "https://ops:pw@state.example.com",
        "FLOYO_DIGEST_KEY": "digest-key",
    }.items():
        monkeypatch.setenv(name, value)
    diff = compare_revision(
        Workspace(scenarios.root), scenarios.commits["same"], ["dev"], plan_base=spy
    )
    assert by_stack(diff)["dev"].base.error is None  # planned fine without them
    child = seen["dev"]
    assert set(child) == {
        "PATH",
        "HOME",
        "FLOYO_DIGEST_KEY",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONSAFEPATH",
        "PYTHONUTF8",
    }
    assert child["FLOYO_DIGEST_KEY"] == "digest-key"
    assert "floyo-base-" in child["PYTHONPATH"]  # the revision's tree alone
    # and a child really gets only that: a Python started the same way prints its environment
    printed = subprocess.run(
        [revision.sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        env=revision.child_environment(
            revision.Revision("x", "0" * 40, scenarios.root, scenarios.root), dict(os.environ)
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    names = set(json.loads(printed.stdout))
    assert not names & {
        "AWS_SECRET_ACCESS_KEY",
        "SUPABASE_ACCESS_TOKEN",
        "PULUMI_CONFIG_PASSPHRASE",
        "PULUMI_BACKEND_URL",
    }


def test_a_base_plan_printed_before_exit_3_is_still_a_plan(tmp_path: Path, monkeypatch) -> None:
    """`plan` prints the plan, then exits 3 when a provider rule is broken (issue 24): the
    base is then still compared, not reported as one that cannot be planned."""
    import json
    import subprocess

    plan = {"phase": "growth", "stack": "dev", "resources": [], "provider_rules": [{}]}

    def fake_run(*args, **kwargs):
        return subprocess.CompletedProcess(args, 3, json.dumps(plan), "error: provider rule")

    monkeypatch.setattr(revision.subprocess, "run", fake_run)
    rev = revision.Revision("x", "0" * 40, tmp_path, tmp_path)
    result = revision.plan_stack(rev, "dev", {})
    assert result.ok and result.plan == plan
    monkeypatch.setattr(
        revision.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 3, "", "3 problems in the spec"),
    )
    failed = revision.plan_stack(rev, "dev", {})
    assert not failed.ok and "exit 3" in (failed.error or "")


def test_the_terminal_text_fits_every_width_and_cuts_no_amount(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`diff --base` on a terminal: the `unaffected:` and `up would refuse:` lines wrap
    (they ran to 112-196 characters), at 80 columns as at 200 the same amounts and names."""
    from test_widths import amounts, words_fit

    from floyo_scale.render import revision_text, text

    production = scenarios.root / "stacks" / "production.yaml"
    original = production.read_text()
    production.write_text(original.replace("monthly_usd: 340", "monthly_usd: 100"))
    try:
        result = compare(scenarios, "phase")
    finally:
        production.write_text(original)
    assert result.affected == ["production"] and result.findings()
    saved = text.screen()
    try:
        shown = {}
        for width in (80, 100, 120, 200):
            text.use(text.Screen(width, False))
            shown[width] = revision_text(result)
    finally:
        text.use(saved)
    for width, out in shown.items():
        words_fit(out, width)
    assert "unaffected: dev" in shown[200] and "up would refuse:" in shown[200]
    assert amounts(shown[80]) == amounts(shown[200])
    assert shown[80].split() == shown[200].split()  # wrapped between words, nothing lost
