"""What the command groups share: the global options, the output formats, the option types,
and where output goes (results to stdout, progress and errors to stderr)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ..errors import OutputError
    from ..spec import Workspace


class _Options:
    root: Path | None = None
    traceback: bool = False


OPTIONS = _Options()


class Format(StrEnum):
    table = "table"
    json = "json"


class ShowFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class PlanFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        metavar="DIR",
        help="Folder holding phases/ and stacks/ (default: found upward from .)",
    ),
]
PhaseOpt = Annotated[
    str | None, typer.Option("--phase", "-p", help="Phase to build (default: the stack's).")
]
StackOpt = Annotated[
    str | None, typer.Option("--stack", "-s", help="Stack to build it for (default: dev).")
]
PlanFormatOpt = Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")]
MaxCharsOpt = Annotated[
    int,
    typer.Option(
        "--max-chars",
        min=1000,
        help="Markdown only: cut to this many characters (a GitHub comment holds 65,536).",
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
    from typer.core import TyperArgument, TyperOption

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


def command_classes() -> tuple[type, type]:
    """The Typer group and command classes of floyo-scale: Typer's, with real metavars."""
    from typer.core import TyperCommand, TyperGroup

    class Group(TyperGroup):
        def get_params(self, ctx: Any) -> list[Any]:
            return _tidy(super().get_params(ctx), ctx)

    class Command(TyperCommand):
        def get_params(self, ctx: Any) -> list[Any]:
            return _tidy(super().get_params(ctx), ctx)

    return Group, Command


def use_command_classes(app: typer.Typer) -> None:
    """Make every command of `app`, and of the groups added to it, show real metavars and
    its examples (cli/examples.py) at the end of its --help."""
    group, command = command_classes()
    _use(app, group, command, "")


def _use(app: typer.Typer, group: type, command: type, prefix: str) -> None:
    from typer.core import TyperCommand

    from .examples import epilog

    app.info.cls = group
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:  # Typer's default
            info.cls = command
        name = info.name or (info.callback.__name__ if info.callback else "")
        if info.epilog is None:
            info.epilog = epilog(prefix + name.replace("_", "-"))
    for sub in app.registered_groups:
        if sub.typer_instance is not None:
            group_name = sub.name if isinstance(sub.name, str) else sub.typer_instance.info.name
            _use(sub.typer_instance, group, command, f"{prefix}{group_name} ")
