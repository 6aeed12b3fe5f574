"""The offline commands: plan, diff, graph, cost. The same program `up` runs, under Pulumi's
mock engine: no credentials, no network."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .options import (
    MaxCharsOpt,
    PhaseOpt,
    PlanFormat,
    PlanFormatOpt,
    StackOpt,
    out,
    workspace,
)


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
    from .. import render
    from ..offline.plan import summarize
    from ..render import cost as render_cost
    from ..report import plan_report

    report = plan_report(workspace(), phase, stack)
    if format is PlanFormat.json:
        out(render.to_json(report.to_json()))
        return
    cost = render_cost.cost_summary(report.cost)
    if format is PlanFormat.markdown:
        extra = f"**{cost}**" + "".join(f"\n\n> [!WARNING]\n> {w}" for w in report.warnings)
        summary = summarize(report.inventory)
        out(render.plan_markdown(report.inventory, summary, extra, max_chars))
    else:
        out(render.plan_table(report.inventory, summarize(report.inventory)))
        out(cost + "\n" + "".join(f"warning: {w}\n" for w in report.warnings))


def diff(
    from_ref: Annotated[
        str,
        typer.Argument(
            metavar="FROM",
            help="Phase, or a saved `plan --format json` file: a name ending in .json, or a "
            "path (./base).",
        ),
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
    from .. import render
    from ..render import cost as render_cost
    from ..report import diff_report

    report = diff_report(workspace(), from_ref, to_ref, stack)
    if format is PlanFormat.json:
        out(render.to_json(report.to_json()))
    elif format is PlanFormat.markdown:
        extra = "".join(f"> [!WARNING]\n> {w}\n\n" for w in report.warnings)
        extra += render_cost.cost_delta_markdown(report.cost) if report.cost else ""
        out(render.diff_markdown(report.diff, extra, max_chars))
    else:
        out(render.diff_text(report.diff))
        out("".join(f"warning: {w}\n" for w in report.warnings))
        if report.cost:
            out("\n" + render_cost.cost_delta_table(report.cost))


def graph(phase: PhaseOpt = None, stack: StackOpt = None) -> None:
    """Draw a phase as a Mermaid diagram (GitHub renders it in Markdown)."""
    from .. import render
    from ..offline.synth import synthesize_target

    out(render.mermaid(synthesize_target(workspace(), phase, stack)))


def cost(
    phase: PhaseOpt = None, stack: StackOpt = None, format: PlanFormatOpt = PlanFormat.table
) -> None:
    """Estimate what a phase costs a month (low and high), line by line, against its budget.

    Priced from what the program would build (the same offline synthesis as `plan`) and
    the phase's expected usage; prices from the catalog (docs/prices.md). --stack and
    --phase choose the target as for `plan`.
    """
    from ..cost import estimate_for_stack
    from ..offline.synth import synthesize
    from ..render import cost as render_cost
    from ..spec import load_stack

    target = load_stack(workspace(), stack, phase)
    estimate = estimate_for_stack(target, synthesize(target))
    if format is PlanFormat.json:
        out(render_cost.cost_json(estimate))
    elif format is PlanFormat.markdown:
        out(render_cost.cost_markdown(estimate))
    else:
        out(render_cost.cost_table(estimate))


COMMANDS: tuple[Any, ...] = (plan, diff, graph, cost)


def register(app: typer.Typer) -> None:
    """Add the offline commands to the floyo-scale app."""
    for command in COMMANDS:
        app.command()(command)
