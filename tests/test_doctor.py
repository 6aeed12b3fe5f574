"""`doctor` and the prerequisites every engine command checks first (engine.prerequisites):
all that is missing is listed in one run, each with a hint; `up` refuses what is known
offline (budget, data a phase change destroys) before it needs any credential.

AWS through moto's server (as tests/test_aws_preflight.py), the Pulumi CLI and the
Automation API through tests/engine_fakes.py.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from pathlib import Path

import boto3
import pytest
from engine_fakes import SECRET_ENV, FakeAutomation, FakeCommand, make_workspace, set_budget

from floyo_scale.cli import main
from floyo_scale.engine import install, prerequisites
from floyo_scale.spec import Workspace, load_stack

MOTO_ACCOUNT = "123456789012"
ENGINE_VARS = (
    *SECRET_ENV,
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "PULUMI_BACKEND_URL",
    "PULUMI_ACCESS_TOKEN",
    "FLOYO_SKIP_AWS_PREFLIGHT",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_S3",
    "CI",
    "GITHUB_ACTIONS",
)


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_url: str) -> Path:
    """Nothing set: no passphrase, no tokens, no AWS credentials (moto behind
    AWS_ENDPOINT_URL for when a test gives some), no Pulumi CLI, no plugins. The staging
    stack is moto's account; the working directory is the workspace."""
    for name in ENGINE_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_CONFIG_FILE": tmp_path / "aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": tmp_path / "aws-credentials",
    }.items():
        value.write_text("")
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # no `pulumi` on PATH
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # nothing `setup` installed
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    root = make_workspace(tmp_path / "repo")
    staging = root / "stacks" / "staging.yaml"
    staging.write_text(staging.read_text().replace('"222222222222"', f'"{MOTO_ACCOUNT}"'))
    monkeypatch.chdir(root)
    return root


