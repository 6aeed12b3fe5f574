"""`promote --from staging --to production`, with the Automation API faked at its boundary
(tests/engine_fakes.py): each refusal with its exit code, and the promotion that goes
through recording the same release."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pulumi.automation as auto
import pytest
from engine_fakes import (
    SECRET_ENV,
    FakeAutomation,
    FakeCommand,
    FakeStack,
    make_workspace,
    step_event,
    summary,
)

from floyo_scale import engine
from floyo_scale import infra as infra_package
from floyo_scale.cli import main
from floyo_scale.engine.release import OUTPUT, Release, current, spec_digest
from floyo_scale.spec import Workspace, load_stack

BUCKET = "aws:s3/bucket:Bucket"
DRIFT = "resOutputsEvent"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("PULUMI_BACKEND_URL", "CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    root = make_workspace(tmp_path / "repo")
    (root / ".gitignore").write_text(".floyo/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "test")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "specs")
    monkeypatch.chdir(root)
    monkeypatch.setattr(engine.install, "find_cli", lambda env=None: FakeCommand())
    return root


def ran(stack: FakeStack, release: Release) -> None:
    """The stack's last update succeeded and recorded `release`."""
    stack.output_values[OUTPUT] = auto.OutputValue(release.to_output(), False)
    stack.output_values["phase"] = auto.OutputValue("growth", False)


@pytest.fixture
def stacks(repo: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeStack]:
    staging, production = FakeStack("staging"), FakeStack("production")
    ran(staging, current(Workspace(repo)))
    production.output_values["phase"] = auto.OutputValue("growth", False)
    FakeAutomation(stacks={"staging": staging, "production": production}).install(monkeypatch)
    return {"staging": staging, "production": production}


