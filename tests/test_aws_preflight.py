"""The AWS preflight (floyo_scale/aws_preflight.py) against moto's server on loopback: boto3
goes over HTTP to it through the standard AWS_ENDPOINT_URL, as it would to AWS.

moto answers GetCallerIdentity with its default account, 123456789012: the workspace's
staging stack is edited to that account; the dev stack keeps 111111111111 (the wrong one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, TokenRetrievalError
from engine_fakes import SECRET_ENV, FakeAutomation, FakeCommand, make_workspace

from floyo_scale import engine
from floyo_scale.cli import main
from floyo_scale.engine import aws_preflight
from floyo_scale.engine.aws_preflight import (
    AwsCredentialsError,
    AwsIdentity,
    StateBackendError,
    check_aws,
    check_state_bucket,
    principal_type,
)
from floyo_scale.errors import EngineError, ExitCode, GuardrailError
from floyo_scale.spec import ResolvedStack, Workspace, load_stack

MOTO_ACCOUNT = "123456789012"
DEV_ACCOUNT = "111111111111"  # stacks/dev.yaml, as in the repository
AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "PULUMI_BACKEND_URL",
    "FLOYO_SKIP_AWS_PREFLIGHT",
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
)


@pytest.fixture
def aws(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake keys, every call to moto, nothing from ~/.aws or the machine's metadata service."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOYOTESTKEY0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "floyo-test-secret-key")
    return moto_url


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of phases/ and stacks/ whose staging stack is moto's account."""
    root = make_workspace(tmp_path / "repo")
    path = root / "stacks" / "staging.yaml"
    text = path.read_text()
    assert '"222222222222"' in text
    path.write_text(text.replace('"222222222222"', f'"{MOTO_ACCOUNT}"'))
    return root


@pytest.fixture
def no_credentials(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def moto_checks_keys(moto_url: str) -> Iterator[None]:
    """moto's IAM-like access control on: keys it did not issue are refused, as AWS does."""
    _reset_auth(moto_url, "0")
    try:
        yield
    finally:
        _reset_auth(moto_url, "inf")


def _reset_auth(url: str, count: str) -> None:
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def stack(root: Path, name: str = "staging") -> ResolvedStack:
    return load_stack(Workspace(root), name)


def new_bucket(url: str, region: str) -> str:
    name = f"floyo-state-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", region_name=region, endpoint_url=url)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return name


# -- credentials and account ---------------------------------------------------------------


def test_credentials_of_the_stacks_account_pass(aws, root):
    staging = stack(root)
    identity = check_aws(staging, engine.default_backend(root))
    assert identity == AwsIdentity(
        account_id=MOTO_ACCOUNT,
        principal_type="user",
        region=staging.phase.regions.primary,
        profile=None,
        state_bucket=None,  # a file:// backend: nothing to check
    )


def test_the_wrong_account_is_refused_naming_both(aws, root):
    with pytest.raises(GuardrailError) as caught:
        check_aws(stack(root, "dev"), None)
    error = caught.value
    assert error.exit_code == ExitCode.GUARDRAIL == 6
    assert MOTO_ACCOUNT in error.message and DEV_ACCOUNT in error.message
    assert "(user)" in error.message
    assert "arn:" not in error.message and "moto" not in error.message  # no ARN, no name
    assert "aws.account_id" in error.hint and "aws.profile" in error.hint


def test_no_credentials_is_exit_2_saying_how_to_provide_them(no_credentials, root):
    with pytest.raises(AwsCredentialsError) as caught:
        check_aws(stack(root), None)
    error = caught.value
    assert error.exit_code == ExitCode.USAGE == 2
    assert "no AWS credentials" in error.message
    for way in ("AWS_PROFILE", "aws sso login", "aws.profile", "AWS_ACCESS_KEY_ID"):
        assert way in error.hint


def test_credentials_aws_refuses_are_exit_2(aws, root, moto_checks_keys):
    with pytest.raises(AwsCredentialsError) as caught:
        check_aws(stack(root), None)
    assert caught.value.exit_code == 2
    assert "InvalidClientTokenId" in caught.value.message
    assert "AWS_ACCESS_KEY_ID" in caught.value.hint
    assert "floyo-test-secret-key" not in caught.value.message + caught.value.hint


def test_the_stacks_profile_is_used(aws, root, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")  # only the profile has keys
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "aws-credentials").write_text(
        "[floyo-staging]\naws_access_key_id = AKIAFLOYOPROFILE0001\n"
        "aws_secret_access_key = profile-secret\n"
    )
    path = root / "stacks" / "staging.yaml"
    path.write_text(
        path.read_text().replace(
            f'account_id: "{MOTO_ACCOUNT}"',
            f'account_id: "{MOTO_ACCOUNT}"\n  profile: floyo-staging',
        )
    )
    seen: list[str | None] = []

    def factory(profile: str | None) -> boto3.Session:
        seen.append(profile)
        return boto3.Session(profile_name=profile)

    identity = check_aws(stack(root), None, session_factory=factory)
    assert (identity.account_id, identity.profile) == (MOTO_ACCOUNT, "floyo-staging")
    assert seen == ["floyo-staging"]


