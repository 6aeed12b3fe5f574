"""The AWS preflight: before an engine command that touches AWS (preview, up, destroy,
refresh, drift), check with boto3, in a second or two, what would otherwise fail as a
Pulumi provider error minutes in (see docs/engine.md, "AWS preflight"):

1. the AWS credentials exist and work: STS GetCallerIdentity in the phase's primary region,
   with the stack's `aws.profile` when it sets one (as the program's AWS providers do);
2. they are the stack's account (`aws.account_id`): the wrong account is refused (exit 6),
   naming both accounts and the principal's type, never the ARN (its role and session
   names stay out of logs);
3. with an `s3://bucket[/prefix]` PULUMI_BACKEND_URL: the state bucket exists and these
   credentials reach it (HeadBucket).

A library module: it never prints, it raises FloyoError subclasses. boto3 is imported inside
the functions, so `--help`, `validate` and `plan` never import it. Endpoints are boto3's own:
`AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_S3`) redirects the calls,
which is how the tests reach moto's server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..errors import EngineError, GuardrailError, UsageError, provider_errors
from ..transport import mask

if TYPE_CHECKING:
    from ..spec import ResolvedStack

SKIP_VAR = "FLOYO_SKIP_AWS_PREFLIGHT"
CONNECT_TIMEOUT = 5  # seconds; the preflight must fail fast, not hang on a dead network
READ_TIMEOUT = 10
# STS answers these when the credentials were found but are not (or no longer) valid
REJECTED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidToken",
        "AuthFailure",
        "AccessDenied",
    }
)

SessionFactory = Callable[[str | None], Any]  # profile name (None: default chain) -> Session


class AwsCredentialsError(UsageError):
    """No AWS credentials, or ones AWS rejects: exit 2, like a missing secret environment
    variable (the environment lacks an input; nothing failed in the engine)."""


class StateBackendError(UsageError):
    """The s3:// state bucket PULUMI_BACKEND_URL names is missing or out of reach: exit 2,
    like a stack missing from the backend."""


@dataclass(frozen=True)
class AwsIdentity:
    """Who the credentials are, as far as floyo-scale ever says: no ARN, no session name."""

    account_id: str
    principal_type: str  # user, assumed-role, federated-user, root
    region: str  # where STS was asked: the phase's primary region
    profile: str | None  # the profile used (the stack's aws.profile, else AWS_PROFILE)
    state_bucket: str | None = None  # the s3:// backend's bucket, when it was checked


def skipped(env: Mapping[str, str]) -> bool:
    """FLOYO_SKIP_AWS_PREFLIGHT=1 (or true/yes): the preflight is not run."""
    return env.get(SKIP_VAR, "").strip().lower() in ("1", "true", "yes")


def check_aws(
    stack: ResolvedStack,
    backend_url: str | None,
    *,
    session_factory: SessionFactory | None = None,
    endpoint_url: str | None = None,
) -> AwsIdentity:
    """Credentials work, are for the stack's account, and reach the s3:// state bucket.

    `session_factory(profile)` makes the boto3 Session (default `boto3.Session`);
    `endpoint_url` overrides every endpoint (default: boto3's own, including
    AWS_ENDPOINT_URL).
    """
    factory = session_factory or _default_session
    profile = stack.stack.aws.profile
    region = stack.phase.regions.primary
    where = f"stacks/{stack.name}.yaml"
    session = _session(factory, profile, stack)
    shown_profile = profile or _profile_of(session)
    try:
        sts = session.client(
            "sts", region_name=region, endpoint_url=endpoint_url, config=_client_config()
        )
        answer = sts.get_caller_identity()
    except provider_errors() as exc:  # botocore's, or the network's (a bug propagates)
        raise _credentials_failure(exc, stack, shown_profile, f"AWS STS in {region}") from exc
    account = str(answer.get("Account", ""))
    principal = principal_type(str(answer.get("Arn", "")))
    expected = stack.stack.aws.account_id
    if account != expected:
        used = f"profile {shown_profile}" if shown_profile else "the default credential chain"
        raise GuardrailError(
            f"wrong AWS account: the credentials ({used}) are for account {account} "
            f"({principal}), but {where} is for account {expected}; nothing was run",
            f"use credentials for account {expected}: set `aws.profile` in {where} to a "
            f"profile of that account (or AWS_PROFILE), then `aws sso login --profile NAME` "
            f"if it is an SSO profile; if {expected} is not the stack's account, fix "
            f"`aws.account_id` in {where}",
        )
    identity = AwsIdentity(account, principal, region, shown_profile)
    bucket = check_state_bucket(
        backend_url, stack, session_factory=factory, endpoint_url=endpoint_url, default=session
    )
    return replace(identity, state_bucket=bucket)


def check_state_bucket(
    backend_url: str | None,
    stack: ResolvedStack,
    *,
    session_factory: SessionFactory | None = None,
    endpoint_url: str | None = None,
    default: Any | None = None,
) -> str | None:
    """HeadBucket on the bucket of an `s3://bucket[/prefix][?region=&profile=&endpoint=]`
    backend; None (nothing checked) for any other backend.

    Pulumi logs in to the backend with the ambient credentials (AWS_PROFILE, the environment
    variables), or the URL's `profile=`, not the stack's `aws.profile`: so do we. `default`:
    a Session with the ambient credentials, reused when it is one.
    """
    if not backend_url or not backend_url.startswith("s3://"):
        return None
    parts = urlsplit(backend_url)
    bucket = parts.netloc
    shown = f"s3://{bucket}{parts.path}".rstrip("/")
    if not bucket:
        raise StateBackendError(
            f"PULUMI_BACKEND_URL={mask(backend_url)} names no bucket",
            "write it as s3://BUCKET or s3://BUCKET/PREFIX",
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items() if v}
    profile = query.get("profile")
    factory = session_factory or _default_session
    if profile is None and default is not None and stack.stack.aws.profile is None:
        session = default  # the stack's session already is the ambient one
    else:
        session = _session(factory, profile, stack)
    region = query.get("region") or session.region_name or stack.phase.regions.primary
    try:
        s3 = session.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url or query.get("endpoint"),
            config=_client_config(),
        )
        s3.head_bucket(Bucket=bucket)
    except provider_errors() as exc:  # botocore's, or the network's (a bug propagates)
        status = _status(exc)
        if status == 404:
            raise StateBackendError(
                f"the state bucket {bucket} does not exist (PULUMI_BACKEND_URL={shown})",
                f"create it (`aws s3 mb s3://{bucket} --region {region}`, with versioning on), "
                "or fix PULUMI_BACKEND_URL; unset it to keep the state on local disk",
            ) from exc
        if status == 403:
            raise StateBackendError(
                f"the state bucket {bucket} exists but these credentials may not read it "
                f"(PULUMI_BACKEND_URL={shown}: access denied)",
                "Pulumi reaches the backend with the ambient credentials (AWS_PROFILE or the "
                "environment variables; or `?profile=NAME` in PULUMI_BACKEND_URL), not the "
                "stack's aws.profile: use credentials allowed s3:ListBucket, s3:GetObject and "
                f"s3:PutObject on {bucket}",
            ) from exc
        raise _credentials_failure(
            exc, stack, profile or _profile_of(session), f"the state bucket {bucket}"
        ) from exc
    return bucket


def principal_type(arn: str) -> str:
    """`arn:aws:sts::123456789012:assumed-role/Role/session` -> `assumed-role`;
    `arn:aws:iam::123456789012:root` -> `root`. Never more of the ARN than that."""
    fields = arn.split(":", 5)
    if len(fields) < 6 or not fields[5]:
        return "unknown principal"
    return fields[5].split("/", 1)[0]


# -- helpers -------------------------------------------------------------------------------


def _default_session(profile: str | None) -> Any:
    import boto3

    return boto3.Session(profile_name=profile)


def _client_config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": 2, "mode": "standard"},
        user_agent_extra="floyo-scale-preflight",
    )


def _session(factory: SessionFactory, profile: str | None, stack: ResolvedStack) -> Any:
    try:
        return factory(profile)
    except provider_errors() as exc:  # botocore's, or the network's (a bug propagates)
        raise _credentials_failure(exc, stack, profile, "AWS") from exc


def _profile_of(session: Any) -> str | None:
    name = getattr(session, "profile_name", None)
    return None if name in (None, "default") else str(name)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None


def _how_to_provide(stack: ResolvedStack, profile: str | None) -> str:
    where = f"stacks/{stack.name}.yaml"
    account = stack.stack.aws.account_id
    if profile:
        return (
            f"refresh the credentials of profile {profile}: `aws sso login --profile "
            f"{profile}` for an SSO profile, else its keys in ~/.aws/credentials; or set "
            f"`aws.profile` in {where} (or AWS_PROFILE) to another profile of account {account}"
        )
    return (
        f"give floyo-scale credentials for account {account}: set `aws.profile: NAME` in "
        f"{where} or AWS_PROFILE=NAME (after `aws sso login --profile NAME` for SSO), or "
        "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
        "temporary credentials)"
    )


def _credentials_failure(
    exc: BaseException, stack: ResolvedStack, profile: str | None, what: str
) -> Exception:
    """The FloyoError for a boto3 failure: missing or rejected credentials are exit 2 with a
    hint; an unreachable endpoint or another AWS error is exit 4."""
    from botocore import exceptions as bx

    hint = _how_to_provide(stack, profile)
    used = f" (profile {profile})" if profile else ""
    if isinstance(exc, bx.ProfileNotFound):
        return AwsCredentialsError(
            f"the AWS profile {profile or exc.kwargs.get('profile', '?')} is not configured "
            "(~/.aws/config and ~/.aws/credentials, or AWS_CONFIG_FILE)",
            f"create it (`aws configure sso --profile NAME`), or fix `aws.profile` in "
            f"stacks/{stack.name}.yaml or AWS_PROFILE",
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AwsCredentialsError(f"no AWS credentials found{used} to reach {what}", hint)
    if isinstance(
        exc,
        bx.TokenRetrievalError
        | bx.SSOTokenLoadError
        | bx.UnauthorizedSSOTokenError
        | bx.SSOError
        | bx.CredentialRetrievalError
        | bx.InvalidConfigError,
    ):
        return AwsCredentialsError(
            f"the AWS credentials{used} could not be loaded or have expired: {exc}", hint
        )
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")).strip()
        if code in REJECTED_CODES:
            return AwsCredentialsError(
                f"AWS rejected the credentials{used}: {code}: {message}".rstrip(": "), hint
            )
        return EngineError(f"{what} answered {code or 'an error'}: {message}".rstrip(": "))
    if isinstance(exc, bx.BotoCoreError):
        return EngineError(
            f"could not reach {what}: {exc}",
            "check the network (or HTTPS_PROXY); AWS_ENDPOINT_URL, if set, must point at a "
            "working endpoint",
        )
    return EngineError(f"the AWS preflight failed on {what}: {exc}")
