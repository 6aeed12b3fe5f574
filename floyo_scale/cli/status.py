"""`floyo-scale status`: live usage against the stack's phase (see docs/status.md).

Thin, like every command: parse, call observe.status.status_report, render, exit with the report's
code (0 every seed threshold measured and within, 8 a threshold crossed, 9 blind, 4 a source
could not be read).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .options import ReportFormat, ReportFormatOpt, StackNameOpt, SupabaseRefOpt, command, out


def status(
    stack: StackNameOpt,
    format: ReportFormatOpt = ReportFormat.table,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            metavar="SECONDS",
            help="Give each source this long (all at once).",
        ),
    ] = 10.0,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            min=1,
            max=24 * 30,
            metavar="HOURS",
            help="p95 and error rate over the last HOURS (volumes: the month to date).",
        ),
    ] = 24,
    supabase_ref: SupabaseRefOpt = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Keep this reading in the stack's history, beside its state (a file or S3 "
            "backend), and forecast each figure from it.",
        ),
    ] = False,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Show the kept readings' trend and forecast (no source is read).",
        ),
    ] = False,
    days: Annotated[
        int,
        typer.Option("--days", min=1, max=3660, metavar="N", help="--history: the last N days."),
    ] = 30,
) -> None:
    """Read live usage and judge it against the stack's phase; say when to move.

    Database size (Supabase), bandwidth, function hours, p95 and 5xx share (Vercel), p95 and
    failure rate (Sentry, when configured), S3, cache, each domain's uptime (Route 53 health
    checks) and spend (AWS), the whole stack's spend against the budget (an estimate: shown,
    never judged). Exit 0 only when database size, bandwidth, p95, error rate and uptime
    were all measured and are within bounds; 8 when a threshold is crossed; 9 when one of
    those five could not be measured (blind: a missing credential, a failing source, no
    data); 4 when another source could not be read.
    """
    import os

    from ..observe.history import store_for
    from ..observe.status import StatusOptions, status_report
    from ..render import status as render_status
    from .options import stack_outputs
    from .options import workspace as find_workspace

    workspace = find_workspace()
    if history:
        _history(workspace, stack, days, format)
        return
    options = StatusOptions(
        timeout=timeout,
        hours=window,
        supabase_refs=tuple(supabase_ref or ()),
        cache_root=workspace.root,
        read_outputs=lambda stack: stack_outputs(stack, workspace.root),
        history=store_for(workspace.root, os.environ) if record else None,
        record=record,
    )
    report = status_report(workspace, stack, options)
    if format is ReportFormat.json:
        text = render_status.status_json(report)
    elif format is ReportFormat.markdown:
        text = render_status.status_markdown(report)
    else:
        text = render_status.status_table(report)
    out(text)
    if report.exit_code:
        raise typer.Exit(code=int(report.exit_code))


def _history(workspace: Any, stack_name: str, days: int, format: ReportFormat) -> None:
    import os
    from datetime import UTC, datetime

    from ..observe import history as history_mod
    from ..render import status as render_status
    from ..spec import load_stack

    stack = load_stack(workspace, stack_name, None)
    now = datetime.now(UTC)
    store = history_mod.store_for(workspace.root, os.environ)
    records = history_mod.within(store.read(stack.name), now, days)
    rows = history_mod.trends(records, stack.phase, now)
    if format is ReportFormat.json:
        text = render_status.history_json(stack.name, stack.phase_name, days, rows)
    else:
        text = render_status.history_table(stack.name, stack.phase_name, days, rows, store.where)
    out(text)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Operate", **command("status"))(status)
