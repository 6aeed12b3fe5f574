"""The floyo-scale command line: parse, call one library function, render, exit.

No logic lives here. `main()` is the one error boundary: library errors (FloyoError) become
a message, a hint and an exit code (errors.ExitCode); anything else is exit 1 with a
traceback only under --traceback. Commands import what they need inside their bodies, so
`floyo-scale --help` and `validate` never import Pulumi.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .cli_engine import register as register_engine_commands
from .errors import ExitCode, FloyoError, SpecError

app = typer.Typer(
    name="floyo-scale",
    help="Floyo's scaling strategy as code: validate phases and stacks, plan offline, "
    "and drive Pulumi to build them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(StrEnum):
    table = "table"
    json = "json"


class ShowFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class _Options:
    root: Path | None = None
    traceback: bool = False


OPTIONS = _Options()

RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root", help="Folder holding phases/ and stacks/ (default: found upward from .)"
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"floyo-scale {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    root: RootOpt = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the traceback of an unexpected error.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    OPTIONS.root = root
    OPTIONS.traceback = traceback


def _workspace():
    from .spec import Workspace

    return Workspace.find(OPTIONS.root)


def _out(text: str) -> None:
    sys.stdout.write(text)


# -- spec commands -------------------------------------------------------------------------


@app.command()
def validate(
    phase: Annotated[
        list[str] | None, typer.Option("--phase", "-p", help="Validate this phase (repeatable).")
    ] = None,
    stack: Annotated[
        list[str] | None, typer.Option("--stack", "-s", help="Validate this stack (repeatable).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Check phase and stack files (default: all of them). Exit 3 lists every problem."""
    from . import render
    from .spec import validate as validate_specs

    try:
        report = validate_specs(_workspace(), phase, stack)
    except SpecError as error:
        if format is Format.json:
            issues = [render.issue_json(i) for i in error.issues]
            _out(render.to_json({"valid": False, "issues": issues}))
        raise
    if format is Format.json:
        _out(
            render.to_json(
                {"valid": True, "phases": list(report.phases), "stacks": list(report.stacks)}
            )
        )
        return
    parts = []
    if report.phases:
        parts.append(
            f"{len(report.phases)} phase{'s' if len(report.phases) != 1 else ''} "
            f"({', '.join(report.phases)})"
        )
    if report.stacks:
        parts.append(
            f"{len(report.stacks)} stack{'s' if len(report.stacks) != 1 else ''} "
            f"({', '.join(report.stacks)})"
        )
    _out("valid: " + " and ".join(parts or ["nothing to check"]) + "\n")


