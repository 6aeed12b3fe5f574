"""The offline commands: plan, diff, graph, cost. The same program `up` runs, under Pulumi's
mock engine: no credentials, no network."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .options import (
    MaxCharsOpt,
    PhaseOpt,
    ReportFormat,
    ReportFormatOpt,
    StackOpt,
    command,
    out,
    workspace,
)


def plan(
    phase: PhaseOpt = None,
    stack: StackOpt = None,
    format: ReportFormatOpt = ReportFormat.table,
    max_chars: MaxCharsOpt = 60_000,
) -> None:
    """Show offline what a phase would build and cost: every resource, by component and region.

    Runs the same Pulumi program `up` runs, under Pulumi's mock engine: no credentials,
    no network. --stack alone plans that stack at its phase; --phase alone plans the phase
    on the dev stack; both plan the stack as if it were at that phase.

    Checks the providers' own rules too (names, values, combinations their APIs refuse):
    each one broken is listed with its resource, value and source, and `plan` exits 3 (1
    when the program itself broke it).
    """
    from .. import render
    from ..report import plan_report

    report = plan_report(workspace(), phase, stack)
    out(render.plan_output(report, format.value, max_chars))
    refused = report.refused  # a value a provider refuses: listed above, then exit 3
    if refused is not None:
        raise refused.error()


def diff(
    from_ref: Annotated[
        str | None,
        typer.Argument(
            metavar="FROM",
            help="Phase, or a saved `plan --format json` file: a name ending in .json, or a "
            "path (./base). Not with --base.",
            show_default=False,
        ),
    ] = None,
    to_ref: Annotated[
        str | None,
        typer.Argument(
            metavar="TO", help="Phase (default: the stack's own phase).", show_default=False
        ),
    ] = None,
    stack: StackOpt = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="GIT_REF",
            help="Compare the stacks as they are at this git commit, branch or tag (read from "
            "git, planned by that revision's own program) with the working tree.",
        ),
    ] = None,
    all_stacks: Annotated[
        bool,
        typer.Option("--all-stacks", help="With --base: every stack on either side (the default)."),
    ] = False,
    fail_on_guard: Annotated[
        bool,
        typer.Option(
            "--fail-on-guard",
            help="After the output, exit 6 when `up` would refuse the change (data loss, budget).",
        ),
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph", help="Markdown with --base: each affected stack's Mermaid graph too."
        ),
    ] = False,
    format: ReportFormatOpt = ReportFormat.table,
    max_chars: MaxCharsOpt = 60_000,
) -> None:
    """Show what a change creates, changes, deletes and costs, and what `up` would refuse.

    Between phases: `floyo-scale diff growth scale --stack production`. FROM may also be a
    plan saved as JSON: `floyo-scale diff base.json --stack production`.

    Between git revisions: `floyo-scale diff --base main --all-stacks` plans every stack as
    it is at the base (with that revision's program) and now; `--format json` lists the
    `affected` stacks; `--format markdown` is the pull-request comment. Deleting or replacing
    a resource that holds data, and a target over budget, are what `up` refuses: shown in
    every format, and exit 6 with --fail-on-guard.
    """
    from ..errors import GuardrailError, UsageError

    if base is None and from_ref is None:
        raise UsageError(
            "name what to compare with: FROM (a phase or a saved plan), or --base GIT_REF",
            "e.g. floyo-scale diff growth scale, or floyo-scale diff --base main --all-stacks",
        )
    if base is not None and from_ref is not None:
        raise UsageError(
            "FROM and --base both name the old side; give one",
            "floyo-scale diff --base main --stack production",
        )
    if all_stacks and (base is None or stack is not None):
        raise UsageError(
            "--all-stacks goes with --base, and not with --stack",
            "floyo-scale diff --base main --all-stacks",
        )
    if base is not None:
        _diff_base(base, stack, format, max_chars, graph, fail_on_guard)
        return
    assert from_ref is not None
    findings = _diff_phases(from_ref, to_ref, stack, format, max_chars)
    if fail_on_guard and findings:
        raise GuardrailError(
            f"`up` would refuse this change: {'; '.join(f.summary for f in findings)}",
            "the output above says why and which flag would allow it",
        )


def _diff_phases(
    from_ref: str, to_ref: str | None, stack: str | None, format: ReportFormat, max_chars: int
) -> tuple[Any, ...]:
    from .. import render
    from ..render import cost as render_cost
    from ..report import diff_report

    report = diff_report(workspace(), from_ref, to_ref, stack)
    if format is ReportFormat.json:
        out(render.to_json(report.to_json()))
    elif format is ReportFormat.markdown:
        extra = render.findings_markdown(report.findings)
        extra += "".join(f"> [!WARNING]\n> {w}\n\n" for w in report.warnings + report.diff.notes)
        if report.target_cost is not None:
            extra += f"**{render_cost.cost_summary(report.target_cost)}**\n\n"
        extra += render_cost.cost_delta_markdown(report.cost) if report.cost else ""
        out(render.diff_markdown(report.diff, extra, max_chars))
    else:
        out(render.diff_text(report.diff))
        out(render.lines_text(report.warnings, "warning: "))
        if report.cost:
            out("\n" + render_cost.cost_delta_table(report.cost))
        if report.target_cost is not None:
            out(render.lines_text([f"target: {render_cost.cost_summary(report.target_cost)}"]))
        out(render.lines_text(render.findings_text(report.findings).splitlines()))
    return report.findings


def _diff_base(
    base: str,
    stack: str | None,
    format: ReportFormat,
    max_chars: int,
    graph: bool,
    fail_on_guard: bool,
) -> None:
    import os

    from .. import render
    from ..errors import GuardrailError
    from ..review.affected import compare_revision, redactor, secret_values

    ws = workspace()
    result = compare_revision(ws, base, [stack] if stack else None)
    redact = redactor(secret_values(ws, os.environ))
    if format is ReportFormat.json:
        out(redact(render.to_json(result.to_json())))
    elif format is ReportFormat.markdown:
        mermaid = render.mermaid if graph else None
        out(render.comment(result, limit=max_chars, graph=mermaid, redact=redact))
    else:
        out(redact(render.revision_text(result)))
    failure = result.head_failure()
    if failure is not None:
        raise failure
    findings = result.findings()
    if fail_on_guard and findings:
        stacks = [s.stack for s in result.stacks if s.affected and s.findings]
        raise GuardrailError(
            f"`up` would refuse the change to {', '.join(stacks)}: "
            + "; ".join(f.summary for f in findings),
            "the output above says why and which flag would allow it",
        )


def graph(phase: PhaseOpt = None, stack: StackOpt = None) -> None:
    """Draw a phase as a Mermaid diagram (GitHub renders it in Markdown)."""
    from .. import render
    from ..offline.synth import synthesize_target

    out(render.mermaid(synthesize_target(workspace(), phase, stack)))


def cost(
    phase: PhaseOpt = None, stack: StackOpt = None, format: ReportFormatOpt = ReportFormat.table
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
    if format is ReportFormat.json:
        out(render_cost.cost_json(estimate))
    elif format is ReportFormat.markdown:
        out(render_cost.cost_markdown(estimate))
    else:
        out(render_cost.cost_table(estimate))


COMMANDS: tuple[Any, ...] = (plan, diff, graph, cost)


def register(app: typer.Typer) -> None:
    """Add the offline commands to the floyo-scale app."""
    for function in COMMANDS:
        app.command(**command(function.__name__))(function)