def test_a_profile_that_is_not_configured_is_exit_2(aws, root):
    path = root / "stacks" / "staging.yaml"
    path.write_text(
        path.read_text().replace(
            f'account_id: "{MOTO_ACCOUNT}"', f'account_id: "{MOTO_ACCOUNT}"\n  profile: nowhere'
        )
    )
    with pytest.raises(AwsCredentialsError) as caught:
        check_aws(stack(root), None)
    assert "nowhere" in caught.value.message and "not configured" in caught.value.message


def test_expired_sso_and_unreachable_endpoints(aws, root):
    staging = stack(root)
    expired = aws_preflight._credentials_failure(
        TokenRetrievalError(provider="sso", error_msg="Token has expired and refresh failed"),
        staging,
        "floyo-sso",
        "AWS STS",
    )
    assert isinstance(expired, AwsCredentialsError) and "expired" in expired.message
    assert "aws sso login --profile floyo-sso" in (expired.hint or "")
    token = aws_preflight._credentials_failure(
        ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "Get"),
        staging,
        None,
        "AWS STS",
    )
    assert isinstance(token, AwsCredentialsError) and "ExpiredToken" in token.message
    with pytest.raises(EngineError) as caught:  # nothing listens there: exit 4, quickly
        check_aws(staging, None, endpoint_url="http://127.0.0.1:9")
    assert caught.value.exit_code == 4 and "could not reach AWS STS" in caught.value.message


def test_principal_type_never_says_more_than_the_type():
    assert principal_type("arn:aws:sts::123456789012:assumed-role/Admin/alice@x.com") == (
        "assumed-role"
    )
    assert principal_type("arn:aws:iam::123456789012:user/ci/deployer") == "user"
    assert principal_type("arn:aws:iam::123456789012:root") == "root"
    assert principal_type("") == "unknown principal"


# -- the s3:// state backend ---------------------------------------------------------------


def test_an_s3_backend_whose_bucket_is_missing_is_named(aws, root):
    missing = f"floyo-missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(StateBackendError) as caught:
        check_aws(stack(root), f"s3://{missing}/floyo")
    error = caught.value
    assert error.exit_code == 2
    assert f"the state bucket {missing} does not exist" in error.message
    assert f"s3://{missing}/floyo" in error.message
    assert "aws s3 mb" in error.hint and "PULUMI_BACKEND_URL" in error.hint


def test_an_s3_backend_whose_bucket_exists_passes(aws, root):
    staging = stack(root)
    region = staging.phase.regions.primary
    bucket = new_bucket(aws, region)
    identity = check_aws(staging, f"s3://{bucket}/state/floyo?region={region}&awssdk=v2")
    assert identity.state_bucket == bucket
    assert check_aws(staging, f"s3://{bucket}").state_bucket == bucket


def test_an_s3_backend_these_credentials_may_not_read(aws, root, moto_checks_keys):
    with pytest.raises(StateBackendError) as caught:
        check_state_bucket("s3://someone-elses-state", stack(root))
    assert "access denied" in caught.value.message
    assert "?profile=NAME" in caught.value.hint


def test_other_backends_are_not_checked(aws, root):
    for url in (None, "", "file:///tmp/state", "https://api.pulumi.com"):
        assert check_state_bucket(url, stack(root)) is None


# -- through the engine --------------------------------------------------------------------


@pytest.fixture
def cli_workspace(
    aws: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeAutomation]:
    """The CLI in `root`, the Automation API faked at its boundary (tests/engine_fakes.py)."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(root)
    monkeypatch.setattr(engine.install, "find_cli", lambda env=None: FakeCommand())
    yield FakeAutomation().install(monkeypatch)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_up_stops_at_the_preflight_before_anything_reaches_pulumi(cli_workspace, capsys):
    code, out, err = run(capsys, "up", "--stack", "dev", "--yes")
    assert code == 6
    assert out == ""
    assert MOTO_ACCOUNT in err and DEV_ACCOUNT in err and "wrong AWS account" in err
    assert cli_workspace.opened == []  # no stack selected, created or configured
    assert cli_workspace.stack.calls == []


def test_every_aws_command_runs_it_and_outputs_and_cancel_do_not(
    cli_workspace, capsys, monkeypatch
):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    for command in ("preview", "up", "destroy", "refresh", "drift"):
        extra = ["--yes"] if command in ("up", "destroy") else []
        code, _, err = run(capsys, command, "--stack", "staging", *extra)
        assert (command, code) == (command, 2), err
        assert "no AWS credentials" in err
    assert cli_workspace.opened == []
    for command in ("outputs", "cancel"):
        code, _, err = run(capsys, command, "--stack", "staging")
        assert (command, code) == (command, 0), err
    assert cli_workspace.stack.ops() == ["outputs", "cancel"]


def test_the_preflight_can_be_skipped(cli_workspace, capsys, monkeypatch):
    monkeypatch.setenv("FLOYO_SKIP_AWS_PREFLIGHT", "1")
    code, _, err = run(capsys, "preview", "--stack", "dev")  # the wrong account
    assert code == 0, err
    assert cli_workspace.stack.ops() == ["set_all_config", "preview"]


def test_plan_never_imports_boto3(root):
    probe = (
        "import json, sys\n"
        "from floyo_scale.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore'})\n"
        "sys.stderr.write(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "plan", "--stack", "staging", "--format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(done.stderr.splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, done.stderr
