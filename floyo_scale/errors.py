"""Errors the library raises. The CLI maps each class to an exit code (see ExitCode).

The library never prints and never exits: it raises one of these, with a message that
says what went wrong and a hint that says what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, as documented in README.md ("Exit codes")."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INVALID_SPEC = 3
    ENGINE = 4
    LOCKED = 5
    GUARDRAIL = 6
    DRIFT = 7
    THRESHOLD = 8  # `status`: a usage threshold crossed
    BLIND = 9  # `status`: a seed threshold could not be measured (the watch cannot see)
    INTERRUPTED = 130
    PIPE_CLOSED = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head -1`)


class FloyoError(Exception):
    """Base of every error a user can cause or fix."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(FloyoError):
    """The command line names something that does not exist (a phase, a stack, a root)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Location:
    """Where a value came from: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec file."""

    location: Location | None
    path: str  # dotted key path, e.g. "database.read_replicas.0.region"; "" for the document
    message: str
    hint: str | None = None

    def format(self) -> str:
        where = str(self.location) if self.location else "<unknown>"
        key = f" {self.path}:" if self.path else ""
        text = f"{where}:{key} {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class SpecError(FloyoError):
    """One or more spec files are invalid; every problem is listed, not just the first."""

    exit_code = ExitCode.INVALID_SPEC

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = sorted(
            issues,
            key=lambda i: (
                i.location.file if i.location else "",
                i.location.line if i.location else 0,
                i.location.column if i.location else 0,
                i.path,
            ),
        )
        count = len(self.issues)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the spec",
            "fix each problem listed above, then run `floyo-scale validate` again",
        )


class EngineError(FloyoError):
    """Pulumi, or a provider (Supabase, Vercel, AWS), failed."""

    exit_code = ExitCode.ENGINE


class OutputError(FloyoError):
    """The output could not be written (a full disk, a device error): an I/O failure of the
    environment, not a bug; exit 4 like the other failures outside floyo-scale."""

    exit_code = ExitCode.ENGINE


class ProviderError(EngineError):
    """A provider API answered with an error (names the operation and the resource)."""


class StackLockedError(FloyoError):
    """Another update holds the stack's lock."""

    exit_code = ExitCode.LOCKED


class ProviderRuleError(FloyoError):
    """What the plan builds breaks a provider's own rule (a name, a value, a combination the
    API refuses; provider_rules.py): exit 3 when a value of the spec caused it, 1 when the
    program itself did (a bug to report)."""

    exit_code = ExitCode.INVALID_SPEC

    def __init__(self, message: str, hint: str | None = None, *, from_spec: bool = True) -> None:
        super().__init__(message, hint)
        if not from_spec:
            self.exit_code = ExitCode.UNEXPECTED


class GuardrailError(FloyoError):
    """A guardrail refused the change (budget, destructive change, confirmation)."""

    exit_code = ExitCode.GUARDRAIL


class DriftDetected(FloyoError):
    """`drift` found resources whose real state differs from the recorded state."""

    exit_code = ExitCode.DRIFT


class Interrupted(FloyoError):
    """SIGINT or SIGTERM stopped the operation."""

    exit_code = ExitCode.INTERRUPTED


# -- errors by kind ------------------------------------------------------------------------
#
# A provider, its SDK or the network may fail: that is caught where it can happen, and
# reported (a failed source, a note, an EngineError). Anything else is a bug in floyo-scale
# and reaches the one boundary, cli/root.py, which says so (exit 1, --traceback).

# The SDKs' base classes, by module: each counts only once its module is imported (until
# then, nothing can have raised it), so naming them costs no import.
_SDK_ERRORS = (
    ("botocore.exceptions", "BotoCoreError"),  # no credentials, no endpoint, a timeout, ...
    ("botocore.exceptions", "ClientError"),  # AWS answered with an error
    ("psycopg", "Error"),  # PostgreSQL, or the connection to it
)


def provider_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """What a provider, its SDK or the network raises, never a bug: ProviderError (the one
    transport's NoAnswer, OutOfTime, ... and every client's own), OSError (sockets, files,
    processes), and botocore's BotoCoreError and ClientError and psycopg.Error when those
    are in use; and `also`. `except provider_errors():` where a provider may fail."""
    import sys

    kinds: list[type[Exception]] = [ProviderError, OSError, *also]
    for module, name in _SDK_ERRORS:
        kind = getattr(sys.modules.get(module), name, None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            kinds.append(kind)
    return tuple(kinds)