@app.command()
def phases(
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List the scaling phases: users, budget and the main infrastructure of each."""
    from . import render
    from .spec import validate as validate_specs

    ws = _workspace()
    report = validate_specs(ws, ws.phase_names(), [])
    ordered = sorted(report.phases.items(), key=lambda item: item[1].users.min)
    summaries = [render.phase_summary(name, model) for name, model in ordered]
    _out(render.to_json(summaries) if format is Format.json else render.phases_table(summaries))


@app.command()
def show(
    phase: Annotated[str | None, typer.Option("--phase", "-p", help="Phase to show.")] = None,
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack to show (at its phase, or --phase).")
    ] = None,
    provenance: Annotated[
        bool, typer.Option("--provenance", help="Say which file and line each value came from.")
    ] = False,
    format: Annotated[ShowFormat, typer.Option("--format", "-f")] = ShowFormat.yaml,
) -> None:
    """Show the fully resolved spec of a phase, or of a stack at its phase."""
    from . import render
    from .spec import describe

    desc = describe(_workspace(), phase, stack)
    if format is ShowFormat.json:
        data: Any = desc.data
        if provenance:
            data = {
                **desc.data,
                "provenance": {
                    ".".join(map(str, k)): str(v)
                    for k, v in sorted(desc.provenance.items(), key=str)
                },
            }
        _out(render.to_json(data))
    else:
        _out(render.yaml_with_provenance(desc.data, desc.provenance if provenance else None))


class SchemaKind(StrEnum):
    phase = "phase"
    stack = "stack"


@app.command()
def schema(
    kind: Annotated[SchemaKind, typer.Argument(help="Which file's schema.")] = SchemaKind.phase,
) -> None:
    """Print the JSON Schema of phase or stack files (phases/schema.json, stacks/schema.json)."""
    from .spec import schema as spec_schema

    build = (
        spec_schema.phase_file_schema if kind is SchemaKind.phase else spec_schema.stack_file_schema
    )
    _out(spec_schema.render(build()))


# -- offline synthesis: plan, diff, graph --------------------------------------------------


class PlanFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


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


@app.command()
def plan(
    phase: PhaseOpt = None,
    stack: StackOpt = None,
    format: PlanFormatOpt = PlanFormat.table,
    max_chars: MaxCharsOpt = 60_000,
) -> None:
    """Show offline what a phase would build and cost: every resource, by component and region.

    Runs the same Pulumi program `up` runs, under Pulumi's mock engine: no credentials,
    no network. --stack alone plans that stack at its phase; --phase alone plans the phase
    on the dev stack; both plan the stack as if it were at that phase.
    """
    from . import render, render_cost
    from .plan import summarize
    from .report import plan_report

    report = plan_report(_workspace(), phase, stack)
    if format is PlanFormat.json:
        _out(render.to_json(report.to_json()))
        return
    cost = render_cost.cost_summary(report.cost)
    if format is PlanFormat.markdown:
        extra = f"**{cost}**" + "".join(f"\n\n> [!WARNING]\n> {w}" for w in report.warnings)
        summary = summarize(report.inventory)
        _out(render.plan_markdown(report.inventory, summary, extra, max_chars))
    else:
        _out(render.plan_table(report.inventory, summarize(report.inventory)))
        _out(cost + "\n" + "".join(f"warning: {w}\n" for w in report.warnings))


@app.command()
def diff(
    from_ref: Annotated[
        str, typer.Argument(metavar="FROM", help="Phase, or a saved `plan --format json` file.")
    ],
    to_ref: Annotated[
        str | None,
        typer.Argument(
            metavar="[TO]", help="Phase (default: the stack's own phase).", show_default=False
        ),
    ] = None,
    stack: StackOpt = None,
    format: PlanFormatOpt = PlanFormat.table,
    max_chars: MaxCharsOpt = 60_000,
) -> None:
    """Show what moving a stack from one phase to another creates, changes, deletes and costs.

    FROM may also be a plan saved as JSON (e.g. from the base branch in a pull request):
    `floyo-scale diff base.json --stack production`. Deleting or replacing a resource that
    holds data (database, replica, bucket, cache) is flagged.
    """
    from . import render, render_cost
    from .report import diff_report

    report = diff_report(_workspace(), from_ref, to_ref, stack)
    if format is PlanFormat.json:
        _out(render.to_json(report.to_json()))
    elif format is PlanFormat.markdown:
        extra = "".join(f"> [!WARNING]\n> {w}\n\n" for w in report.warnings)
        extra += render_cost.cost_delta_markdown(report.cost) if report.cost else ""
        _out(render.diff_markdown(report.diff, extra, max_chars))
    else:
        _out(render.diff_text(report.diff))
        _out("".join(f"warning: {w}\n" for w in report.warnings))
        if report.cost:
            _out("\n" + render_cost.cost_delta_table(report.cost))


@app.command()
def graph(phase: PhaseOpt = None, stack: StackOpt = None) -> None:
    """Draw a phase as a Mermaid diagram (GitHub renders it in Markdown)."""
    from . import render
    from .synth import synthesize_target

    _out(render.mermaid(synthesize_target(_workspace(), phase, stack)))


# -- cost ----------------------------------------------------------------------------------


@app.command()
def cost(
    phase: PhaseOpt = None, stack: StackOpt = None, format: PlanFormatOpt = PlanFormat.table
) -> None:
    """Estimate what a phase costs a month (low and high), line by line, against its budget.

    Priced from what the program would build (the same offline synthesis as `plan`) and
    the phase's expected usage; prices from the catalog (docs/prices.md). --stack and
    --phase choose the target as for `plan`.
    """
    from . import render_cost
    from .cost import estimate_for_stack
    from .spec import load_stack
    from .synth import synthesize

    target = load_stack(_workspace(), stack, phase)
    estimate = estimate_for_stack(target, synthesize(target))
    if format is PlanFormat.json:
        _out(render_cost.cost_json(estimate))
    elif format is PlanFormat.markdown:
        _out(render_cost.cost_markdown(estimate))
    else:
        _out(render_cost.cost_table(estimate))


# -- the engine: setup, preview, up, destroy, refresh, drift, outputs, cancel (cli_engine.py)

register_engine_commands(app)


# -- the error boundary --------------------------------------------------------------------


def _err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _click_exception() -> Any:
    """ClickException of the click that Typer runs on: Typer >= 0.20 vendors its own copy
    (typer._click), whose classes are not those of the `click` package."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older Typer runs on the click package
        from click.exceptions import ClickException  # type: ignore[assignment]
    return ClickException


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to its exit code. Returns the code (used by tests)."""
    click_exception = _click_exception()

    command = typer.main.get_command(app)
    try:
        # without standalone mode, an Exit (--help, --version, Ctrl-C as 130) is returned
        result = command.main(args=argv, prog_name="floyo-scale", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        _err("aborted\n")
        code = ExitCode.INTERRUPTED
    except click_exception as exc:
        exc.show()
        code = exc.exit_code
    except SpecError as exc:
        from .render import spec_error_text

        _err(spec_error_text(exc))
        code = exc.exit_code
    except FloyoError as exc:
        _err(f"error: {exc.message}\n" + (f"  hint: {exc.hint}\n" if exc.hint else ""))
        code = exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted\n")
        code = ExitCode.INTERRUPTED
    except Exception as exc:  # the boundary: anything else is a bug
        if OPTIONS.traceback or "--traceback" in (argv or sys.argv):
            import traceback

            traceback.print_exc()
        _err(
            f"error: unexpected {type(exc).__name__}: {exc}\n"
            "  hint: this is a bug in floyo-scale; rerun with --traceback and report it\n"
        )
        code = ExitCode.UNEXPECTED
    return int(code)


def run() -> None:  # console-script entry point
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if "pulumi" in sys.modules:
        # Under mocks the Pulumi runtime leaves event loops in worker threads whose teardown
        # sometimes prints "Invalid file descriptor: -1" at exit (PROVIDERS.md, "Measured
        # here"); ending without the interpreter's teardown avoids it and saves ~0.1 s.
        # Nothing of ours registers atexit handlers.
        import os

        os._exit(code)
    sys.exit(code)
