"""`db advise`: query and index advice on every shard, and `--apply` for its safe fixes
(docs/db.md). Registers on the `db` group.

Thin: parse, resolve the databases, confirm what drops (always) or changes production, call
floyo_scale.db.advise / advise_apply, render, exit.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .db import DatabaseUrlOpt, db_app, load, shards
from .options import (
    ReportFormat,
    ReportFormatOpt,
    StackNameOpt,
    SupabaseRefOpt,
    YesOpt,
    command,
    confirm,
)
from .options import out as _out

if TYPE_CHECKING:
    from ..db.advice import Advice
    from ..spec import ResolvedStack


def advise_command(
    stack: StackNameOpt,
    database_url: DatabaseUrlOpt = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Create the advised indexes (CREATE INDEX CONCURRENTLY, one at a time) and "
            "re-measure the statements they serve.",
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="ID", help="With --apply: only this finding (repeatable)."),
    ] = None,
    drop_unused: Annotated[
        bool,
        typer.Option(
            "--drop-unused",
            help="With --apply: also drop unused and redundant indexes (asks for "
            "confirmation; --yes without a terminal).",
        ),
    ] = False,
    supabase_ref: SupabaseRefOpt = None,
    yes: YesOpt = False,
    format: ReportFormatOpt = ReportFormat.table,
) -> None:
    """Advise on queries and indexes on every shard, with evidence and the SQL that fixes each.

    Reads pg_stat_statements, pg_stat_user_tables and the catalog: foreign keys without an
    index, unused and redundant indexes, tables read by sequential scans (with the statements
    behind them and a candidate index, proved with hypopg where installed), the top statements,
    cache hit ratio, connections, long-running and idle-in-transaction sessions. Changes
    nothing without --apply.
    """
    from ..db import advise as adv
    from ..db import advise_apply
    from ..db.connect import DatabaseError
    from ..errors import UsageError
    from ..render import db_advise as show
    from ..render import progress

    if (only or drop_unused) and not apply:
        raise UsageError("--only and --drop-unused go with --apply", "add --apply")
    resolved = load(stack)
    targets = shards(resolved, database_url)
    with progress.display(sys.stderr, os.environ, json_lines=format is ReportFormat.json) as report:
        advice = adv.advise(targets, report=report)
    if resolved.phase.database.provider == "supabase":
        _merge_advisors(resolved, advice, tuple(supabase_ref or ()))
    if not apply:
        if format is ReportFormat.json:
            _out(show.advice_json(advice))
        elif format is ReportFormat.markdown:
            _out(show.advice_markdown(advice))
        else:
            _out(show.advice_text(advice))
        return
    todo = advise_apply.chosen(advice, only or (), drop_unused)
    drops = [f for f in todo if f.action == "drop_index"]
    if drops:
        confirm(stack, f"dropping {len(drops)} index(es) on", yes, always=True)
    elif todo:
        confirm(stack, f"creating {len(todo)} index(es) on", yes)
    with progress.display(sys.stderr, os.environ, json_lines=format is ReportFormat.json) as report:
        result = advise_apply.apply(
            targets, advice, only=only or (), drop_unused=drop_unused, report=report
        )
    if format is ReportFormat.json:
        _out(show.apply_json(advice, result))
    elif format is ReportFormat.markdown:
        _out(
            show.advice_markdown(advice)
            + "\n## Applied\n\n```text\n"
            + show.apply_text(result)
            + "```\n"
        )
    else:
        _out(show.apply_text(result))
    if result.failed:
        raise DatabaseError(
            f"{len(result.failed)} of {len(result.actions)} fix(es) failed: "
            + ", ".join(a.id for a in result.failed),
            "each failed build's invalid index was dropped; see the reasons above, fix them "
            "(a long transaction, duplicate rows) and run `db advise --apply` again",
        )


def _merge_advisors(resolved: ResolvedStack, advice: Advice, refs: tuple[str, ...]) -> None:
    """Supabase's performance and security advisors, per shard's project, into `advice`; what
    could not be read becomes a note."""
    from ..errors import FloyoError
    from ..observe.advisors import read_advisors
    from .options import stack_outputs

    if not refs:
        try:
            outputs = stack_outputs(resolved) or {}
        except Exception as exc:  # no state, no Pulumi: the advisors are a note, not a failure
            outputs = {}
            why = exc.message if isinstance(exc, FloyoError) else type(exc).__name__
            advice.notes.append(f"the stack's outputs could not be read: {why}")
        found = outputs.get("supabase_project_refs")
        refs = tuple(str(r) for r in found) if isinstance(found, list | tuple) else ()
    lints, notes = read_advisors(resolved, refs, os.environ)
    advice.notes += notes
    for shard, found_lints in lints.items():
        advice.merge_supabase(shard, found_lints)


def register() -> None:
    """Add `db advise` to the `db` group (root calls it after db.register)."""
    db_app.command("advise", **command("db advise"))(advise_command)
