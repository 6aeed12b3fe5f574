"""The spec commands: validate, phases, show, schema (no Pulumi is imported)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from ..errors import SpecError
from .options import (
    Format,
    FormatOpt,
    PhaseOpt,
    ShowFormat,
    ShowFormatOpt,
    StackOpt,
    command,
    out,
    workspace,
)


class SchemaKind(StrEnum):
    phase = "phase"
    stack = "stack"


def validate(
    phase: Annotated[
        list[str] | None, typer.Option("--phase", "-p", help="Validate this phase (repeatable).")
    ] = None,
    stack: Annotated[
        list[str] | None, typer.Option("--stack", "-s", help="Validate this stack (repeatable).")
    ] = None,
    format: FormatOpt = Format.table,
) -> None:
    """Check phase and stack files (default: all of them). Exit 3 lists every problem."""
    from .. import render
    from ..spec import validate as validate_specs

    try:
        report = validate_specs(workspace(), phase, stack)
    except SpecError as error:
        if format is Format.json:
            issues = [render.issue_json(i) for i in error.issues]
            out(render.to_json({"valid": False, "issues": issues}))
        raise
    if format is Format.json:
        out(
            render.to_json(
                {"valid": True, "phases": list(report.phases), "stacks": list(report.stacks)}
            )
        )
        return
    out(render.validate_text(report))


def phases(
    format: FormatOpt = Format.table,
) -> None:
    """List the scaling phases: users, budget and the main infrastructure of each."""
    from .. import render
    from ..spec import validate as validate_specs

    ws = workspace()
    report = validate_specs(ws, ws.phase_names(), [])
    ordered = sorted(report.phases.items(), key=lambda item: item[1].users.min)
    summaries = [render.phase_summary(name, model) for name, model in ordered]
    out(render.to_json(summaries) if format is Format.json else render.phases_table(summaries))


def show(
    phase: PhaseOpt = None,
    stack: StackOpt = None,
    provenance: Annotated[
        bool, typer.Option("--provenance", help="Say which file and line each value came from.")
    ] = False,
    format: ShowFormatOpt = ShowFormat.yaml,
) -> None:
    """Show the fully resolved spec of a phase, or of a stack at its phase (or at --phase)."""
    from .. import render
    from ..spec import describe

    out(render.show_output(describe(workspace(), phase, stack), provenance, format.value))


def schema(
    kind: Annotated[SchemaKind, typer.Argument(help="Which file's schema.")] = SchemaKind.phase,
) -> None:
    """Print the JSON Schema of phase or stack files (phases/schema.json, stacks/schema.json)."""
    from ..spec import schema as spec_schema

    build = (
        spec_schema.phase_file_schema if kind is SchemaKind.phase else spec_schema.stack_file_schema
    )
    out(spec_schema.render(build()))


COMMANDS: tuple[Any, ...] = (validate, phases, show, schema)


def register(app: typer.Typer) -> None:
    """Add the spec commands to the floyo-scale app."""
    for function in COMMANDS:
        app.command(**command(function.__name__))(function)
