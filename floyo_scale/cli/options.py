"""What the command groups share: the global options, the output formats, every option more
than one command takes (each declared once), the command class and examples every command is
registered with (`command`), asking before a change (`approval`, `confirm`: the rule is
engine.approval's), the stack's outputs (`stack_outputs`), and where output goes (results
to stdout, progress and errors to stderr)."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

if TYPE_CHECKING:
    from ..engine.approval import Approval
    from ..errors import OutputError
    from ..spec import ResolvedStack, Workspace


class _Options:
    root: Path | None = None
    traceback: bool = False


OPTIONS = _Options()


class Format(StrEnum):
    table = "table"
    json = "json"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class ShowFormat(StrEnum):
    yaml = "yaml"
    json = "json"


# -- the options more than one command takes, each declared once (tests/test_cli_options.py) --

RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        metavar="DIR",
        help="Folder holding phases/ and stacks/ (default: found upward from .)",
    ),
]
PhaseOpt = Annotated[
    str | None, typer.Option("--phase", "-p", help="Phase (default: the stack's).")
]
StackOpt = Annotated[str | None, typer.Option("--stack", "-s", help="Stack (stacks/<name>.yaml).")]
StackNameOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack (stacks/<name>.yaml).")]
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed in CI).")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ReportFormatOpt = Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")]
ShowFormatOpt = Annotated[ShowFormat, typer.Option("--format", "-f", help="Output format.")]
MaxCharsOpt = Annotated[
    int,
    typer.Option(
        "--max-chars",
        min=1000,
        help="Markdown only: cut to this many characters (a GitHub comment holds 65,536).",
    ),
]
SupabaseRefOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--supabase-ref",
        metavar="REF",
        help="A Supabase project ref, one per shard in order (default: the stack's outputs).",
    ),
]


def workspace() -> Workspace:
    from ..spec import Workspace

    return Workspace.find(OPTIONS.root)


class StdoutClosed(Exception):  # noqa: N818 - a condition, not an error of the user's
    """The reader of stdout went away (`| head -1`). Not an OSError: Typer turns an EPIPE
    OSError into exit 1, and this must reach the error boundary (exit 141, quietly)."""


def out(text: str) -> None:
    """Write a result to stdout. A reader that went away (`| head -1`) ends the command
    quietly (StdoutClosed; the error boundary exits 141); any other failure to write (a
    full disk) is an OutputError (exit 4) with a hint, not a bug."""
    try:
        sys.stdout.write(text)
    except BrokenPipeError as exc:
        raise StdoutClosed() from exc
    except OSError as exc:
        raise output_error(exc) from exc


def flush_stdout() -> None:
    """Flush stdout inside the error boundary, so a closed pipe or a full disk at the last
    write is reported like one in the middle."""
    try:
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise StdoutClosed() from exc
    except OSError as exc:
        raise output_error(exc) from exc


def output_error(exc: OSError) -> OutputError:
    from ..errors import OutputError

    reason = exc.strerror or str(exc)
    return OutputError(
        f"could not write the output: {reason}",
        "free some space where the output goes (or write it elsewhere: `> FILE` on another "
        "disk), then run the command again; nothing else was changed",
    )


def err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


# -- how options show in --help: real metavars, never `<bool>` or `<str>` --------------------


def _tidy(params: list[Any], ctx: Any) -> list[Any]:
    """A flag shows no metavar (Typer shows `<bool>`); a value shows what to write: N for
    a number, the option's name for the rest (PHASE, STACK); a choice keeps its values
    (`<table|json|markdown>`); an argument shows its name only (FROM, not `FROM <str>`)."""

    for param in params:
        if isinstance(param, TyperArgument) and "|" not in (param.display_type_rich(ctx) or ""):
            # an argument's name is its metavar (FROM, TO): no `<str>` beside it
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            continue
        if not isinstance(param, TyperOption) or param.metavar is not None:
            continue
        if param.is_flag:
            param.metavar = ""
            continue
        shown = param.display_type_rich(ctx) or ""
        if "|" in shown:
            continue
        param.metavar = "N" if "int" in shown else (param.name or "value").upper()
    return params


class Group(TyperGroup):
    """A floyo-scale command group: Typer's, with real metavars in its --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx), ctx)


class Command(TyperCommand):
    """A floyo-scale command: Typer's, with real metavars in its --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx), ctx)


def command(path: str) -> dict[str, Any]:
    """What every command is registered with (`app.command(**command("db shards"))`): the
    class that shows real metavars, and its examples (cli/examples.py) as the epilog at the
    end of its --help."""
    from .examples import epilog

    return {"cls": Command, "epilog": epilog(path)}


# -- asking before a change (engine.approval holds the rule) ----------------------------------


def terminal() -> tuple[bool, bool]:
    """(a person at a terminal: stdin and stderr are terminals, in CI)."""
    from ..render.text import is_ci

    return sys.stdin.isatty() and sys.stderr.isatty(), is_ci(os.environ)


def prompt(text: str) -> str | None:
    """Ask on stderr; the line typed, None at the end of input."""
    err(text)
    try:
        return input()
    except EOFError:
        return None


def approval(stack: str, what: str, yes: bool, *, always: bool = False) -> Approval:
    """engine.approval for this terminal: refused here (exit 6) in CI or without a terminal
    when `stack` (production, or any with `always`) needs a confirmation and --yes is not
    given."""
    from ..engine.approval import approval as decide

    is_tty, is_ci = terminal()
    return decide(stack, what, yes=yes, is_tty=is_tty, is_ci=is_ci, always=always)


def confirm(stack: str, what: str, yes: bool, *, always: bool = False) -> None:
    """Ask before `what` (a db command's move, drop or switch) when the rule says so;
    GuardrailError (exit 6), nothing changed, unless confirmed."""
    approval(stack, what, yes, always=always).require(prompt)


# -- the stack's outputs, read from its Pulumi state -------------------------------------------


def stack_outputs(stack: ResolvedStack, root: Path | None = None) -> dict[str, Any] | None:
    """The stack's outputs through the engine; None, without starting it, when a local
    backend holds no state for the stack (nothing was deployed yet)."""
    from ..observe.targets import has_local_state

    root = workspace().root if root is None else root
    if has_local_state(stack, root, os.environ) is False:
        return None
    from .. import engine

    target = engine.prepare(stack, root, os.environ, run_program=False, aws=False)
    return {k: v.value for k, v in engine.open_session(target).outputs().items()}