def ready(monkeypatch: pytest.MonkeyPatch, *, cli: bool = True, aws: bool = True) -> None:
    """Everything there: secrets and passphrase, AWS keys (moto), a Pulumi CLI (fake)."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    if aws:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOYOTESTKEY0001")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "floyo-test-secret-key")
    if cli:
        monkeypatch.setattr(install, "find_cli", lambda env=None: FakeCommand())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def statuses(out: str) -> dict[str, str]:
    return {c["name"]: c["status"] for c in json.loads(out)["checks"]}


# -- doctor --------------------------------------------------------------------------------


def test_doctor_lists_every_missing_prerequisite_in_one_run(bare, capsys):
    code, out, err = run(capsys, "doctor", "--stack", "staging")
    assert code == 2
    for line in (
        "MISSING  passphrase     no passphrase for the secrets of stack staging",
        "MISSING  secrets        VERCEL_API_TOKEN, SUPABASE_ACCESS_TOKEN, UPSTASH_API_KEY,",
        "MISSING  aws            no AWS credentials found",
        "MISSING  pulumi cli     the Pulumi CLI is not installed",
        "warning  plugins        not installed: aws",
        "ok       state backend  file://",
    ):
        assert any(row.startswith("  " + line) for row in out.splitlines()), line
    for hint in (
        "PULUMI_CONFIG_PASSPHRASE",
        "export VERCEL_API_TOKEN=...",
        "AWS_PROFILE",
        "floyo-scale setup",
    ):
        assert hint in out
    assert "4 missing" in out
    assert "error: 4 prerequisites missing for stack staging" in err


def test_doctor_passes_when_everything_is_there(bare, capsys, monkeypatch, tmp_path):
    ready(monkeypatch)
    for plugin in install.required_plugins():  # as `setup` leaves them
        (tmp_path / "pulumi-home" / "plugins" / f"resource-{plugin.name}-v{plugin.version}").mkdir(
            parents=True
        )
    code, out, err = run(capsys, "doctor", "--stack", "staging", "--format", "json")
    assert code == 0, err
    assert set(statuses(out).values()) == {"ok"}
    checks = {c["name"]: c["detail"] for c in json.loads(out)["checks"]}
    assert checks["aws"].startswith(f"account {MOTO_ACCOUNT} (user)")
    assert checks["pulumi cli"] == "/opt/pulumi/bin/pulumi (Pulumi 3.272.0)"
    assert "SUPABASE_ACCESS_TOKEN" in checks["secrets"]
    assert all(v not in out for v in SECRET_ENV.values())  # names, never values
    from importlib import metadata

    # every provider the program imports, Sentry's included, at its SDK's version
    for package, name in (
        ("pulumi_aws", "aws"),
        ("pulumi_random", "random"),
        ("pulumiverse_sentry", "sentry"),
        ("pulumiverse_vercel", "vercel"),
        ("upstash_pulumi", "upstash"),
    ):
        assert f"{name} {metadata.version(package)}" in checks["plugins"], name


def test_doctor_lists_the_sentry_plugin_when_it_is_missing(bare, capsys, monkeypatch, tmp_path):
    """pulumiverse-sentry is imported only for stacks that configure Sentry (staging and
    production): its plugin is required all the same, so `setup` installs it and `doctor`
    says when it is not there (the engine would download it during the first `up`)."""
    ready(monkeypatch)
    for plugin in install.required_plugins():
        if plugin.name != "sentry":
            folder = f"resource-{plugin.name}-v{plugin.version}"
            (tmp_path / "pulumi-home" / "plugins" / folder).mkdir(parents=True)
    code, out, _ = run(capsys, "doctor", "--stack", "staging")
    assert code == 0
    (line,) = [row for row in out.splitlines() if "plugins" in row]
    assert "not installed: sentry 0.0.9" in line


def test_a_missing_plugin_is_a_warning_not_a_failure(bare, capsys, monkeypatch):
    ready(monkeypatch)
    code, out, _ = run(capsys, "doctor", "--stack", "staging")
    assert code == 0
    assert "warning  plugins" in out and "run `floyo-scale setup` to install them now" in out


def test_doctor_names_the_wrong_aws_account(bare, capsys, monkeypatch):
    ready(monkeypatch)
    code, out, _ = run(capsys, "doctor", "--stack", "dev", "--format", "json")
    assert code == 2
    aws = next(c for c in json.loads(out)["checks"] if c["name"] == "aws")
    assert aws["status"] == "missing" and "wrong AWS account" in aws["detail"]
    assert "111111111111" in aws["detail"] and MOTO_ACCOUNT in aws["detail"]


def test_an_s3_state_bucket_is_checked(bare, capsys, monkeypatch, moto_url):
    ready(monkeypatch)
    missing = f"floyo-state-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"s3://{missing}")
    code, out, _ = run(capsys, "doctor", "--stack", "staging", "--format", "json")
    backend = next(c for c in json.loads(out)["checks"] if c["name"] == "state backend")
    assert code == 2 and backend["status"] == "missing"
    assert f"the state bucket {missing} does not exist" in backend["detail"]
    assert "aws s3 mb" in backend["hint"]
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url).create_bucket(Bucket=missing)
    code, out, _ = run(capsys, "doctor", "--stack", "staging", "--format", "json")
    assert statuses(out)["state backend"] == "ok"


def test_without_aws_credentials_the_s3_bucket_is_not_reported_twice(bare, capsys, monkeypatch):
    ready(monkeypatch, aws=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://floyo-state")
    code, out, _ = run(capsys, "doctor", "--stack", "staging", "--format", "json")
    assert code == 2
    assert statuses(out)["aws"] == "missing"
    assert statuses(out)["state backend"] == "skipped"


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_pulumi_cloud_backend_needs_a_token_and_an_answer(bare, capsys, monkeypatch):
    ready(monkeypatch)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv("PULUMI_BACKEND_URL", url)
        _, out, _ = run(capsys, "doctor", "--stack", "staging", "--format", "json")
        backend = next(c for c in json.loads(out)["checks"] if c["name"] == "state backend")
        assert backend["status"] == "missing" and "PULUMI_ACCESS_TOKEN" in backend["hint"]
        monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-test")
        _, out, _ = run(capsys, "doctor", "--stack", "staging", "--format", "json")
        assert statuses(out)["state backend"] == "ok"  # it answered (a 404 is an answer)
    finally:
        server.shutdown()
        server.server_close()
    _, out, _ = run(capsys, "doctor", "--stack", "staging", "--format", "json")
    backend = next(c for c in json.loads(out)["checks"] if c["name"] == "state backend")
    assert backend["status"] == "missing" and "does not answer" in backend["detail"]


# -- the engine commands: the same checks, all reported at once ----------------------------


@pytest.mark.parametrize("command", ["preview", "up", "destroy", "refresh", "drift"])
def test_engine_commands_report_every_missing_prerequisite_at_once(
    bare, capsys, monkeypatch, command
):
    fake = FakeAutomation().install(monkeypatch)
    extra = ["--yes"] if command == "destroy" else []
    code, _, err = run(capsys, command, "--stack", "staging", *extra)
    assert code == 2, err  # mixed: missing inputs (2) and the Pulumi CLI (4)
    assert "prerequisites are missing for stack staging:" in err
    assert "  - passphrase: no passphrase" in err
    assert "  - aws: no AWS credentials found" in err
    assert "  - pulumi cli: the Pulumi CLI is not installed" in err
    secrets = "VERCEL_API_TOKEN, SUPABASE_ACCESS_TOKEN, UPSTASH_API_KEY, SENTRY_AUTH_TOKEN"
    assert (f"  - secrets: {secrets} are not set" in err) == (
        command in ("preview", "up")  # only they run the program
    )
    assert "floyo-scale doctor --stack staging" in err
    assert fake.opened == []  # nothing ran


def test_one_missing_prerequisite_keeps_its_own_message_and_code(bare, capsys, monkeypatch):
    ready(monkeypatch, cli=False)
    FakeAutomation().install(monkeypatch)
    code, _, err = run(capsys, "preview", "--stack", "staging")
    assert code == 4 and err.startswith("error: the Pulumi CLI is not installed")


def test_problems_of_one_kind_keep_their_shared_code(bare, capsys, monkeypatch):
    ready(monkeypatch)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.delenv("VERCEL_API_TOKEN")
    FakeAutomation().install(monkeypatch)
    code, _, err = run(capsys, "preview", "--stack", "staging")
    assert code == 2 and "2 prerequisites are missing" in err


def test_library_check_reuses_what_it_found(bare, monkeypatch):
    ready(monkeypatch)
    stack = load_stack(Workspace(bare), "staging")
    report, command = prerequisites.check(stack, bare)
    assert report.ok and isinstance(command, FakeCommand)
    assert [c.name for c in report.checks] == [
        "passphrase",
        "secrets",
        "aws",
        "pulumi cli",
        "plugins",
        "state backend",
    ]


# -- up: what is known offline comes first --------------------------------------------------


def test_up_refuses_over_budget_before_asking_for_credentials(bare, capsys, monkeypatch):
    fake = FakeAutomation().install(monkeypatch)
    set_budget(bare, "production", 1)
    code, _, err = run(capsys, "up", "--stack", "production", "--yes")
    assert code == 6 and "exceeds its budget" in err
    assert "passphrase" not in err and "AWS" not in err and "Pulumi CLI" not in err
    assert fake.opened == []


def test_up_refuses_a_phase_change_that_destroys_data_before_credentials(bare, capsys, monkeypatch):
    fake = FakeAutomation().install(monkeypatch)
    code, _, err = run(capsys, "up", "--stack", "staging", "--phase", "startup")
    assert code == 6 and "this change would destroy data" in err
    assert "upstash:index:RedisDatabase cache" in err  # the Upstash cache startup drops
    assert "passphrase" not in err and fake.opened == []
    # allowed: the offline guards pass, and then the prerequisites are checked
    code, _, err = run(
        capsys,
        "up",
        "--stack",
        "staging",
        "--phase",
        "startup",
        "--allow-destroy",
        "--allow-over-budget",
    )
    assert code == 2 and "prerequisites are missing" in err


def test_up_reuses_the_offline_plan(bare, capsys, monkeypatch):
    """The plan made before the credentials is the one the review shows: one plan (two
    syntheses: the second builds the AWS Budget at the first's AWS share, cost.plan_stack)."""
    from floyo_scale.offline import synth

    ready(monkeypatch)
    fake = FakeAutomation().install(monkeypatch)
    calls: list[str] = []
    real = synth.synthesize
    monkeypatch.setattr(
        synth, "synthesize", lambda stack, **kw: calls.append(stack.name) or real(stack, **kw)
    )
    code, _, err = run(capsys, "up", "--stack", "staging")
    assert code == 0, err
    assert calls == ["staging", "staging"] and "up" in fake.stack.ops()


def test_a_backend_url_with_a_password_is_masked_everywhere(bare, capsys, monkeypatch):
    password = "Hunter2-backend-password"
    ready(monkeypatch)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://ops:{password}@127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv("PULUMI_BACKEND_URL", url)
        for fmt in ("table", "json"):
            _, out, err = run(capsys, "doctor", "--stack", "staging", "--format", fmt)
            assert password not in out + err and "ops:[secret]@127.0.0.1" in out
        monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-test")
        _, out, err = run(capsys, "doctor", "--stack", "staging", "--format", "json")
        assert statuses(out)["state backend"] == "ok"
        assert password not in out + err
        # an engine command that stops at a prerequisite says so without the password either
        monkeypatch.delenv("PULUMI_ACCESS_TOKEN")
        code, out, err = run(capsys, "preview", "--stack", "staging")
        assert code != 0 and password not in out + err and "[secret]" in err
    finally:
        server.shutdown()
        server.server_close()
