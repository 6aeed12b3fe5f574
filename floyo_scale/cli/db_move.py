"""`db shards plan|apply` and `db migrate`: commands that move rows between
databases (docs/sharding.md, docs/migration.md). They register on the `db` group.

Thin: parse, resolve the databases, confirm what deletes or switches (the rules of `up` on
production), call one function of floyo_scale.db, render, exit.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..progress import Reporter, Step
from .db import DatabaseUrlOpt, db_app, load, shards
from .options import (
    Format,
    FormatOpt,
    StackNameOpt,
    YesOpt,
    command,
    confirm,
    stack_outputs,
    workspace,
)
from .options import err as _err
from .options import out as _out

if TYPE_CHECKING:
    from ..db.connect import Shard
    from ..spec import ResolvedStack


class ShardAction(StrEnum):
    plan = "plan"
    apply = "apply"


PgBinOpt = Annotated[
    str | None,
    typer.Option(
        "--pg-bin",
        metavar="DIR",
        help="Folder with pg_dump and psql (default: FLOYO_PG_BIN, else PATH).",
    ),
]


def _sharding(resolved: ResolvedStack) -> dict[str, Any]:
    from ..errors import UsageError

    sharding = resolved.phase.database.sharding
    if sharding is None:
        raise UsageError(
            f"phase {resolved.phase_name} (stack {resolved.name}) does not shard its database",
            "sharding starts with the scale phase (database.sharding)",
        )
    return {
        "key": sharding.key,
        "key_columns": dict(sharding.key_columns),
        "unkeyed_tables": sharding.unkeyed_tables,
    }


def shards_command(
    stack: StackNameOpt,
    action: Annotated[
        ShardAction,
        typer.Argument(
            metavar="ACTION", help="plan (the default): what would move; apply: move it."
        ),
    ] = ShardAction.plan,
    database_url: DatabaseUrlOpt = None,
    batch_keys: Annotated[
        int, typer.Option("--batch-keys", min=1, help="Keys moved (and verified) per batch.")
    ] = 100,
    pg_bin: PgBinOpt = None,
    yes: YesOpt = False,
    format: FormatOpt = Format.table,
) -> None:
    """Lay the rows out over the phase's shards, after `up` created the new ones.

    plan: how many keys and rows move to which shard, and roughly how long it takes.

    apply: copies shard 0's schema to each new shard, then moves every key whose shard
    changed, in batches of keys, table by table in foreign-key order, each batch verified
    (counts and checksums) before its rows leave the source. Writes of a key being moved
    get SQLSTATE FLY01 (docs/sharding.md). An interrupted run resumes when run again.
    """
    from ..db import shard_plan
    from ..db import shards as mover
    from ..render import db_move as show
    from ..render import progress
    from ..render.text import to_json

    resolved = load(stack)
    options = _sharding(resolved)
    targets = shards(resolved, database_url)
    if action is ShardAction.plan:
        result = shard_plan.plan(targets, **options)
        _out(to_json(result.to_dict()) if format is Format.json else show.shard_plan(result))
        return
    confirm(stack, "moving rows between the shards of", yes)
    with progress.display(sys.stderr, os.environ, json_lines=format is Format.json) as sink:
        report = mover.apply(
            targets, batch_keys=batch_keys, bin_dir=pg_bin, progress=sink, **options
        )
    _out(to_json(report.to_dict()) if format is Format.json else show.shard_apply(report))


def _pairs(
    resolved: ResolvedStack, source_urls: list[str] | None, target_urls: list[str] | None
) -> list[tuple[Shard, Shard]]:
    """(source, target) per shard: --source-url/--target-url, else the stack's outputs
    `supabase_direct_urls` and `rds_direct_urls` (exported while keep_supabase)."""
    from ..db.connect import OUTPUT_NAME, resolve_shards
    from ..errors import UsageError

    db = resolved.phase.database
    if db.provider != "rds" or not db.keep_supabase:
        raise UsageError(
            f"stack {resolved.name} is not set up for a migration to RDS",
            "set database.provider: rds, database.rds {...} and database.keep_supabase: true, "
            "run `floyo-scale up`, then `db migrate` (docs/migration.md)",
        )
    count = db.sharding.shards if db.sharding else 1
    cache: dict[str, Any] = {}

    def outputs(name: str) -> Any:
        def read() -> dict[str, Any] | None:
            if "values" not in cache:
                cache["values"] = stack_outputs(resolved)
            values = cache["values"]
            if values is None:
                return None
            return {OUTPUT_NAME: values.get(name)} if name in values else {}

        return read

    sources = resolve_shards(
        count,
        database_urls=source_urls or (),
        outputs=outputs("supabase_direct_urls"),
        stack_name=f"stack {resolved.name} (Supabase)",
    )
    targets = resolve_shards(
        count,
        database_urls=target_urls or (),
        outputs=outputs("rds_direct_urls"),
        stack_name=f"stack {resolved.name} (RDS)",
    )
    return list(zip(sources, targets, strict=True))


def _switcher(resolved: ResolvedStack, sink: Reporter) -> Any:
    """The connection strings follow the switch-over: the stack's config
    `floyo:database_active` is set and `up` updates the app's variables, its progress on the
    same display as the migration's."""

    def switch(side: str) -> None:
        from .. import engine

        value = "rds" if side == "target" else "supabase"
        target = engine.prepare(resolved, workspace().root, run_program=True)
        session = engine.open_session(target, sink=sink)
        session.set_config("floyo:database_active", value)
        engine.deploy(session, approve=lambda review: True)
        sink(Step("stack", "switch connection strings", f"DATABASE_URL now names {value}", True))

    return switch


