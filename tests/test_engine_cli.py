"""The engine commands end to end in-process, with the Automation API faked at its boundary:
options, confirmation rules, output on stdout, progress on stderr, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi.automation as auto
import pytest
from engine_fakes import (
    DIY_LOCK_STDERR,
    SECRET_ENV,
    FakeAutomation,
    FakeCommand,
    command_error,
    diagnostic,
    make_workspace,
    set_budget,
    step_event,
    summary,
    urn,
)

from floyo_scale import engine
from floyo_scale.cli import main
from floyo_scale.cli import options as cli_options

BUCKET = "aws:s3/bucket:Bucket"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
# the tests of confirmation do not depend on production's budget (a test below does)
OVER_BUDGET = ("--allow-over-budget",)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAutomation:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("PULUMI_BACKEND_URL", "CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(make_workspace(tmp_path / "repo"))
    monkeypatch.setattr(engine.install, "find_cli", lambda env=None: FakeCommand())
    return FakeAutomation().install(monkeypatch)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def terminal(monkeypatch: pytest.MonkeyPatch, answer: str | None) -> None:
    """A person at a terminal who types `answer` (None: closes stdin)."""
    monkeypatch.setattr(cli_options, "terminal", lambda: (True, False))

    def read() -> str:
        if answer is None:
            raise EOFError
        return answer

    monkeypatch.setattr("builtins.input", read)


# -- preview -------------------------------------------------------------------------------


def test_preview_json_is_on_stdout_and_progress_on_stderr(fake, capsys):
    fake.stack.events["preview"] = [
        step_event("resourcePreEvent", "create", BUCKET, "uploads"),
        step_event("resourcePreEvent", "replace", BUCKET, "archive", keys=["bucket"]),
        diagnostic("deprecated argument", "warning", on=urn(BUCKET, "uploads")),
        summary(create=1, replace=1, same=3),
    ]
    fake.stack.changes = {"create": 1, "replace": 1, "same": 3}
    code, out, err = run(capsys, "preview", "--stack", "staging", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [(c["op"], c["name"], c["destroys_data"]) for c in data["changes"]] == [
        ("create", "uploads", False),
        ("replace", "archive", True),
    ]
    assert data["summary"] == {"create": 1, "replace": 1, "same": 3}
    assert data["unreadable"] == 0  # every change the summary counts was announced
    progress = [json.loads(line) for line in err.splitlines()]  # --format json: JSON lines
    assert [(p["event"], p["kind"], p["op"], p["message"]) for p in progress] == [
        ("resource", "start", "preview", ""),
        ("resource", "diagnostic", "", "deprecated argument"),
        ("resource", "summary", "", ""),
    ]
    assert progress[-1]["counts"] == {"create": 1, "replace": 1, "same": 3}


def test_preview_table_flags_data_loss(fake, capsys):
    fake.stack.events["preview"] = [
        step_event("resourcePreEvent", "replace", BUCKET, "archive", keys=["bucket"])
    ]
    fake.stack.changes = {"replace": 1}
    code, out, _ = run(capsys, "preview", "-s", "staging", "--target", "urn:a", "--parallel", "3")
    assert code == 0
    assert "+- replace aws:s3:Bucket archive (bucket)  !! destroys data" in out.splitlines()
    sent = fake.stack.kwargs("preview")
    assert (sent["target"], sent["parallel"]) == (["urn:a"], 3)


def test_preview_markdown(fake, capsys):
    code, out, _ = run(capsys, "preview", "--stack", "staging", "--format", "markdown")
    assert code == 0 and out.startswith("### floyo-scale preview: `staging`")


def test_a_missing_secret_is_exit_2_before_anything_runs(fake, capsys, monkeypatch):
    monkeypatch.delenv("VERCEL_API_TOKEN")
    code, _, err = run(capsys, "preview", "--stack", "staging")
    assert code == 2
    assert "VERCEL_API_TOKEN is not set" in err
    assert fake.opened == []


def test_the_stack_option_is_required(fake, capsys):
    code, _, _ = run(capsys, "preview")
    assert code == 2


# -- up: confirmation and guards -----------------------------------------------------------


def test_production_in_ci_without_yes_is_refused_before_anything_runs(fake, capsys, monkeypatch):
    monkeypatch.setenv("CI", "true")
    code, _, err = run(capsys, "up", "--stack", "production")
    assert code == 6
    assert "needs confirmation, and none can be asked in CI" in err
    assert fake.opened == []


def test_production_in_ci_with_yes_goes_ahead(fake, capsys, monkeypatch):
    monkeypatch.setenv("CI", "true")
    fake.stack.output_values = {
        "phase": auto.OutputValue("growth", False),
        "database_url": auto.OutputValue(SECRET_ENV["SUPABASE_ACCESS_TOKEN"], True),
    }
    fake.stack.events["preview"] = [  # what the summary counts, each announced
        step_event("resourcePreEvent", "update", ENV_VAR, name, stack="production")
        for name in ("app-database-url", "app-redis-url")
    ]
    fake.stack.changes = {"update": 2}
    code, out, err = run(capsys, "up", "--stack", "production", "--yes", *OVER_BUDGET)
    assert code == 0, err
    assert "up" in fake.stack.ops()
    assert out.splitlines() == [
        "up: stack production — 2 to update",
        "database_url  [secret]",
        "phase         growth",
    ]
    for secret in SECRET_ENV.values():
        assert secret not in out + err


def test_production_without_a_terminal_is_refused(fake, capsys):
    code, _, err = run(capsys, "up", "--stack", "production")
    assert code == 6 and "without a terminal" in err


def test_production_on_a_terminal_asks_for_the_stack_name(fake, capsys, monkeypatch):
    terminal(monkeypatch, "production")
    code, _, err = run(capsys, "up", "--stack", "production", *OVER_BUDGET)
    assert code == 0
    assert "Type the stack's name (production) to go on:" in err
    assert "up: stack production at phase growth" in err  # the review came first
    assert "up" in fake.stack.ops()


@pytest.mark.parametrize("answer", ["yes", "", None])
def test_any_other_answer_changes_nothing(fake, capsys, monkeypatch, answer):
    terminal(monkeypatch, answer)
    code, _, err = run(capsys, "up", "--stack", "production", *OVER_BUDGET)
    assert code == 6 and "not confirmed" in err
    assert "up" not in fake.stack.ops()


def test_production_over_budget_is_refused(fake, capsys):
    set_budget(Path.cwd(), "production", 1)
    code, _, err = run(capsys, "up", "--stack", "production", "--yes")
    assert code == 6 and "exceeds its budget" in err
    assert "up" not in fake.stack.ops()


def test_staging_needs_no_confirmation(fake, capsys):
    code, _, _ = run(capsys, "up", "--stack", "staging")
    assert code == 0 and "up" in fake.stack.ops()


def test_up_refuses_to_destroy_data_with_exit_6(fake, capsys):
    fake.stack.events["preview"] = [step_event("resourcePreEvent", "delete", BUCKET, "uploads")]
    code, _, err = run(capsys, "up", "--stack", "staging")
    assert code == 6
    assert "delete aws:s3:Bucket uploads [seen by the preview]" in err
    assert "up" not in fake.stack.ops()
    code, _, err = run(capsys, "up", "--stack", "staging", "--allow-destroy")
    assert code == 0
    assert "allowed by --allow-destroy: delete aws:s3:Bucket uploads" in err


def test_a_downgrade_shows_what_goes_away_and_the_saving(fake, capsys):
    fake.stack.output_values = {"phase": auto.OutputValue("scale", False)}
    code, _, err = run(capsys, "up", "--stack", "staging", "--phase", "growth", "--allow-destroy")
    assert code == 0, err
    assert "phase downgrade: scale -> growth" in err
    assert "    - supabase:Project shard-1" in err
    assert "monthly saving: $" in err


def test_a_locked_stack_is_exit_5_naming_the_holder(fake, capsys):
    fake.stack.errors["up"] = [command_error(DIY_LOCK_STDERR)]
    code, _, err = run(capsys, "up", "--stack", "staging")
    assert code == 5
    assert "stack staging is locked by alice@build-7 (pid 4242) since 2026-03-01T09:30:00Z" in err


# -- destroy, refresh, drift, outputs, cancel ----------------------------------------------


def test_destroy_in_ci_needs_yes(fake, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, _, err = run(capsys, "destroy", "--stack", "dev")
    assert code == 6 and fake.opened == []


def test_destroy_with_yes_lists_then_destroys(fake, capsys):
    fake.stack.events["preview_destroy"] = [
        step_event("resourcePreEvent", "delete", BUCKET, "uploads", stack="dev")
    ]
    fake.stack.changes = {"delete": 1}
    code, out, err = run(capsys, "destroy", "--stack", "dev", "--yes")
    assert code == 0, err
    assert fake.stack.ops() == ["preview_destroy", "destroy"]
    assert " - delete  aws:s3:Bucket uploads  !! destroys data" in err
    assert out == "destroy: stack dev — 1 to delete\n"
    assert fake.opened[0][0] == "select"  # destroy never creates a stack


def test_destroy_of_an_empty_stack_does_nothing(fake, capsys):
    code, out, _ = run(capsys, "destroy", "--stack", "dev", "--yes")
    assert code == 0 and out == "destroy: stack dev has nothing to destroy\n"
    assert fake.stack.ops() == ["preview_destroy"]


def test_refresh_can_clear_pending_creates(fake, capsys):
    code, _, _ = run(capsys, "refresh", "--stack", "staging", "--clear-pending-creates")
    assert code == 0
    assert fake.stack.kwargs("refresh")["clear_pending_creates"] is True


def test_drift_exit_0_without_drift(fake, capsys):
    fake.stack.changes = {"same": 4}
    code, out, _ = run(capsys, "drift", "--stack", "staging")
    assert code == 0 and out == "no drift: stack staging matches its state\n"


def test_drift_exit_7_lists_what_drifted(fake, capsys):
    fake.stack.events["preview_refresh"] = [
        step_event("resOutputsEvent", "update", BUCKET, "uploads", diffs=["tags"]),
    ]
    fake.stack.changes = {"update": 1, "same": 3}
    code, out, err = run(capsys, "drift", "--stack", "staging")
    assert code == 7
    assert "  aws:s3:Bucket uploads: changed: tags" in out
    assert "stack staging has drifted: 1 resources differ" in err
    code, out, _ = run(capsys, "drift", "--stack", "staging", "--format", "json")
    assert code == 7 and json.loads(out)["drift"] is True


def test_outputs_mask_secrets_unless_asked(fake, capsys):
    fake.stack.output_values = {
        "buckets": auto.OutputValue({"uploads": "floyo-staging-uploads"}, False),
        "database_url": auto.OutputValue("postgresql://secret", True),
    }
    code, out, _ = run(capsys, "outputs", "--stack", "staging", "--format", "json")
    assert json.loads(out) == {
        "buckets": {"uploads": "floyo-staging-uploads"},
        "database_url": "[secret]",
    }
    code, out, _ = run(capsys, "outputs", "--stack", "staging", "--show-secrets")
    assert "database_url  postgresql://secret" in out


def lock(root: Path, pid: int, host: str) -> None:
    path = root / ".floyo/state/.pulumi/locks/organization/floyo/staging/l.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"pid": pid, "username": "bob", "hostname": host, "timestamp": "2026-03-02T10:00:00Z"}
        )
    )


def test_cancel_releases_a_stale_lock_and_says_whose(fake, capsys, monkeypatch):
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")  # not needed to release a lock
    lock(Path.cwd(), 999_999, "ci-3")
    code, out, _ = run(capsys, "cancel", "--stack", "staging")
    assert code == 0
    assert out == "released the lock held by bob@ci-3 (pid 999999) since 2026-03-02T10:00:00Z\n"
    assert fake.stack.ops() == ["cancel"]


def test_cancel_refuses_a_lock_whose_process_still_runs_here(fake, capsys):
    import socket

    lock(Path.cwd(), os.getpid(), socket.gethostname())
    code, _, err = run(capsys, "cancel", "--stack", "staging")
    assert code == 6 and "still runs" in err
    assert "cancel" not in fake.stack.ops()
    code, _, _ = run(capsys, "cancel", "--stack", "staging", "--force")
    assert code == 0 and "cancel" in fake.stack.ops()


# -- setup and the CLI's absence -----------------------------------------------------------


def test_without_the_cli_every_engine_command_says_to_run_setup(
    fake, capsys, monkeypatch, tmp_path
):
    monkeypatch.undo()  # the real find_cli, no fakes
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for command in ("preview", "up", "destroy", "refresh", "drift", "outputs", "cancel"):
        extra = ["--yes"] if command == "destroy" else []
        code, _, err = run(capsys, command, "--stack", "staging", *extra)
        assert (command, code) == (command, 4)
        assert "the Pulumi CLI is not installed" in err
        assert "run `floyo-scale setup`" in err


def test_help_never_imports_pulumi():
    code = (
        "import sys; from floyo_scale.cli import main; main(['--help']); "
        "print(sorted(m for m in sys.modules if m.startswith('pulumi')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    for command in ("setup", "preview", "up", "destroy", "refresh", "drift", "outputs", "cancel"):
        assert command in done.stdout


def test_up_lists_the_alert_subscriptions_waiting_for_confirmation(fake, capsys, monkeypatch):
    """After the update, the e-mail subscriptions of the `alert_topics` output that nobody has
    confirmed yet (issue 24): on stderr, with what to do; results stay on stdout."""
    from floyo_scale.observe import aws

    monkeypatch.setenv("CI", "true")
    topics = {"us-east-1": "arn:aws:sns:us-east-1:333333333333:alerts-us-east-1-a1b2c3d"}
    fake.stack.output_values = {
        "phase": auto.OutputValue("growth", False),
        "alert_topics": auto.OutputValue(topics, False),
    }
    asked = []

    def pending(profile, asked_topics, timeout=10.0):
        asked.append(asked_topics)
        return [aws.Pending("us-east-1", "email", "oncall@floyo.app")], None

    monkeypatch.setattr(aws, "pending_after_up", pending)
    code, out, err = run(capsys, "up", "--stack", "production", "--yes", *OVER_BUDGET)
    assert code == 0, err
    assert asked == [topics]
    assert "waiting for confirmation: 1 alert subscription" in err
    assert "oncall@floyo.app (email, us-east-1)" in err
    assert "waiting for confirmation" not in out
