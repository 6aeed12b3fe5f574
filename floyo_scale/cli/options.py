"""What the command groups share: the global options, the output formats, the option types,
and where output goes (results to stdout, progress and errors to stderr)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
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


def out(text: str) -> None:
    sys.stdout.write(text)


def err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
