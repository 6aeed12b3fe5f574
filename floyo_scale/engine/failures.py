"""Automation API errors translated into FloyoError subclasses (and so exit codes), redacted."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pulumi.automation as auto

from ..errors import (
    EngineError,
    FloyoError,
    StackLockedError,
    UsageError,
)
from ..transport import mask
from .locks import parse_lock_holders

ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[^%]*%\}>")


def _stderr(exc: BaseException) -> str:
    text = str(exc)  # CommandError: "\n code: N\n stdout: ...\n stderr: ..."
    return text.partition("\n stderr: ")[2] or text


def pulumi_headline(exc: BaseException) -> str:
    """The lines of Pulumi's stderr that say what went wrong."""
    lines = [ANSI_CODES.sub("", line).strip() for line in _stderr(exc).splitlines()]
    errors = [line for line in lines if line.startswith("error:")]
    chosen = errors or [line for line in lines if line][-3:]
    return " ".join(line.removeprefix("error:").strip() for line in chosen) or "no message"


def translate_error(
    exc: BaseException,
    stack: str,
    *,
    failures: Sequence[tuple[str, str]] = (),
    redact: Callable[[str], str] = mask,
) -> FloyoError | None:
    """The FloyoError (and so the exit code) for an Automation API error; None: not one."""
    if isinstance(exc, FloyoError):
        return exc
    if isinstance(exc, auto.ConcurrentUpdateError):
        holders = parse_lock_holders(str(exc))
        who = (
            "; ".join(h.describe() for h in holders)
            if holders
            else "another update (the backend does not say whose)"
        )
        return StackLockedError(
            f"stack {stack} is locked by {who}",
            "wait for that update to finish, or retry with --lock-timeout SECONDS; if it was "
            f"killed and left its lock behind: floyo-scale cancel --stack {stack}",
        )
    if isinstance(exc, auto.StackNotFoundError):
        return UsageError(
            f"stack {stack} does not exist in the backend yet",
            f"create it with `floyo-scale up --stack {stack}` (or check PULUMI_BACKEND_URL)",
        )
    headline = redact(pulumi_headline(exc))
    if failures:
        listed = "; ".join(f"{urn_label(urn)}: {redact(msg)}" for urn, msg in failures)
        return EngineError(
            f"{len(failures)} resource{'s' if len(failures) != 1 else ''} failed: {listed}",
            "fix the cause the provider gives, then run the command again (resources that "
            "succeeded are kept)",
        )
    if isinstance(exc, auto.StackAlreadyExistsError):
        return EngineError(f"stack {stack} could not be created: {headline}")
    if isinstance(exc, auto.InlineSourceRuntimeError | auto.RuntimeError | auto.CompilationError):
        return EngineError(
            f"the Pulumi program failed: {headline}",
            "this is a bug in floyo-scale's program (infra/) or an input it rejects; "
            "`floyo-scale plan` runs the same program offline",
        )
    if isinstance(exc, auto.CommandError):
        return EngineError(f"pulumi failed: {headline}")
    if isinstance(exc, auto.InvalidVersionError):
        return EngineError(f"the Pulumi CLI cannot be used: {exc}", SETUP_HINT)
    if isinstance(exc, FileNotFoundError):
        return EngineError(f"the Pulumi CLI is gone: {exc}", SETUP_HINT)
    return None


def urn_label(urn: str) -> str:
    """`urn:pulumi:s::p::a$aws:s3/bucket:Bucket::uploads` -> `aws:s3/bucket:Bucket uploads`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return urn
    return f"{parts[2].rsplit('$', 1)[-1]} {parts[-1]}"


SETUP_HINT = "run `floyo-scale setup` (it installs the Pulumi CLI and the provider plugins)"