def _ready(resolved: ResolvedStack) -> Any:
    """What the switch needs (`up`'s prerequisites: the stack's secrets, ...), checked
    before the freeze: raises PrerequisitesMissing (exit 2) with nothing changed."""

    def check() -> None:
        from .. import engine

        engine.prepare(resolved, workspace().root, run_program=True)

    return check


def migrate_command(
    stack: StackNameOpt,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            hidden=True,
            help="Deprecated: the stack's database.provider says where the data goes.",
        ),
    ] = None,
    until: Annotated[
        str,
        typer.Option(
            "--until", help="Stop after this step: schema, target, copy, verify or switch."
        ),
    ] = "switch",
    finalize: Annotated[
        bool, typer.Option("--finalize", help="Drop the way back (after the switch-over).")
    ] = False,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Return to the source (before --finalize).")
    ] = False,
    source_url: Annotated[
        list[str] | None,
        typer.Option("--source-url", metavar="URL", help="Source database per shard."),
    ] = None,
    target_url: Annotated[
        list[str] | None,
        typer.Option("--target-url", metavar="URL", help="Target database per shard."),
    ] = None,
    pg_bin: PgBinOpt = None,
    yes: YesOpt = False,
    format: FormatOpt = Format.table,
) -> None:
    """Move the stack's data from Supabase to dedicated PostgreSQL (RDS) while the app writes.

    Steps: schema, target check, logical replication (the copy), verification, switch-over.

    Each step is recorded; a rerun resumes. The switch-over freezes writes briefly and
    switches the app's connection strings; the source keeps every later write until
    --finalize, and --rollback returns to it.
    """
    from ..db import migrate as mig
    from ..errors import UsageError
    from ..render import db_move as show
    from ..render import progress
    from ..render.text import to_json

    if finalize and rollback:
        raise UsageError("--finalize and --rollback exclude each other", "give one of them")
    if to is not None:  # accepted from older scripts, which all said `--to rds`
        if to != "rds":
            raise UsageError(
                f"--to {to}: the data can only move to rds",
                "leave --to out: the stack's database.provider says where the data goes",
            )
        _err("warning: --to rds is no longer needed (the stack's database.provider says so)\n")
    resolved = load(stack)
    pairs = _pairs(resolved, source_url, target_url)
    if finalize:
        confirm(stack, "dropping the way back to Supabase for", yes, always=True)
    elif rollback:
        confirm(stack, "switching back to Supabase", yes)
    elif until == "switch":
        confirm(stack, "switching the database of", yes)
    with progress.display(sys.stderr, os.environ, json_lines=format is Format.json) as sink:
        switch_all = _switcher(resolved, sink)

        def switch_for(index: int) -> Any:
            """One `up` switches every shard's connection strings: it runs with the last
            shard. Until then a switched shard's writes reach it through
            DATABASE_URL_SHARD_<n>_OTHER (the fence on the old database sends the app there)."""
            if index == len(pairs) - 1:
                return switch_all
            return lambda side: sink(
                Step(
                    f"shard {index}",
                    "switch",
                    "switched; the app follows the fence until the last shard is switched",
                    done=True,
                )
            )

        if finalize:
            reports = [mig.finalize(s, t) for s, t in pairs]
        elif rollback:
            ready = _ready(resolved)
            reports = [
                mig.rollback(s, t, switch=switch_for(i), ready=ready)
                for i, (s, t) in enumerate(pairs)
            ]
        else:
            reports = [
                mig.migrate(
                    s,
                    t,
                    switch=switch_for(i),
                    ready=_ready(resolved),
                    until=until,
                    bin_dir=pg_bin,
                    progress=sink,
                )
                for i, (s, t) in enumerate(pairs)
            ]
    if format is Format.json:
        _out(to_json([r.to_dict() for r in reports]))
    else:
        _out(show.migrate_text(reports))


def register() -> None:
    """Add `db shards`, `db migrate` to the `db` group (root calls it after db.register)."""
    db_app.command("shards", **command("db shards"))(shards_command)
    db_app.command("migrate", **command("db migrate"))(migrate_command)