def promote(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["promote", "--from", "staging", "--to", "production", "--yes", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_release_is_the_commit_the_spec_digest_and_the_version(repo: Path) -> None:
    now = current(Workspace(repo))
    assert now.commit == git(repo, "rev-parse", "HEAD") and not now.dirty
    assert now.spec_digest == spec_digest(Workspace(repo)) and now.spec_digest.startswith("sha256:")
    assert Release.from_output(now.to_output()) == now
    assert Release.from_output(None) is None and Release.from_output({"commit": "x"}) is None
    (repo / "phases" / "growth.yaml").write_text(
        (repo / "phases" / "growth.yaml").read_text().replace("queries: 300", "queries: 301")
    )
    changed = current(Workspace(repo))
    assert changed.dirty and changed.spec_digest != now.spec_digest


def test_up_hands_the_release_to_the_program(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Every `up` runs the program with the release, which exports it as `floyo_release`."""
    given: list[Any] = []
    real = infra_package.program
    monkeypatch.setattr(
        infra_package,
        "program",
        lambda s, secrets, release=None, **kw: (
            given.append(release) or real(s, secrets, release, **kw)
        ),
    )
    FakeAutomation().install(monkeypatch)
    assert main(["up", "--stack", "staging", "--yes"]) == 0, capsys.readouterr().err
    # the engine's program gets the release; the offline plans `up` makes first do not
    assert [r for r in given if r is not None] == [current(Workspace(repo)).to_output()]

    from floyo_scale.offline.synth import _run

    exported: dict[str, Any] = {}
    monkeypatch.setattr("pulumi.export", lambda name, value: exported.__setitem__(name, value))
    stack = load_stack(Workspace(repo), "dev")
    _run(real(stack, {}, {"commit": "abc", "spec_digest": "sha256:0"}), "floyo", "dev")
    assert exported[OUTPUT] == {"commit": "abc", "spec_digest": "sha256:0"}


def test_promotes_what_staging_ran(stacks, capsys) -> None:
    code, out, err = promote(capsys)
    assert code == 0, err
    assert "promote: staging -> production at" in out
    assert stacks["production"].ops()[-1] == "up"
    assert "preview_refresh" in stacks["staging"].ops()  # staging's drift was checked


def test_refuses_when_staging_ran_another_commit(stacks, repo: Path, capsys) -> None:
    other = Release("0" * 40, False, current(Workspace(repo)).spec_digest, "0.1.0")
    ran(stacks["staging"], other)
    code, _, err = promote(capsys)
    assert code == 6
    assert "refusing to promote: stack staging last ran commit 000000000000, this is" in err
    assert "up" not in stacks["production"].ops()


def test_refuses_when_staging_ran_another_spec(stacks, repo: Path, capsys) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    ran(stacks["staging"], Release(commit, False, "sha256:" + "1" * 64, "0.1.0"))
    code, _, err = promote(capsys)
    assert code == 6 and "stack staging last ran spec sha256:111111111111" in err


def test_refuses_uncommitted_changes(stacks, repo: Path, capsys) -> None:
    (repo / "stacks" / "production.yaml").write_text(
        (repo / "stacks" / "production.yaml").read_text() + "\n# edited\n"
    )
    code, _, err = promote(capsys)
    assert code == 6 and "this checkout has uncommitted changes" in err


def test_refuses_when_staging_last_update_failed(stacks, capsys) -> None:
    staging = stacks["staging"]
    staging.updates = [staging._summary(result="failed"), staging._summary()]
    code, _, err = promote(capsys)
    assert code == 6 and "the last update of stack staging" in err and "(failed)" in err


def test_refuses_when_staging_never_recorded_a_release(stacks, capsys) -> None:
    del stacks["staging"].output_values[OUTPUT]
    code, _, err = promote(capsys)
    assert code == 6 and "recorded no floyo_release output" in err
    stacks["staging"].updates = []
    code, _, err = promote(capsys)
    assert code == 6 and "stack staging has never been updated" in err


def test_refuses_when_staging_has_drifted(stacks, capsys) -> None:
    stacks["staging"].events["preview_refresh"] = [
        step_event(DRIFT, "update", BUCKET, "uploads", diffs=["versioning"]),
        summary(update=1),
    ]
    stacks["staging"].changes = {"update": 1}
    code, _, err = promote(capsys)
    assert code == 6
    assert "refusing to promote: stack staging has drifted" in err
    assert "up" not in stacks["production"].ops()


def test_refuses_when_production_would_lose_data(stacks, capsys) -> None:
    stacks["production"].events["preview"] = [
        step_event("resourcePreEvent", "replace", BUCKET, "uploads", keys=["bucket"]),
        summary(replace=1),
    ]
    code, _, err = promote(capsys)
    assert code == 6
    assert "refusing to promote to production: this change would destroy data" in err
    assert "up" not in stacks["production"].ops()
    code, _, err = promote(capsys, "--allow-destroy")
    assert code == 0, err


def test_same_stack_is_a_usage_error(stacks, capsys) -> None:
    capsys.readouterr()
    assert main(["promote", "--from", "staging", "--to", "staging", "--yes"]) == 2


def test_in_two_halves_with_each_side_s_credentials(stacks, repo: Path, capsys) -> None:
    """CI holds one account's credentials at a time: --check-only (staging's release and
    drift, nothing of production), then --source-drift-checked (the release again, then
    production)."""
    capsys.readouterr()
    code = main(["promote", "--from", "staging", "--to", "production", "--check-only"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "promote: staging ran" in out and "the same as this checkout" in out
    assert "preview_refresh" in stacks["staging"].ops() and stacks["production"].ops() == []
    stacks["staging"].calls.clear()
    code, _, err = promote(capsys, "--source-drift-checked")
    assert code == 0, err
    assert "preview_refresh" not in stacks["staging"].ops()
    assert "history" in stacks["staging"].ops() and stacks["production"].ops()[-1] == "up"
    ran(stacks["staging"], Release("0" * 40, False, "sha256:0", "0.1.0"))
    code, _, err = promote(capsys, "--source-drift-checked")
    assert code == 6 and "last ran commit 000000000000" in err  # the release is always checked
    capsys.readouterr()
    both = ["--check-only", "--source-drift-checked"]
    assert main(["promote", "--from", "staging", "--to", "production", *both]) == 2


def test_check_only_refuses_drift(stacks, capsys) -> None:
    stacks["staging"].events["preview_refresh"] = [
        step_event(DRIFT, "update", BUCKET, "uploads", diffs=["versioning"]),
        summary(update=1),
    ]
    stacks["staging"].changes = {"update": 1}
    capsys.readouterr()
    code = main(["promote", "--from", "staging", "--to", "production", "--check-only"])
    assert code == 6 and "has drifted" in capsys.readouterr().err
