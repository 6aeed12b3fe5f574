"""What a stack needs before the engine can run against it, checked all at once (`doctor`, and
the engine commands before they start anything): the passphrase, the secret variables the
stack file refers to, AWS credentials for the stack's account, the Pulumi CLI and its plugins,
and the state backend.

Each check is independent: a missing passphrase does not hide a missing token, so a user
fixes everything in one round trip. A library module: it never prints; it returns a report
(`check`) or raises one FloyoError listing every problem (`require`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from ..cost import plan_stack
from ..errors import ExitCode, FloyoError, UsageError
from ..spec import Workspace
from ..transport import HttpClient, NoAnswer, RetryPolicy, mask
from ..transport.hosts import ANY_HTTPS_HOST
from . import aws_preflight, install, release
from .target import Target, default_backend, secret_refs, secrets_provider, stack_secrets

if TYPE_CHECKING:
    from ..spec import ResolvedStack

Status = Literal["ok", "missing", "warning", "skipped"]
HTTP_TIMEOUT = 5  # seconds: a backend that does not answer in that time counts as unreachable


@dataclass(frozen=True)
class Check:
    """One prerequisite: what was found (`detail`), or what is wrong (`error`: message,
    hint and the exit code the engine commands would have)."""

    name: str  # passphrase, secrets, aws, pulumi cli, plugins, state backend
    status: Status
    detail: str = ""
    error: FloyoError | None = field(default=None, compare=False)

    @property
    def hint(self) -> str | None:
        return self.error.hint if self.error else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.error.message if self.error else self.detail,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class Report:
    stack: str
    backend: str
    checks: tuple[Check, ...]

    @property
    def missing(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "missing")

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "backend": self.backend,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
        }


class PrerequisitesMissing(UsageError):
    """Several prerequisites are missing; every one is listed with its hint. Exit 2 (the
    environment lacks an input), or the code they share when all have the same."""

    def __init__(self, stack: str, problems: tuple[Check, ...]) -> None:
        lines = [f"{len(problems)} prerequisites are missing for stack {stack}:"]
        for check in problems:
            assert check.error is not None
            lines.append(f"  - {check.name}: {check.error.message}")
            if check.error.hint:
                lines.append(f"    hint: {check.error.hint}")
        super().__init__(
            "\n".join(lines),
            f"fix each of them, then run the command again; `floyo-scale doctor --stack "
            f"{stack}` checks them all without running anything",
        )
        codes = {c.error.exit_code for c in problems if c.error is not None}
        self.exit_code = codes.pop() if len(codes) == 1 else ExitCode.USAGE
        self.problems = problems


def check(
    stack: ResolvedStack,
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    decrypt: bool = True,
    run_program: bool = True,
    aws: bool = True,
    cli: bool = True,
    plugins: bool = True,
    backend_check: bool = True,
    network: bool = True,
    session_factory: aws_preflight.SessionFactory | None = None,
) -> tuple[Report, Any]:
    """Every check the flags ask for, each on its own; returns the report and the Pulumi
    command found (None when not checked or missing), for the engine to reuse. `network`:
    also ask a Pulumi Cloud backend whether it answers (`doctor` does; the engine commands
    leave that to Pulumi)."""
    env = os.environ if env is None else env
    backend = env.get("PULUMI_BACKEND_URL") or default_backend(root)
    checks: list[Check] = []
    command: Any = None

    def run(name: str, call: Callable[[], str], *, skip: str | None = None) -> None:
        if skip is not None:
            checks.append(Check(name, "skipped", skip))
            return
        try:
            checks.append(Check(name, "ok", call()))
        except FloyoError as exc:
            checks.append(Check(name, "missing", error=exc))

    def passphrase() -> str:
        provider = secrets_provider(stack, backend, env, required=True)
        if provider is None:
            return "the backend's own secrets manager"
        if provider != "passphrase":
            return provider
        given = (
            "PULUMI_CONFIG_PASSPHRASE"
            if env.get("PULUMI_CONFIG_PASSPHRASE") is not None
            else ("PULUMI_CONFIG_PASSPHRASE_FILE")
        )
        return f"{given} is set"

    def secrets() -> str:
        names = secret_refs(stack)
        stack_secrets(stack, env, required=True)
        return (
            ", ".join(names) + (" are set" if len(names) > 1 else " is set")
            if names
            else ("the stack file refers to no secret")
        )

    def identity() -> str:
        found = aws_preflight.check_aws(stack, None, session_factory=session_factory)
        profile = f", profile {found.profile}" if found.profile else ""
        return f"account {found.account_id} ({found.principal_type}) in {found.region}{profile}"

    def pulumi_cli() -> str:
        nonlocal command
        command = install.find_cli(env)
        return f"{command.command} (Pulumi {command.version})"

    def state_backend() -> str:
        return check_backend(stack, backend, env, session_factory=session_factory, network=network)

    no_aws = (
        "not needed by this command"
        if not aws
        else f"{aws_preflight.SKIP_VAR} is set"
        if aws_preflight.skipped(env)
        else None
    )
    run("passphrase", passphrase, skip=None if decrypt else "not needed by this command")
    run("secrets", secrets, skip=None if run_program else "not needed by this command")
    run("aws", identity, skip=no_aws)
    run("pulumi cli", pulumi_cli, skip=None if cli else "not needed by this command")
    if plugins:
        checks.append(check_plugins(command, env))
    if backend_check:
        skip = None
        if backend.startswith("s3://"):
            aws_check = next(c for c in checks if c.name == "aws")
            if no_aws is not None:
                skip = no_aws
            elif isinstance(aws_check.error, aws_preflight.AwsCredentialsError):
                skip = "needs the AWS credentials above"
        run("state backend", state_backend, skip=skip)
    return Report(stack.name, mask(backend), tuple(checks)), command


def require(
    stack: ResolvedStack,
    root: Path,
    env: Mapping[str, str] | None = None,
    **flags: Any,
) -> Any:
    """`check`, raising when anything is missing: the one error itself when there is one
    (its own message and exit code), else PrerequisitesMissing listing them all. Returns
    the Pulumi command found (None when not checked)."""
    report, command = check(stack, root, env, plugins=False, network=False, **flags)
    missing = report.missing
    if len(missing) == 1 and missing[0].error is not None:
        raise missing[0].error
    if missing:
        raise PrerequisitesMissing(stack.name, missing)
    return command


def prepare(
    stack: ResolvedStack,
    root: Path,
    env: Mapping[str, str] | None = None,
    *,
    run_program: bool = True,
    decrypt: bool = True,
    aws: bool = False,
    cli: bool = False,
    aws_budget_usd: float | None = None,
) -> Target:
    """Everything the engine needs for `stack`, checked before any process starts, every
    check on its own so that all missing prerequisites are reported at once
    (engine.prerequisites: one error, or PrerequisitesMissing listing them all).

    `run_program`: the command runs the program (preview, up), so every secret it refers to
    must be set. `decrypt`: the command reads or writes secrets (all but `cancel`). `aws`:
    the command touches AWS (preview, up, destroy, refresh, drift; not outputs, cancel):
    credentials for the stack's account (exit 6 for another account). `cli`: the Pulumi CLI
    is looked up now (the CLI's commands do; the session reuses it). `aws_budget_usd`: the
    AWS Budget the program builds, when the caller has the offline plan already (`up`);
    otherwise it is computed (cost.plan_stack) for the commands that run the program.
    """
    env = os.environ if env is None else env
    backend = env.get("PULUMI_BACKEND_URL") or default_backend(root)
    command = require(stack, root, env, decrypt=decrypt, run_program=run_program, aws=aws, cli=cli)
    return Target(
        stack=stack,
        root=root,
        backend=backend,
        secrets_provider=secrets_provider(stack, backend, env, required=False),
        secrets=stack_secrets(stack, env, required=False),
        command=command,
        # the program records what it runs (commit, spec digest, version): `promote` checks it
        release=release.current(Workspace(root)).to_output() if run_program else None,
        # the AWS Budget the program builds: the AWS share of the offline estimate
        aws_budget_usd=(
            aws_budget_usd
            if aws_budget_usd is not None or not run_program
            else plan_stack(stack)[1].aws_budget
        ),
    )


# -- the checks that are not elsewhere -----------------------------------------------------


def plugin_dirs(env: Mapping[str, str]) -> list[Path]:
    """Where Pulumi keeps installed plugins: $PULUMI_HOME/plugins (default ~/.pulumi)."""
    home = env.get("PULUMI_HOME") or str(Path.home() / ".pulumi")
    return [Path(home) / "plugins"]


def check_plugins(command: Any, env: Mapping[str, str]) -> Check:
    """The provider plugins the installed SDKs were generated for: in Pulumi's plugin folder
    (resource-NAME-vVERSION), or as pulumi-resource-NAME next to the CLI or on PATH. A
    missing one is a warning: Pulumi downloads it on first use, `setup` does it now."""
    try:
        wanted = install.required_plugins()
    except FloyoError as exc:
        return Check("plugins", "missing", error=exc)
    folders = plugin_dirs(env)
    beside = Path(command.command).parent if command is not None else None
    absent = []
    for plugin in wanted:
        installed = any(
            (folder / f"resource-{plugin.name}-v{plugin.version}").is_dir() for folder in folders
        )
        binary = f"pulumi-resource-{plugin.name}"
        on_path = (beside is not None and (beside / binary).is_file()) or shutil.which(
            binary, path=env.get("PATH")
        )
        if not (installed or on_path):
            absent.append(f"{plugin.name} {plugin.version}")
    found = ", ".join(f"{p.name} {p.version}" for p in wanted)
    if not absent:
        return Check("plugins", "ok", found)
    return Check(
        "plugins",
        "warning",
        error=UsageError(
            f"not installed: {', '.join(absent)} (Pulumi downloads a missing plugin on first "
            "use, which needs the network then)",
            "run `floyo-scale setup` to install them now",
        ),
    )


def check_backend(
    stack: ResolvedStack,
    backend: str,
    env: Mapping[str, str],
    *,
    session_factory: aws_preflight.SessionFactory | None = None,
    network: bool = True,
) -> str:
    """The state backend can be reached: a file:// folder that exists or can be created,
    an s3:// bucket these credentials reach, a Pulumi Cloud (https://) with a token for it
    that answers (asked only with `network`)."""
    # never the password of a backend URL with userinfo (https://user:PASSWORD@...)
    shown = f"PULUMI_BACKEND_URL={mask(backend)}" if env.get("PULUMI_BACKEND_URL") else backend
    if backend.startswith("file://"):
        folder = Path(backend[len("file://") :])
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
            raise UsageError(
                f"the state folder {folder} cannot be created or written ({shown})",
                "make it writable, or point PULUMI_BACKEND_URL at another backend",
            )
        return f"{backend} ({'exists' if folder.is_dir() else 'created on first use'})"
    if backend.startswith("s3://"):
        bucket = aws_preflight.check_state_bucket(backend, stack, session_factory=session_factory)
        return f"s3://{bucket} (reachable)"
    if backend.startswith(("https://", "http://")):
        token = env.get("PULUMI_ACCESS_TOKEN") or _stored_token(backend, env)
        if not token:
            raise UsageError(
                f"no access token for the Pulumi Cloud backend {mask(backend)}",
                "set PULUMI_ACCESS_TOKEN (a token from app.pulumi.com, Settings > Access "
                "tokens), or run `pulumi login` once",
            )
        if not network:
            return f"{mask(backend)} (token set)"
        _reach(backend)
        return f"{mask(backend)} (answers; token set)"
    raise UsageError(
        f"the state backend {mask(backend)} is not one floyo-scale knows (file://, s3://, "
        "https://)",
        "set PULUMI_BACKEND_URL to file://DIR, s3://BUCKET or https://api.pulumi.com",
    )


def _stored_token(backend: str, env: Mapping[str, str]) -> str | None:
    """The token `pulumi login` stored for `backend` ($PULUMI_HOME/credentials.json)."""
    home = env.get("PULUMI_HOME") or str(Path.home() / ".pulumi")
    try:
        data = json.loads((Path(home) / "credentials.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tokens = data.get("accessTokens") if isinstance(data, dict) else None
    if not isinstance(tokens, dict):
        return None
    token = tokens.get(backend) or tokens.get(backend.rstrip("/"))
    return token if isinstance(token, str) and token else None


def _reach(backend: str) -> None:
    """Any HTTP answer means the backend is reachable; none (DNS, refused, timeout) is not.
    Through the one transport, with no credential (the URL's userinfo is dropped)."""
    parts = urlsplit(backend)
    bare = urlunsplit((parts.scheme, parts.hostname or "", "", "", ""))
    if parts.port:
        bare += f":{parts.port}"
    try:
        HttpClient(
            ANY_HTTPS_HOST, bare, timeout=HTTP_TIMEOUT, policy=RetryPolicy(max_retries=0)
        ).request("GET", "/")
    except FloyoError as exc:
        reason = exc.reason if isinstance(exc, NoAnswer) else exc.message
        raise UsageError(
            f"the state backend {mask(backend)} does not answer: {reason}",
            "check the network (or HTTPS_PROXY) and PULUMI_BACKEND_URL",
        ) from None
