"""engine.py with the Automation API patched at its boundary: what would be sent to it, and
how every answer (events, results, errors) becomes output and exit codes."""

from __future__ import annotations

import os
import signal
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi.automation as auto
import pytest
from engine_fakes import (
    CLOUD_LOCK_STDERR,
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
from floyo_scale.engine import install
from floyo_scale.errors import (
    EngineError,
    ExitCode,
    GuardrailError,
    Interrupted,
    StackLockedError,
    UsageError,
)
from floyo_scale.progress import ProgressEvent, Step
from floyo_scale.progress import ResourceEvent as Event
from floyo_scale.spec import Workspace, load_stack

BUCKET = "aws:s3/bucket:Bucket"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
PROJECT_TYPE = "pulumi-python:dynamic/supabase:Project"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "repo")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    return dict(SECRET_ENV)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAutomation:
    return FakeAutomation().install(monkeypatch)


def target(root: Path, env: dict[str, str], stack: str = "staging", phase: str | None = None):
    resolved = load_stack(Workspace(root), stack, phase)
    return engine.prepare(resolved, root, env)


def session(root: Path, env: dict[str, str], *, stack: str = "staging", phase=None, **kw):
    events: list[Event] = []
    opened = engine.open_session(
        target(root, env, stack, phase),
        create=True,
        sink=events.append,
        command=FakeCommand(),  # type: ignore[arg-type]
        **kw,
    )
    return opened, events


def assert_no_secret_in(value: Any) -> None:
    text = repr(value)
    for secret in SECRET_ENV.values():
        assert secret not in text


# -- where state and secrets live ----------------------------------------------------------


def test_the_default_backend_is_a_file_backend_under_the_repository(root, env):
    t = target(root, env)
    assert t.backend == f"file://{(root / '.floyo' / 'state').resolve()}"
    assert t.state_dir == (root / ".floyo" / "state").resolve()
    assert t.secrets_provider == "passphrase"


def test_pulumi_backend_url_overrides_the_backend(root, env):
    t = target(root, env | {"PULUMI_BACKEND_URL": "s3://floyo-state?region=eu-west-1"})
    assert t.backend == "s3://floyo-state?region=eu-west-1"
    assert t.state_dir is None
    assert t.env_vars()["PULUMI_BACKEND_URL"] == "s3://floyo-state?region=eu-west-1"


