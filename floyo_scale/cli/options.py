"""What the command groups share: the global options, the output formats, the option types,
and where output goes (results to stdout, progress and errors to stderr)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
        "--root", help="Folder holding phases/ and stacks/ (default: found upward from .)"
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
