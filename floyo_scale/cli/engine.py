"""The commands that drive the Pulumi engine: doctor, setup, preview, up, promote, destroy,
refresh, drift, outputs, cancel (see docs/engine.md).

Thin: parse, call one function of floyo_scale.engine, render, exit. Each imports what it
needs inside its body, so `floyo-scale --help` never imports Pulumi. Progress goes to stderr
(a live display on a terminal, one line per event otherwise); results go to stdout.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import (
    Format,
    FormatOpt,
    PhaseOpt,
    ReportFormat,
    ReportFormatOpt,
    StackNameOpt,
    YesOpt,
    approval,
    command,
    prompt,
)
from .options import err as _err
from .options import out as _out
from .options import workspace as find_workspace

if TYPE_CHECKING:
    from ..engine import Target
    from ..engine.approval import Prompt, Show
    from ..render.progress import Display
    from ..spec import ResolvedStack


LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        metavar="SECONDS",
        min=0,
        help="If another update holds the stack, wait up to this long, retrying (default: 0).",
    ),
]
AllowDestroyOpt = Annotated[
    bool,
    typer.Option(
        "--allow-destroy", help="Go on although stateful resources are replaced or deleted."
    ),
]
AllowOverBudgetOpt = Annotated[
    bool,
    typer.Option(
        "--allow-over-budget", help="Go on although the phase costs more than its budget."
    ),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", metavar="URN", help="Only this resource (repeatable)."),
]
ParallelOpt = Annotated[
    int | None,
    typer.Option("--parallel", min=1, help="Resource operations at once (default: Pulumi's)."),
]


def _target(
    stack: str,
    phase: str | None,
    *,
    run_program: bool,
    decrypt: bool = True,
    aws: bool = True,
    resolved: ResolvedStack | None = None,
    aws_budget_usd: float | None = None,
) -> Target:
    """The stack, with every prerequisite checked at once (engine.prerequisites)."""
    from .. import engine
    from ..spec import load_stack

    workspace = find_workspace()
    resolved = resolved or load_stack(workspace, stack, phase)
    return engine.prepare(
        resolved,
        workspace.root,
        run_program=run_program,
        decrypt=decrypt,
        aws=aws,
        cli=True,
        aws_budget_usd=aws_budget_usd,
    )


@contextmanager
def _engine_run(*, json_lines: bool = False) -> Iterator[Display]:
    """The progress display (JSON lines with `--format json`), and SIGTERM treated as Ctrl-C
    while no `pulumi` runs (while one runs, engine.SignalForwarder takes both over and
    forwards them)."""
    from ..render import progress

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with progress.display(sys.stderr, os.environ, json_lines=json_lines) as sink:
            yield sink
    finally:
        signal.signal(signal.SIGTERM, previous)


def _shown(sink: Display) -> tuple[Prompt, Show]:
    """The prompt and the display an engine.Approval asks through: the terminal, with the
    progress display paused meanwhile."""

    def show(text: str) -> None:
        with sink.paused():
            _err(text)

    def ask(text: str) -> str | None:
        with sink.paused():
            return prompt(text)

    return ask, show


# -- commands ------------------------------------------------------------------------------


def doctor(
    stack: StackNameOpt = "dev",
    format: FormatOpt = Format.table,
) -> None:
    """Check everything the engine commands need for a stack; list all that is missing.

    The passphrase, the secret variables the stack file refers to, AWS credentials for the
    stack's account, the Pulumi CLI and its plugins, and the state backend: each checked on
    its own, each problem with a hint. Runs nothing, changes nothing. Exit 0 when all is
    there, 2 when anything is missing (a missing plugin is only a warning).
    """
    from .. import render
    from ..engine import prerequisites
    from ..render.doctor import doctor_error, doctor_text
    from ..spec import load_stack

    workspace = find_workspace()
    report, _ = prerequisites.check(load_stack(workspace, stack), workspace.root)
    _out(render.to_json(report.to_json()) if format is Format.json else doctor_text(report))
    if not report.ok:
        raise doctor_error(report)


def setup() -> None:
    """Install the Pulumi CLI and the provider plugins (needs the network).

    The CLI is pinned to the Pulumi SDK's version and goes under your data directory, unless
    a compatible `pulumi` is on PATH; the plugins at the versions the installed provider
    SDKs were generated for.
    """
    from .. import engine
    from ..render import progress

    with progress.display(sys.stderr, os.environ) as sink:
        report = engine.setup(report=sink)
    where = "installed" if report.installed_cli else "found"
    _out(f"pulumi {report.cli_version}: {where} at {report.cli}\n")
    for plugin in report.plugins:
        state = "installed" if plugin in report.installed_plugins else "present"
        _out(f"plugin {plugin.name} {plugin.version}: {state}\n")


def preview(
    stack: StackNameOpt,
    phase: PhaseOpt = None,
    format: ReportFormatOpt = ReportFormat.table,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    parallel: ParallelOpt = None,
) -> None:
    """Preview what `up` would change, with the real engine; flags data loss.

    Needs the cloud credentials and the secrets the stack file refers to.
    """
    from .. import engine, render
    from ..render import engine as text

    spec = _target(stack, phase, run_program=True)
    with _engine_run(json_lines=format is ReportFormat.json) as sink:
        session = engine.open_session(spec, create=True, sink=sink, lock_timeout=lock_timeout)
        report = session.preview(targets=target or (), parallel=parallel)
    if format is ReportFormat.json:
        _out(render.to_json(text.preview_json(report)))
    elif format is ReportFormat.markdown:
        _out(text.preview_markdown(report))
    else:
        _out(text.preview_table(report))


def up(
    stack: StackNameOpt,
    phase: PhaseOpt = None,
    yes: YesOpt = False,
    allow_destroy: AllowDestroyOpt = False,
    allow_over_budget: AllowOverBudgetOpt = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    parallel: ParallelOpt = None,
) -> None:
    """Build or change the stack at a phase, after a plan and a preview, safely.

    Runs the offline plan and a real preview first: refuses (exit 6) to delete or replace a
    database, replica, bucket or cache without --allow-destroy, and a phase over budget
    without --allow-over-budget, and (with no flag to override it) a plan that wires the app
    to a component it cannot reach, or that breaks a provider's own rule (exit 3): all known
    offline, refused before any credential is needed. Production asks for confirmation on a
    terminal; in CI it needs --yes. Once done, lists the alert e-mail subscriptions still
    waiting for their address to confirm them.
    """
    from .. import engine
    from ..render import engine as text
    from ..spec import load_stack

    asked = approval(stack, "changing", yes)  # refused here, before anything is read
    workspace = find_workspace()
    resolved = load_stack(workspace, stack, phase)
    offline = engine.review_offline(resolved, workspace.root)
    engine.check_offline(offline, allow_destroy=allow_destroy, allow_over_budget=allow_over_budget)
    spec = _target(
        stack, phase, run_program=True, resolved=resolved, aws_budget_usd=offline.cost.aws_budget
    )
    with _engine_run() as sink:
        approve = asked.approver(text.review_text, "Apply these changes?", *_shown(sink))
        session = engine.open_session(spec, create=True, sink=sink, lock_timeout=lock_timeout)
        report = engine.deploy(
            session,
            approve=approve,
            allow_destroy=allow_destroy,
            allow_over_budget=allow_over_budget,
            targets=target or (),
            parallel=parallel,
            offline=offline,
        )
    _out(f"up: stack {stack} — {text.counts_line(report.counts)}\n")
    _out(text.outputs_table(text.outputs_values(report.outputs, show_secrets=False)))
    topics = report.outputs.get("alert_topics")
    if topics is not None and isinstance(topics.value, dict) and topics.value:
        from ..observe.aws import pending_after_up

        _err(text.pending_text(*pending_after_up(resolved.stack.aws.profile, topics.value)))


def promote(
    from_stack: Annotated[
        str, typer.Option("--from", help="The stack that ran the change first (staging).")
    ],
    to_stack: Annotated[
        str, typer.Option("--to", help="The stack to give exactly that (production).")
    ],
    yes: YesOpt = False,
    allow_destroy: AllowDestroyOpt = False,
    allow_over_budget: AllowOverBudgetOpt = False,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check-only",
            help="Only check --from (its release and its drift, with its credentials); "
            "touch nothing of --to.",
        ),
    ] = False,
    source_drift_checked: Annotated[
        bool,
        typer.Option(
            "--source-drift-checked",
            help="--from's drift was checked just before (--check-only, with its own "
            "credentials): check its release again, not its drift.",
        ),
    ] = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    parallel: ParallelOpt = None,
) -> None:
    """Apply to --to exactly what --from last ran: the same commit and spec.

    Refuses (exit 6, saying why) unless the --from stack's last update succeeded at this
    checkout's commit and spec digest (its `floyo_release` output), it has not drifted, and
    the --to stack's preview deletes or replaces no database, bucket or cache (without
    --allow-destroy). Then runs `up` on --to, which records the same release.

    The drift check reads --from's cloud, so it needs --from's credentials; where one job
    holds one account's at a time (CI), run `--check-only` with --from's, then
    `--source-drift-checked` with --to's.
    """
    from .. import engine
    from ..render import engine as text
    from ..spec import Workspace

    if from_stack == to_stack:
        from ..errors import UsageError

        raise UsageError(
            "--from and --to name the same stack", "e.g. --from staging --to production"
        )
    if check_only and source_drift_checked:
        from ..errors import UsageError

        raise UsageError(
            "--check-only and --source-drift-checked are the two halves of one promotion",
            "run --check-only with --from's credentials, then --source-drift-checked",
        )
    # the source's release and history are in the state; its drift is in its own account
    source_spec = _target(from_stack, None, run_program=False, aws=not source_drift_checked)
    now = engine.current_release(Workspace(source_spec.root))
    if check_only:
        with _engine_run() as sink:
            source = engine.open_session(source_spec, sink=sink, lock_timeout=lock_timeout)
            ran = engine.check_source(source, now)
        _out(f"promote: {from_stack} ran {ran.describe()}, the same as this checkout\n")
        return
    asked = approval(to_stack, "changing", yes)
    dest_spec = _target(to_stack, None, run_program=True)
    with _engine_run() as sink:
        approve = asked.approver(text.review_text, "Apply these changes?", *_shown(sink))
        source = engine.open_session(source_spec, sink=sink, lock_timeout=lock_timeout)
        dest = engine.open_session(dest_spec, create=True, sink=sink, lock_timeout=lock_timeout)
        report = engine.promote(
            source,
            dest,
            now,
            approve=approve,
            allow_destroy=allow_destroy,
            allow_over_budget=allow_over_budget,
            source_drift_checked=source_drift_checked,
            parallel=parallel,
        )
    _out(
        f"promote: {from_stack} -> {to_stack} at {report.ran.describe()} — "
        f"{text.counts_line(report.up.counts)}\n"
    )
    _out(text.outputs_table(text.outputs_values(report.up.outputs, show_secrets=False)))


def destroy(
    stack: StackNameOpt,
    yes: YesOpt = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    target: TargetOpt = None,
    parallel: ParallelOpt = None,
) -> None:
    """Delete every resource of the stack; asks first, or --yes.

    The stack's history and config stay. Protected resources (production's data) make it
    fail: unprotect them in the stack file first.
    """
    from .. import engine
    from ..render import engine as text

    asked = approval(stack, "destroying", yes, always=True)
    spec = _target(stack, None, run_program=False)
    with _engine_run() as sink:
        confirm = asked.approver(text.preview_table, "Destroy all of the above?", *_shown(sink))
        session = engine.open_session(spec, sink=sink, lock_timeout=lock_timeout)
        report = engine.destroy(session, confirm=confirm, targets=target or (), parallel=parallel)
    if report.counts is None:
        _out(f"destroy: stack {stack} has nothing to destroy\n")
    else:
        _out(f"destroy: stack {stack} — {text.counts_line(report.counts)}\n")


def refresh(
    stack: StackNameOpt,
    clear_pending_creates: Annotated[
        bool,
        typer.Option(
            "--clear-pending-creates",
            help="Drop creates an interrupted update left pending (check the cloud first).",
        ),
    ] = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    parallel: ParallelOpt = None,
) -> None:
    """Read every resource back from the cloud and record it in the state."""
    from .. import engine
    from ..render import engine as text

    spec = _target(stack, None, run_program=False)
    with _engine_run() as sink:
        session = engine.open_session(spec, sink=sink, lock_timeout=lock_timeout)
        counts = session.refresh(clear_pending_creates=clear_pending_creates, parallel=parallel)
    _out(f"refresh: stack {stack} — {text.counts_line(counts)}\n")


def drift(
    stack: StackNameOpt,
    format: FormatOpt = Format.table,
    lock_timeout: LockTimeoutOpt = 0.0,
) -> None:
    """Compare the cloud with the state; exit 7 when they differ.

    A refresh in preview mode: nothing is written. Exit 0: no drift; exit 7: drift, each
    resource listed with the properties that changed.
    """
    from .. import engine, render
    from ..render import engine as text

    spec = _target(stack, None, run_program=False)
    with _engine_run(json_lines=format is Format.json) as sink:
        session = engine.open_session(spec, sink=sink, lock_timeout=lock_timeout)
        report = engine.drift(session)
    if format is Format.json:
        _out(render.to_json(text.drift_json(report)))
    else:
        _out(text.drift_table(report))
    error = engine.drift_error(report)
    if error is not None:
        raise error


def outputs(
    stack: StackNameOpt,
    format: FormatOpt = Format.table,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Show secret values (masked by default).")
    ] = False,
) -> None:
    """Show the stack's outputs; secret values stay masked unless --show-secrets.

    Project ids, bucket names, URLs: what the last `up` exported.
    """
    from .. import engine, render
    from ..render import engine as text

    spec = _target(stack, None, run_program=False, aws=False)  # reads the state only
    session = engine.open_session(spec)
    values = text.outputs_values(session.outputs(), show_secrets)
    _out(render.to_json(values) if format is Format.json else text.outputs_table(values))


def cancel(
    stack: StackNameOpt,
    force: Annotated[
        bool, typer.Option("--force", help="Release it although its process still runs here.")
    ] = False,
) -> None:
    """Release a stale lock, saying who held it and since when.

    For a lock left by an update that was killed. Refuses when the holder still runs on
    this machine, unless --force.
    """
    from .. import engine

    spec = _target(stack, None, run_program=False, decrypt=False, aws=False)
    holders = engine.release_lock(engine.open_session(spec), force=force)
    if holders:
        for holder in holders:
            _out(f"released the lock held by {holder.describe()}\n")
    elif spec.state_dir is not None:
        _out(f"stack {stack} held no lock\n")
    else:
        _out(f"released the lock on stack {stack} (the backend does not say whose it was)\n")


COMMANDS: tuple[Any, ...] = (
    doctor,
    setup,
    preview,
    up,
    promote,
    destroy,
    refresh,
    drift,
    outputs,
    cancel,
)


def register(app: typer.Typer) -> None:
    """Add the engine commands to the floyo-scale app."""
    for function in COMMANDS:
        app.command(rich_help_panel="Engine (Pulumi)", **command(function.__name__))(function)