def test_pulumi_cloud_keeps_its_own_secrets_and_needs_no_passphrase(root, env):
    no_pass = {k: v for k, v in env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    cloud = {"PULUMI_BACKEND_URL": "https://api.pulumi.com", "PULUMI_ACCESS_TOKEN": "pul-x"}
    t = target(root, no_pass | cloud)
    assert t.secrets_provider is None


def test_a_missing_passphrase_is_a_usage_error_saying_how_to_set_it(root, env):
    no_pass = {k: v for k, v in env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    with pytest.raises(UsageError) as caught:
        target(root, no_pass)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "PULUMI_CONFIG_PASSPHRASE" in caught.value.hint
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" in caught.value.hint


def test_an_empty_passphrase_is_a_passphrase(root, env):
    assert target(root, env | {"PULUMI_CONFIG_PASSPHRASE": ""}).secrets_provider == "passphrase"


def test_a_passphrase_file_must_exist(root, env, tmp_path):
    no_pass = {k: v for k, v in env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    with pytest.raises(UsageError, match="does not exist"):
        target(root, no_pass | {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "nope")})
    passfile = tmp_path / "pass"
    passfile.write_text("x")
    t = target(root, no_pass | {"PULUMI_CONFIG_PASSPHRASE_FILE": str(passfile)})
    assert t.secrets_provider == "passphrase"


def test_a_kms_secrets_provider_comes_from_the_stack_file(root, env):
    path = root / "stacks" / "staging.yaml"
    path.write_text(path.read_text() + "\nsecrets_provider: awskms://alias/floyo-staging\n")
    no_pass = {k: v for k, v in env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    assert target(root, no_pass).secrets_provider == "awskms://alias/floyo-staging"


KMS = "awskms://alias/floyo-staging?region=us-east-1"


def kms_stack(root: Path, provider: str = KMS) -> None:
    path = root / "stacks" / "staging.yaml"
    path.write_text(path.read_text() + f"\nsecrets_provider: {provider}\n")


def test_a_fresh_work_folder_keeps_the_kms_provider_the_state_records(root, env, fake):
    """A CI checkout has no .floyo/work: nothing there names the provider. Every `pulumi`
    command gets PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER, so the CLI takes the one the
    state records (awskms://..., with its data key) instead of the backend's default (the
    passphrase); the state already records the stack file's, so nothing is changed."""
    kms_stack(root)
    fake.stack.secrets_providers = {"type": "cloud", "state": {"url": KMS, "encryptedkey": "a2V5"}}
    s, events = session(root, env)
    s.preview()
    opts = fake.opened[0][1]["opts"]
    assert opts.secrets_provider == KMS  # `pulumi stack init` of a new stack
    assert opts.env_vars["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
    assert fake.stack.ops() == ["pulumi stack export", "set_all_config", "preview"]
    assert "--show-secrets" not in fake.stack.kwargs("pulumi stack export")["args"]
    assert not [e for e in events if e.severity == "warning"]


def test_a_provider_changed_in_the_stack_file_re_encrypts_the_state(root, env, fake):
    """The state was encrypted with the passphrase; the stack file now names KMS: `pulumi
    stack change-secrets-provider` before anything else runs, once per session."""
    kms_stack(root)
    fake.stack.secrets_providers = {"type": "passphrase", "state": {"salt": "v1:x"}}
    s, events = session(root, env)
    s.preview()
    s.up()
    assert fake.stack.ops() == [
        "pulumi stack export",
        "pulumi stack change-secrets-provider",
        "set_all_config",
        "preview",
        "up",
    ]
    change = fake.stack.kwargs("pulumi stack change-secrets-provider")
    assert change["args"] == ["stack", "change-secrets-provider", KMS, "--stack", "staging"]
    assert change["cwd"] == fake.stack.workspace.work_dir
    (said,) = [e.message for e in events if e.severity == "warning"]
    assert "names the secrets provider awskms://" in said and "with passphrase" in said


def test_a_stack_never_updated_gets_the_provider_named_in_the_work_folder(root, env, fake):
    """No update has recorded a provider in the state yet, and the work folder is fresh:
    its Pulumi.staging.yaml names the stack file's, so the CLI makes its key under it."""
    kms_stack(root)
    s, _ = session(root, env)
    s.preview()
    assert fake.stack.ops()[:3] == ["pulumi stack export", "save_stack_settings", "set_all_config"]
    assert fake.stack.kwargs("save_stack_settings")["settings"] == {"secretsprovider": KMS}
    old = auto.StackSettings(secrets_provider="passphrase", encryption_salt="v1:x")
    fake.stack.workspace.settings["staging"] = old  # another provider's salt goes
    fake.stack.calls.clear()
    s2, _ = session(root, env)
    s2.preview()
    assert fake.stack.workspace.settings["staging"]._serialize() == {"secretsprovider": KMS}


def test_without_a_provider_in_the_stack_file_the_states_is_kept(root, env, fake):
    fake.stack.secrets_providers = {"type": "cloud", "state": {"url": KMS}}
    s, _ = session(root, env)
    s.preview()
    assert fake.stack.ops() == ["set_all_config", "preview"]  # no export, no change


def test_secrets_come_from_the_variables_the_stack_file_names(root, env):
    t = target(root, env)
    assert dict(t.secrets) == {
        "VERCEL_API_TOKEN": SECRET_ENV["VERCEL_API_TOKEN"],
        "SUPABASE_ACCESS_TOKEN": SECRET_ENV["SUPABASE_ACCESS_TOKEN"],
        "UPSTASH_API_KEY": SECRET_ENV["UPSTASH_API_KEY"],
        "SENTRY_AUTH_TOKEN": SECRET_ENV["SENTRY_AUTH_TOKEN"],
    }
    assert_no_secret_in(t)  # the repr hides them


def test_a_missing_secret_is_a_usage_error_naming_the_variable(root, env):
    resolved = load_stack(Workspace(root), "staging", None)
    partial = {k: v for k, v in env.items() if k != "SUPABASE_ACCESS_TOKEN"}
    with pytest.raises(UsageError) as caught:
        engine.prepare(resolved, root, partial)
    assert "SUPABASE_ACCESS_TOKEN is not set" in caught.value.message
    assert "${env:SUPABASE_ACCESS_TOKEN}" in caught.value.message
    assert "export SUPABASE_ACCESS_TOKEN=..." in caught.value.hint
    # commands that do not run the program go on without it
    t = engine.prepare(resolved, root, partial, run_program=False)
    assert "SUPABASE_ACCESS_TOKEN" not in t.secrets


# -- what is sent to the Automation API ----------------------------------------------------


def test_open_session_sends_the_stack_the_program_and_the_workspace(root, env, fake, monkeypatch):
    import floyo_scale.infra

    made: list[tuple[Any, Any, Any, Any]] = []

    def program(stack, secrets, release=None, aws_budget_usd=None):
        made.append((stack, secrets, release, aws_budget_usd))
        return program_fn

    def program_fn() -> None:  # the inline program: never run here
        raise AssertionError

    t = target(root, env)  # the offline plan runs the real program (AWS Budget figure)
    monkeypatch.setattr(floyo_scale.infra, "program", program)
    command = FakeCommand()
    engine.open_session(t, create=True, command=command)  # type: ignore[arg-type]

    ((how, sent),) = fake.opened
    assert how == "create_or_select"
    assert sent["stack_name"] == "staging"  # the Pulumi stack is named after the stack file
    assert sent["project_name"] == "floyo"
    assert sent["program"] is program_fn
    # the same function `plan` synthesizes, with what the update records (engine/release.py)
    # and the AWS Budget figure of the offline plan (cost.plan_stack)
    assert made == [(t.stack, t.secrets, t.release, t.aws_budget_usd)] and t.release is not None
    assert t.aws_budget_usd == 15.0  # staging at growth: S3 and the uptime check, the AWS share
    opts = sent["opts"]
    assert opts.work_dir == str(root / ".floyo" / "work" / "floyo")
    assert opts.pulumi_command is command
    assert opts.secrets_provider == "passphrase"
    assert opts.project_settings.name == "floyo"
    assert opts.project_settings.runtime == "python"
    assert opts.env_vars["PULUMI_BACKEND_URL"] == t.backend
    assert opts.env_vars["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert_no_secret_in(opts.env_vars)  # the passphrase is inherited, not passed
    assert (root / ".floyo" / "state").is_dir()  # the backend is created on first use


def test_commands_on_an_existing_stack_select_it(root, env, fake):
    engine.open_session(target(root, env), command=FakeCommand())  # type: ignore[arg-type]
    assert fake.opened[0][0] == "select"


def test_a_stack_not_in_the_backend_is_a_usage_error(root, env, fake):
    fake.open_errors.append(command_error("error: no stack named 'staging' found"))
    with pytest.raises(UsageError, match="does not exist in the backend") as caught:
        engine.open_session(target(root, env), command=FakeCommand())  # type: ignore[arg-type]
    assert "floyo-scale up --stack staging" in caught.value.hint


def test_preview_sets_the_phase_config_and_sends_flags(root, env, fake):
    fake.stack.events["preview"] = [
        step_event("resourcePreEvent", "same", "pulumi:pulumi:Stack", "floyo-staging"),
        step_event("resourcePreEvent", "create", BUCKET, "uploads"),
        step_event("resourcePreEvent", "update", REDIS, "cache", diffs=["nodeType"]),
        summary(create=1, update=1, same=1),
    ]
    fake.stack.changes = {"create": 1, "update": 1, "same": 1}
    s, events = session(root, env)
    report = s.preview(targets=[urn(BUCKET, "uploads")], parallel=4)

    assert fake.stack.ops() == ["set_all_config", "preview"]
    config = fake.stack.kwargs("set_all_config")["config"]
    assert {k: (v.value, v.secret) for k, v in config.items()} == {"floyo:phase": ("growth", False)}
    sent = fake.stack.kwargs("preview")
    assert sent["target"] == [urn(BUCKET, "uploads")]
    assert sent["parallel"] == 4
    assert sent["color"] == "never"
    assert callable(sent["on_event"])
    assert [(c.op, c.name, c.keys) for c in report.changes] == [
        ("create", "uploads", ()),
        ("update", "cache", ("nodeType",)),
    ]
    assert report.counts == {"create": 1, "update": 1, "same": 1}
    assert events[0] == Event("start", op="preview")
    assert_no_secret_in(fake.stack.calls)  # no secret on any call, config included


def test_no_flags_are_sent_when_none_are_given(root, env, fake):
    s, _ = session(root, env)
    s.preview()
    sent = fake.stack.kwargs("preview")
    assert sent["target"] is None and sent["parallel"] is None


def test_secrets_are_redacted_from_engine_messages(root, env, fake):
    token = SECRET_ENV["VERCEL_API_TOKEN"]
    fake.stack.events["preview"] = [diagnostic(f"401: bad token {token}", "warning")]
    s, events = session(root, env)
    s.preview()
    (warning,) = [e for e in events if e.kind == "diagnostic"]
    assert warning.message == "401: bad token [secret]"


# -- up, safely ----------------------------------------------------------------------------


def approve_all(review: engine.Review) -> bool:
    return True


def test_up_reviews_then_updates_and_reports(root, env, fake):
    fake.stack.events["preview"] = [step_event("resourcePreEvent", "create", BUCKET, "uploads")]
    fake.stack.changes = {"create": 1}
    fake.stack.output_values = {
        "phase": auto.OutputValue("growth", False),
        "database_url": auto.OutputValue("postgresql://u:p@h/db", True),
    }
    s, events = session(root, env)
    seen: list[engine.Review] = []
    report = engine.deploy(
        s, approve=lambda r: seen.append(r) or True, targets=["urn:x"], parallel=2
    )

    assert fake.stack.ops() == ["outputs", "set_all_config", "preview", "up"]  # config once
    sent = fake.stack.kwargs("up")
    assert sent["target"] == ["urn:x"] and sent["parallel"] == 2
    assert sent["show_secrets"] is False  # the update summary never holds secret config
    assert sent["message"] == "floyo-scale up --phase growth --stack staging"
    assert report.counts == {"create": 1}
    assert report.outputs["database_url"].secret is True
    assert seen[0].deployed_phase == "growth" and seen[0].losses == ()
    assert Event("start", op="up", total=1) in events  # the display knows the total


def test_up_of_a_new_stack_has_no_deployed_phase(root, env, fake):
    s, _ = session(root, env)
    report = engine.deploy(s, approve=approve_all)
    assert report.review is not None and report.review.deployed_phase is None
    assert report.review.diff is None


def test_the_destroy_guard_refuses_to_replace_a_bucket(root, env, fake):
    fake.stack.events["preview"] = [
        step_event("resourcePreEvent", "create-replacement", BUCKET, "uploads", keys=["bucket"]),
        step_event("resourcePreEvent", "replace", BUCKET, "uploads", keys=["bucket"]),
        step_event("resourcePreEvent", "delete-replaced", BUCKET, "uploads"),
        step_event("resourcePreEvent", "delete", PROJECT_TYPE, "db", retain=True),  # kept
        step_event("resourcePreEvent", "delete", "aws:cloudwatch/metricAlarm:MetricAlarm", "a"),
    ]
    s, _ = session(root, env)
    with pytest.raises(GuardrailError) as caught:
        engine.deploy(s, approve=approve_all)
    assert caught.value.exit_code == ExitCode.GUARDRAIL
    assert "1 stateful resource would be deleted or replaced" in caught.value.message
    assert "replace aws:s3:Bucket uploads (because of bucket)" in caught.value.message
    assert "db" not in caught.value.message and "MetricAlarm" not in caught.value.message
    assert "--allow-destroy" in caught.value.hint
    assert "up" not in fake.stack.ops()


def test_a_preview_that_cannot_be_read_whole_is_not_vouched_for(root, env, fake):
    broken = auto.EngineEvent(0, 0, resource_pre_event=auto.ResourcePreEvent(metadata=None))  # type: ignore[arg-type]
    fake.stack.events["preview"] = [broken]
    s, _ = session(root, env)
    with pytest.raises(GuardrailError, match="1 event.s. of the preview could not be read"):
        engine.deploy(s, approve=approve_all)
    assert "up" not in fake.stack.ops()
    engine.deploy(s, approve=approve_all, allow_destroy=True)
    assert "up" in fake.stack.ops()


def test_allow_destroy_lets_it_through(root, env, fake):
    fake.stack.events["preview"] = [step_event("resourcePreEvent", "delete", REDIS, "cache")]
    s, _ = session(root, env)
    report = engine.deploy(s, approve=approve_all, allow_destroy=True)
    assert "up" in fake.stack.ops()
    assert report.review is not None and [loss.name for loss in report.review.losses] == ["cache"]


def test_a_phase_downgrade_is_refused_from_the_offline_plan_and_shows_the_saving(root, env, fake):
    # deployed at scale; the preview (empty here) does not see it: the offline diff does
    fake.stack.output_values = {"phase": auto.OutputValue("scale", False)}
    s, _ = session(root, env, phase="growth")
    with pytest.raises(GuardrailError, match="seen by the plan"):
        engine.deploy(s, approve=approve_all)

    reviews: list[engine.Review] = []
    engine.deploy(s, approve=lambda r: reviews.append(r) or True, allow_destroy=True)
    down = reviews[0].downgrade
    assert down is not None and (down.old_phase, down.new_phase) == ("scale", "growth")
    assert {(r.type, r.name) for r in down.removed} >= {
        (PROJECT_TYPE, "shard-1"),  # scale shards the database; growth does not
        (BUCKET, "uploads-eu-west-1"),  # nor replicate uploads to a second region
    }
    assert down.saving_low is not None and down.saving_high is not None
    assert 0 < down.saving_low <= down.saving_high
    assert "monthly saving" in down.describe()


def test_an_over_budget_phase_is_refused_unless_allowed(root, env, fake):
    set_budget(root, "staging", 1)
    s, _ = session(root, env)
    with pytest.raises(GuardrailError, match="exceeds its budget"):
        engine.deploy(s, approve=approve_all)
    assert "up" not in fake.stack.ops()
    engine.deploy(s, approve=approve_all, allow_over_budget=True)
    assert "up" in fake.stack.ops()


def test_nothing_changes_when_not_approved(root, env, fake):
    s, _ = session(root, env)
    with pytest.raises(GuardrailError, match="not confirmed"):
        engine.deploy(s, approve=lambda r: False)
    assert "up" not in fake.stack.ops()


# -- every Automation API error has its exit code ------------------------------------------

ERRORS = [
    (command_error(DIY_LOCK_STDERR), auto.ConcurrentUpdateError, ExitCode.LOCKED),
    (command_error(CLOUD_LOCK_STDERR), auto.ConcurrentUpdateError, ExitCode.LOCKED),
    (command_error("error: no stack named 'staging' found"), auto.StackNotFoundError, 2),
    (command_error("error: stack 'staging' already exists"), auto.StackAlreadyExistsError, 4),
    (
        command_error(stdout="error: python inline source runtime error: boom"),
        auto.InlineSourceRuntimeError,
        ExitCode.ENGINE,
    ),
    (
        command_error(stdout="error: Program failed with an unhandled exception"),
        auto.RuntimeError,
        ExitCode.ENGINE,
    ),
    (command_error(stdout="main.go:3: syntax error: x"), auto.CompilationError, ExitCode.ENGINE),
    (command_error("error: getting credentials: expired"), auto.CommandError, ExitCode.ENGINE),
    (auto.InvalidVersionError("Major version mismatch"), auto.InvalidVersionError, 4),
    (FileNotFoundError("pulumi"), FileNotFoundError, ExitCode.ENGINE),
]


@pytest.mark.parametrize(
    ("error", "kind", "code"), ERRORS, ids=lambda v: getattr(v, "__name__", "")
)
def test_each_automation_error_has_its_exit_code(error, kind, code):
    assert type(error) is kind  # the SDK classifies the CLI's text as expected
    translated = engine.translate_error(error, "staging")
    assert translated is not None
    assert translated.exit_code == code
    if code == ExitCode.ENGINE and kind in (auto.InvalidVersionError, FileNotFoundError):
        assert "floyo-scale setup" in translated.hint


def test_a_bug_is_not_translated():
    assert engine.translate_error(ValueError("x"), "staging") is None


def test_a_diy_lock_names_its_holder_and_time():
    error = engine.translate_error(command_error(DIY_LOCK_STDERR), "staging")
    assert isinstance(error, StackLockedError)
    assert "alice@build-7 (pid 4242) since 2026-03-01T09:30:00Z" in error.message
    assert "--lock-timeout" in error.hint and "floyo-scale cancel --stack staging" in error.hint


def test_a_cloud_lock_says_that_the_holder_is_unknown():
    error = engine.translate_error(command_error(CLOUD_LOCK_STDERR), "staging")
    assert isinstance(error, StackLockedError)
    assert "the backend does not say whose" in error.message


def test_a_failed_resource_shows_which_one_and_the_providers_message(root, env, fake):
    bucket = urn(BUCKET, "uploads")
    fake.stack.events["up"] = [
        step_event("resourcePreEvent", "create", BUCKET, "uploads"),
        diagnostic("creating S3 Bucket: BucketAlreadyExists: taken", on=bucket),
        step_event("resOpFailedEvent", "create", BUCKET, "uploads"),
    ]
    fake.stack.errors["up"] = [command_error("error: update failed")]
    s, events = session(root, env)
    with pytest.raises(EngineError) as caught:
        s.up()
    assert caught.value.message == (
        "1 resource failed: aws:s3/bucket:Bucket uploads: "
        "creating S3 Bucket: BucketAlreadyExists: taken"
    )
    failed = [e for e in events if e.kind == "failed"]
    assert failed[0].name == "uploads"
    assert failed[0].message == "creating S3 Bucket: BucketAlreadyExists: taken"


def test_a_program_error_is_an_engine_error_with_pulumis_words(root, env, fake):
    fake.stack.errors["preview"] = [
        command_error(
            "error: an unhandled error occurred: Program exited with non-zero exit code: 1",
            stdout="error: python inline source runtime error: KeyError 'x'",
        )
    ]
    s, _ = session(root, env)
    with pytest.raises(EngineError, match="the Pulumi program failed: an unhandled error"):
        s.preview()


# -- locks ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def locked_session(root, env, fake, lock_timeout: float, failures: int):
    clock = Clock()
    s, events = session(root, env, lock_timeout=lock_timeout)
    s._sleep, s._clock = clock.sleep, clock.time
    fake.stack.errors["up"] = [command_error(DIY_LOCK_STDERR) for _ in range(failures)]
    return s, events, clock


def test_a_locked_stack_is_exit_5_at_once_without_lock_timeout(root, env, fake):
    s, _, clock = locked_session(root, env, fake, 0, 1)
    with pytest.raises(StackLockedError) as caught:
        s.up()
    assert caught.value.exit_code == ExitCode.LOCKED
    assert clock.sleeps == []


def test_lock_timeout_waits_with_backoff_and_retries(root, env, fake):
    s, events, clock = locked_session(root, env, fake, 10, 2)
    s.up()
    assert clock.sleeps == [1.0, 2.0]
    assert fake.stack.ops().count("up") == 3
    waits = [e.message for e in events if e.severity == "warning"]
    assert waits[0] == (
        "stack staging is locked by alice@build-7 (pid 4242) since 2026-03-01T09:30:00Z; "
        "retrying in 1s"
    )


def test_lock_timeout_gives_up_at_the_deadline(root, env, fake):
    s, _, clock = locked_session(root, env, fake, 2.5, 5)
    with pytest.raises(StackLockedError):
        s.up()
    assert clock.sleeps == [1.0, 1.5]
    assert clock.now == 2.5


def test_a_lock_on_up_runs_the_whole_review_again(root, env, fake):
    """The preview takes no lock on a self-managed backend, the update does: a lock means
    another update is changing the state the review saw. After the wait, preview, guards
    and confirmation run again; the update is never retried alone."""
    s, events, clock = locked_session(root, env, fake, 10, 1)
    fake.stack.events["preview"] = [step_event("resourcePreEvent", "create", BUCKET, "new")]
    seen: list[engine.Review] = []
    report = engine.deploy(s, approve=lambda review: seen.append(review) or True)
    assert fake.stack.ops() == [
        "outputs",
        "set_all_config",
        "preview",
        "up",  # locked
        "outputs",
        "preview",
        "up",
    ]
    assert len(seen) == 2 and report.review is seen[1]  # confirmed again, on the new review
    assert clock.sleeps == [1.0]
    (said,) = [e.message for e in events if e.severity == "warning"]
    assert said == (
        "stack staging is locked by alice@build-7 (pid 4242) since 2026-03-01T09:30:00Z; "
        "retrying in 1s; the review (preview, guards, confirmation) runs again"
    )


def test_what_the_other_update_changed_is_guarded_after_a_lock(root, env, fake):
    """Meanwhile the other update changed the state: the new preview deletes the cache, so
    the guard refuses, and the update the first review approved never runs."""
    s, _, _ = locked_session(root, env, fake, 10, 1)
    fake.stack.events["preview"] = [step_event("resourcePreEvent", "create", BUCKET, "new")]

    def other_update_ran() -> None:
        fake.stack.events["preview"] = [step_event("resourcePreEvent", "delete", REDIS, "cache")]

    fake.stack.hooks["up"] = other_update_ran
    with pytest.raises(GuardrailError, match="delete aws:elasticache:ReplicationGroup cache"):
        engine.deploy(s, approve=approve_all)
    assert fake.stack.ops().count("up") == 1 and fake.stack.ops().count("preview") == 2


def test_a_lock_on_up_past_the_deadline_is_exit_5(root, env, fake):
    s, _, clock = locked_session(root, env, fake, 2.5, 5)
    with pytest.raises(StackLockedError) as caught:
        engine.deploy(s, approve=approve_all)
    assert "alice@build-7" in caught.value.message
    assert clock.sleeps == [1.0, 1.5] and fake.stack.ops().count("preview") == 3


def test_lock_files_of_a_file_backend_name_their_holders(root, env, fake):
    t = target(root, env)
    lock = t.state_dir / ".pulumi" / "locks" / "organization" / "floyo" / "staging" / "a.json"
    lock.parent.mkdir(parents=True)
    lock.write_text(
        '{"pid": 999999, "username": "bob", "hostname": "ci-3", '
        '"timestamp": "2026-03-02T10:00:00Z"}'
    )
    s = engine.open_session(t, command=FakeCommand())  # type: ignore[arg-type]
    (holder,) = s.cancel()
    assert holder.describe() == "bob@ci-3 (pid 999999) since 2026-03-02T10:00:00Z"
    assert not holder.alive_here()
    assert fake.stack.ops() == ["cancel"]


def test_a_live_local_holder_is_not_stale():
    import socket

    me = engine.LockHolder("me", socket.gethostname(), os.getpid(), "now")
    assert me.alive_here()
    elsewhere = engine.LockHolder("me", "another-host", os.getpid(), "now")
    assert not elsewhere.alive_here()


# -- interruption --------------------------------------------------------------------------


def test_an_interrupted_update_says_how_to_recover(root, env, fake):
    fake.stack.hooks["up"] = lambda: os.kill(os.getpid(), signal.SIGINT)
    fake.stack.errors["up"] = [command_error("error: update canceled")]
    fake.stack.pending = [
        {"resource": {"urn": urn(BUCKET, "uploads")}, "type": "creating"},
    ]
    s, _ = session(root, env)
    with pytest.raises(Interrupted) as caught:
        s.up()
    assert caught.value.exit_code == ExitCode.INTERRUPTED
    assert "up of stack staging was interrupted (SIGINT)" in caught.value.message
    assert "aws:s3/bucket:Bucket uploads (creating)" in caught.value.message
    assert "floyo-scale refresh --stack staging --clear-pending-creates" in caught.value.hint
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_clean_interruption_says_to_run_again(root, env, fake):
    fake.stack.hooks["up"] = lambda: os.kill(os.getpid(), signal.SIGTERM)
    fake.stack.errors["up"] = [command_error("error: update canceled")]
    s, _ = session(root, env)
    with pytest.raises(Interrupted, match="SIGTERM") as caught:
        s.up()
    assert "stopped cleanly" in caught.value.hint


def test_a_signal_after_the_operation_finished_still_stops(root, env, fake):
    fake.stack.hooks["preview"] = lambda: os.kill(os.getpid(), signal.SIGINT)
    s, _ = session(root, env)
    with pytest.raises(Interrupted, match="had already finished"):
        engine.deploy(s, approve=approve_all)
    assert "up" not in fake.stack.ops()


# -- drift and outputs ---------------------------------------------------------------------


def test_drift_lists_what_changed_and_what_is_gone(root, env, fake):
    fake.stack.events["preview_refresh"] = [
        step_event("resourcePreEvent", "refresh", BUCKET, "uploads"),
        step_event("resOutputsEvent", "refresh", BUCKET, "uploads", diffs=["tags", "versioning"]),
        step_event("resOutputsEvent", "delete", REDIS, "cache"),
        step_event("resOutputsEvent", "refresh", "aws:sns/topic:Topic", "alerts"),
    ]
    fake.stack.changes = {"update": 1, "delete": 1, "same": 1}
    s = engine.open_session(
        engine.prepare(load_stack(Workspace(root), "staging"), root, env, run_program=False),
        command=FakeCommand(),  # type: ignore[arg-type]
    )
    report = s.drift()
    assert [(d.name, d.op, d.keys) for d in report.drifted] == [
        ("cache", "delete", ()),
        ("uploads", "update", ("tags", "versioning")),
    ]
    assert fake.stack.kwargs("preview_refresh")["show_secrets"] is False


def test_outputs_keep_the_secret_flag(root, env, fake):
    fake.stack.output_values = {"database_url": auto.OutputValue("postgres://x", True)}
    s, _ = session(root, env)
    assert s.outputs() == {"database_url": engine.Output("postgres://x", True)}


# -- setup ---------------------------------------------------------------------------------


@pytest.fixture
def no_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No `pulumi` on PATH; the data directory in a temporary folder."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def test_every_command_says_to_run_setup_when_the_cli_is_missing(no_cli):
    with pytest.raises(EngineError) as caught:
        engine.find_cli()
    assert caught.value.exit_code == ExitCode.ENGINE
    assert "floyo-scale setup" in caught.value.hint


def test_setup_without_network_fails_clearly(no_cli, monkeypatch):
    monkeypatch.setattr(install, "RELEASES_URL", "http://127.0.0.1:9/releases/sdk")  # refused
    steps: list[ProgressEvent] = []
    with pytest.raises(EngineError) as caught:
        engine.setup(report=steps.append)
    message = caught.value.message
    assert message.startswith(f"could not download the Pulumi CLI {engine.CLI_VERSION}")
    assert "connection refused" in message
    assert "network" in caught.value.hint and "PATH" in caught.value.hint
    assert steps == [  # the install began; it never finished
        Step("setup", f"install the Pulumi CLI {engine.CLI_VERSION}", f"into {engine.cli_root()}")
    ]
    assert engine.cli_root() == no_cli / "floyo-scale" / "pulumi" / engine.CLI_VERSION


def _tarball(files: dict[str, bytes]) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def releases():
    """A loopback stand-in for get.pulumi.com and the GitHub release: a CLI archive and the
    release's checksums file, in the layout and format Pulumi publishes them."""
    import hashlib
    import http.server
    import threading

    version = "3.999.0"
    name = f"pulumi-v{version}-linux-x64.tar.gz"
    archive = _tarball(
        {"pulumi/pulumi": b"#!/bin/sh\necho pulumi\n", "pulumi/pulumi-language-python": b"x"}
    )
    files = {
        f"/releases/sdk/{name}": archive,
        f"/download/v{version}/pulumi-{version}-checksums.txt": (
            f"{'0' * 64}  pulumi-v{version}-darwin-arm64.tar.gz\n"
            f"{hashlib.sha256(archive).hexdigest()}  {name}\n"
        ).encode(),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            data = files.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield url, version, name, files
    server.shutdown()
    server.server_close()


def test_setup_installs_the_cli_whose_checksum_matches(releases, tmp_path):
    url, version, name, _ = releases
    binary = install.install_cli(
        tmp_path / "cli",
        version,
        releases_url=f"{url}/releases/sdk",
        checksums_url=f"{url}/download",
        name=name,
    )
    assert binary == tmp_path / "cli" / "bin" / "pulumi"
    assert binary.read_bytes().startswith(b"#!/bin/sh") and os.access(binary, os.X_OK)
    assert (tmp_path / "cli" / "bin" / "pulumi-language-python").is_file()


def test_setup_refuses_a_tampered_archive_and_installs_nothing(releases, tmp_path):
    url, version, name, files = releases
    files[f"/releases/sdk/{name}"] = _tarball({"pulumi/pulumi": b"#!/bin/sh\nsteal\n"})
    with pytest.raises(EngineError) as caught:
        install.install_cli(
            tmp_path / "cli",
            version,
            releases_url=f"{url}/releases/sdk",
            checksums_url=f"{url}/download",
            name=name,
        )
    assert "does not match its published checksum" in caught.value.message
    assert "nothing was installed" in caught.value.message
    assert not (tmp_path / "cli").exists()


def test_setup_refuses_an_archive_the_checksums_do_not_list(releases, tmp_path):
    url, version, _, files = releases
    other = f"pulumi-v{version}-linux-arm64.tar.gz"
    files[f"/releases/sdk/{other}"] = _tarball({"pulumi/pulumi": b"x"})
    with pytest.raises(EngineError, match=f"list no {other}"):
        install.install_cli(
            tmp_path / "cli",
            version,
            releases_url=f"{url}/releases/sdk",
            checksums_url=f"{url}/download",
            name=other,
        )


def test_the_release_archive_is_named_as_pulumi_publishes_it():
    assert install.archive_name("3.1.0", "Linux", "x86_64") == "pulumi-v3.1.0-linux-x64.tar.gz"
    assert install.archive_name("3.1.0", "Darwin", "arm64") == "pulumi-v3.1.0-darwin-arm64.tar.gz"
    assert install.archive_name("3.1.0", "Windows", "AMD64") == "pulumi-v3.1.0-windows-x64.zip"


def test_the_cli_is_pinned_to_the_sdk_version():
    assert metadata.version("pulumi") == engine.CLI_VERSION


def test_plugins_are_the_versions_the_installed_sdks_were_built_for():
    assert engine.provider_packages() == (
        "pulumi_aws",
        "pulumi_random",
        "pulumiverse_sentry",  # imported inside Monitoring, for stacks that configure Sentry
        "pulumiverse_vercel",  # loaded leaf by leaf (infra/_sdk.py)
        "upstash_pulumi",
    )
    plugins = {p.name: p for p in engine.required_plugins()}
    assert set(plugins) == {"aws", "vercel", "random", "upstash", "sentry"}
    assert plugins["sentry"].version == metadata.version("pulumiverse_sentry") == "0.0.9"
    assert plugins["sentry"].server == "github://api.github.com/pulumiverse"
    assert plugins["aws"].version == metadata.version("pulumi_aws")
    assert plugins["random"].version == metadata.version("pulumi_random")
    assert plugins["vercel"].version == metadata.version("pulumiverse_vercel")
    assert plugins["vercel"].server == "github://api.github.com/pulumiverse"
    assert plugins["aws"].server is None
    # upstash_pulumi's pulumi-plugin.json names no version; its SDK asks for its own
    assert plugins["upstash"].version == metadata.version("upstash_pulumi")
    assert plugins["upstash"].server == "github://api.github.com/upstash/pulumi-upstash"


# -- through the real Automation API, down to the command line -----------------------------

RECORDING_PULUMI = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    env = {{k: os.environ.get(k) for k in (
        "PULUMI_BACKEND_URL", "PULUMI_AUTOMATION_API", "PULUMI_SKIP_UPDATE_CHECK",
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER")}}
    env["passphrase set"] = "PULUMI_CONFIG_PASSPHRASE" in os.environ
    log.write(json.dumps({{"args": args, "cwd": os.getcwd(), "env": env}}) + "\\n")
rest = [a for a in args if a != "--non-interactive"]
if args == ["version"]:
    print("v3.272.0")
elif rest[:2] == ["stack", "output"]:
    secret = "postgresql://u:p@h/db" if "--show-secrets" in rest else "[secret]"
    print(json.dumps({{"phase": "growth", "database_url": secret}}))
elif rest[:2] == ["stack", "history"]:
    print(json.dumps([{{"kind": "update", "startTime": "2026-03-01T00:00:00.000Z",
        "message": "", "environment": {{}}, "config": {{}}, "result": "succeeded",
        "resourceChanges": {{"create": 2}}}}]))
elif rest[:2] == ["stack", "export"]:
    state = os.environ.get("FAKE_STATE_PROVIDER")
    deployment = {{"secrets_providers": json.loads(state)}} if state else {{}}
    print(json.dumps({{"version": 3, "deployment": deployment}}))
elif rest[:2] in (["stack", "select"], ["config", "set-all"], ["stack", "change-secrets-provider"]):
    pass
elif rest[:1] in (["up"], ["cancel"]):
    pass
else:
    print("error: unexpected " + " ".join(rest), file=sys.stderr)
    sys.exit(2)
"""


def recording_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install RECORDING_PULUMI where `setup` would put the CLI; returns its log."""
    import sys

    data = tmp_path / "data"
    binary = data / "floyo-scale" / "pulumi" / engine.CLI_VERSION / "bin" / "pulumi"
    binary.parent.mkdir(parents=True)
    binary.write_text(RECORDING_PULUMI.format(python=sys.executable))
    binary.chmod(0o755)
    log = tmp_path / "pulumi.log"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    return log


def test_what_reaches_the_pulumi_command_line(root, env, tmp_path, monkeypatch):
    """No fake Stack: the real Automation API and PulumiCLI run a `pulumi` that records its
    arguments, working directory and environment."""
    import json

    log = recording_pulumi(tmp_path, monkeypatch)

    t = target(root, env)
    s = engine.open_session(t)  # finds the CLI `setup` would have installed
    report = s.up(targets=["urn:x"], parallel=2)
    assert report.counts == {"create": 2}
    assert report.outputs["database_url"] == engine.Output("postgresql://u:p@h/db", True)
    s.cancel()

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    commands = [[a for a in c["args"] if a != "--non-interactive"] for c in calls]
    assert commands[0] == ["version"]
    assert commands[1] == ["stack", "select", "--stack", "staging"]
    assert commands[2] == [
        "config",
        "set-all",
        "--stack",
        "staging",
        "--plaintext",
        "floyo:phase=growth",
    ]
    up = commands[3]
    assert up[:3] == ["up", "--yes", "--skip-preview"]
    for flag in (
        ["--target", "urn:x"],
        ["--parallel", "2"],
        ["--color", "never"],
        ["--exec-kind", "auto.inline"],
        ["--stack", "staging"],
    ):
        assert any(up[i : i + 2] == flag for i in range(len(up))), flag
    assert "floyo-scale up --phase growth --stack staging" in up
    assert any(a.startswith("--client=127.0.0.1:") for a in up)  # the inline program
    assert "--event-log" in up  # progress events
    assert commands[-1][:1] == ["cancel"]
    for call in calls[1:]:
        assert call["args"][0] == "--non-interactive"
        assert call["cwd"] == str(root / ".floyo" / "work" / "floyo")
        assert call["env"]["PULUMI_BACKEND_URL"] == t.backend
        assert call["env"]["PULUMI_AUTOMATION_API"] == "true"
        assert call["env"]["passphrase set"] is True
        assert call["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
    for secret in SECRET_ENV.values():
        assert secret not in log.read_text()  # never on a command line


def test_a_fresh_work_folder_with_a_kms_stack_file_through_the_real_automation_api(
    root, env, tmp_path, monkeypatch
):
    """The real Automation API and PulumiCLI, a fresh work folder, a stack file naming KMS:
    the state says which provider it was encrypted with (`stack export`, no
    --show-secrets); the same one: nothing more; another: `stack change-secrets-provider`,
    in the work folder, before the config and the update."""
    import json

    log = recording_pulumi(tmp_path, monkeypatch)
    kms_stack(root)
    assert not (root / ".floyo" / "work").exists()
    same = {"type": "cloud", "state": {"url": KMS, "encryptedkey": "a2V5"}}
    monkeypatch.setenv("FAKE_STATE_PROVIDER", json.dumps(same))
    engine.open_session(target(root, env)).up()
    commands = [
        [a for a in json.loads(line)["args"] if a != "--non-interactive"]
        for line in log.read_text().splitlines()
    ]
    assert [c[:2] for c in commands[1:4]] == [
        ["stack", "select"],
        ["stack", "export"],
        ["config", "set-all"],
    ]
    assert "--show-secrets" not in commands[2]

    log.write_text("")
    monkeypatch.setenv("FAKE_STATE_PROVIDER", json.dumps({"type": "passphrase", "state": {}}))
    engine.open_session(target(root, env)).up()
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    commands = [[a for a in c["args"] if a != "--non-interactive"] for c in calls]
    assert commands[3] == ["stack", "change-secrets-provider", KMS, "--stack", "staging"]
    assert calls[3]["cwd"] == str(root / ".floyo" / "work" / "floyo")
    assert commands[4][:2] == ["config", "set-all"] and commands[5][0] == "up"
    assert all(c["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true" for c in calls[1:])
