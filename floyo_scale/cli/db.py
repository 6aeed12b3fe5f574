"""The `db` command group: work inside the stack's PostgreSQL databases (see docs/db.md).

Thin: parse, resolve the databases (one per shard), call one function of floyo_scale.db,
render, exit. Progress goes to stderr through the one display (render.progress: live on a
terminal, one line per step in CI, JSON lines with --format json); results go to stdout.
Other `db` commands (shards, migrate) register on `db_app` too.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .options import Format, FormatOpt, Group, StackNameOpt, command, stack_outputs, workspace
from .options import out as _out

if TYPE_CHECKING:
    from ..db.connect import Shard
    from ..spec import ResolvedStack

db_app = typer.Typer(
    name="db",
    help="Work inside the stack's databases: partitions, archives, restores, shards, "
    "the move to dedicated PostgreSQL.",
    no_args_is_help=True,
    cls=Group,
)

DatabaseUrlOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help="A database to use instead of the stack's (repeat once per shard, shard 0 "
        "first). A URL or ${env:NAME}, which keeps the password off the command line.",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be done (the SQL); change nothing.")
]


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


def load(stack: str) -> ResolvedStack:
    from ..spec import load_stack

    return load_stack(workspace(), stack)


def shards(resolved: ResolvedStack, database_urls: list[str] | None) -> list[Shard]:
    """The stack's databases, one per shard: --database-url, else the stack's outputs (read
    from its Pulumi state only when needed)."""
    from ..db.connect import resolve_shards

    sharding = resolved.phase.database.sharding
    count = sharding.shards if sharding else 1
    return resolve_shards(
        count,
        database_urls=database_urls or (),
        outputs=lambda: stack_outputs(resolved),
        stack_name=f"stack {resolved.name}",
    )


def _specs(resolved: ResolvedStack) -> list[Any]:
    from ..db.partition import table_specs
    from ..errors import UsageError

    specs = table_specs(resolved.phase.database.partitioning)
    if not specs:
        raise UsageError(
            f"phase {resolved.phase_name} (stack {resolved.name}) has no database.partitioning",
            "partitioning starts with the growth phase; add database.partitioning to the "
            "phase to partition tables before that",
        )
    return specs


def _json(value: Any) -> None:
    from ..render import to_json

    _out(to_json(value))


@db_app.command("partition", **command("db partition"))
def partition(
    stack: StackNameOpt,
    database_url: DatabaseUrlOpt = None,
    premake: Annotated[
        int, typer.Option("--premake", min=0, help="Partitions to create ahead of today.")
    ] = 3,
    dry_run: DryRunOpt = False,
    format: FormatOpt = Format.table,
) -> None:
    """Range-partition each table of the phase's database.partitioning, on every shard.

    A table not yet partitioned is converted online, while the application keeps writing.

    A partitioned one gets its next --premake partitions and a default partition.

    A second run changes nothing.
    """
    from ..db import partition as part
    from ..db.convert import Options
    from ..render import db as show
    from ..render import progress

    resolved = load(stack)
    specs = _specs(resolved)
    targets = shards(resolved, database_url)
    with progress.display(sys.stderr, os.environ, json_lines=format is Format.json) as report:
        result = part.partition(
            targets,
            specs,
            dry_run=dry_run,
            options=Options(premake=premake),
            report=report,
        )
    if format is Format.json:
        _json(show.partition_json(result))
    else:
        _out(show.partition_text(result))


def _buckets(resolved: ResolvedStack, specs: list[Any], bucket: str | None) -> dict[str, str]:
    from ..db.archive import bucket_name

    if bucket:
        return {s.name: bucket for s in specs}
    return {
        s.name: bucket_name(resolved.stack.project, resolved.name, s.archive_bucket)
        for s in specs
        if s.archive_bucket
    }


BucketOpt = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        help="Bucket to use instead of the stack's archive bucket (<project>-<stack>-<name>).",
    ),
]


@db_app.command("archive", **command("db archive"))
def archive(
    stack: StackNameOpt,
    database_url: DatabaseUrlOpt = None,
    bucket: BucketOpt = None,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            min=1,
            help="Archive partitions wholly older than this (default: each table's "
            "retention_days).",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    format: FormatOpt = Format.table,
) -> None:
    """Move partitions older than the retention to the archive bucket as Parquet.

    Each is exported with a manifest while the application still reads it, read back and
    verified; only then detached, checked unchanged since the export, and dropped.

    An interrupted run resumes where it stopped when run again.
    """
    from ..db import archive as arc
    from ..db.export import ArchiveOptions
    from ..db.s3 import PendingClient
    from ..render import db as show
    from ..render import progress

    resolved = load(stack)
    specs = _specs(resolved)
    buckets = _buckets(resolved, specs, bucket)
    targets = shards(resolved, database_url)
    s3 = PendingClient(resolved.stack.aws.profile)  # a dry run reads the bucket too
    with progress.display(sys.stderr, os.environ, json_lines=format is Format.json) as report:
        result = arc.archive(
            targets,
            specs,
            buckets,
            s3=s3,
            dry_run=dry_run,
            options=ArchiveOptions(older_than_days=older_than),
            report=report,
        )
    if format is Format.json:
        _json(show.archive_json(result))
    else:
        _out(show.archive_text(result))


@db_app.command("restore", **command("db restore"))
def restore(
    stack: StackNameOpt,
    table: Annotated[str, typer.Option("--table", help="Table, as in database.partitioning.")],
    partition: Annotated[
        str, typer.Option("--partition", help="Partition, e.g. events_p20250101.")
    ],
    shard: Annotated[int, typer.Option("--shard", min=0, help="Shard it was archived from.")] = 0,
    database_url: DatabaseUrlOpt = None,
    bucket: BucketOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Bring an archived partition back into its table, verified against its manifest."""
    from ..db.restore import restore as run_restore
    from ..db.s3 import s3_client
    from ..errors import UsageError
    from ..render import db as show
    from ..render import progress

    resolved = load(stack)
    specs = {s.name: s for s in _specs(resolved)}
    if table not in specs:
        raise UsageError(
            f"table {table} is not in database.partitioning of phase {resolved.phase_name}",
            f"one of: {', '.join(sorted(specs))}",
        )
    targets = shards(resolved, database_url)
    if shard >= len(targets):
        raise UsageError(
            f"--shard {shard}: stack {resolved.name} has {len(targets)} shard(s)",
            f"give a shard from 0 to {len(targets) - 1}",
        )
    buckets = _buckets(resolved, [specs[table]], bucket)
    if table not in buckets:
        raise UsageError(
            f"no archive bucket for {table}",
            f"set database.partitioning.{table}.archive_bucket, or give --bucket",
        )
    with progress.display(sys.stderr, os.environ, json_lines=format is Format.json) as report:
        result = run_restore(
            targets[shard],
            specs[table],
            partition,
            buckets[table],
            s3=s3_client(resolved.stack.aws.profile),
            report=report,
        )
    if format is Format.json:
        _json(show.restore_json(result))
    else:
        _out(show.restore_text(result))


@db_app.command("app-role", **command("db app-role"))
def app_role(
    stack: StackNameOpt,
    database_url: DatabaseUrlOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Create the app's least-privilege database role on every shard, or give it its new
    password after a rotation (stack setting app_password_generation).

    The app connects as floyo_app_a or floyo_app_b (in the group floyo_app: read and write
    the tables, use the sequences; nothing else), never as postgres or the RDS master user.
    Run it after `up` (which generates the password), before the app's next deployment.
    """
    from ..db import roles
    from ..render import db as show
    from ..render import progress

    resolved = load(stack)
    targets = shards(resolved, database_url)
    outputs = stack_outputs(resolved)
    if outputs is None:
        from ..errors import UsageError

        raise UsageError(
            f"stack {resolved.name} has no state yet: the app's password is one of its outputs",
            f"run `floyo-scale up --stack {resolved.name}` first (it generates the password)",
        )
    login = str(
        outputs.get("app_database_user") or roles.login_role(resolved.stack.app_password_generation)
    )
    password = str(outputs.get("app_database_password") or "")
    with progress.display(sys.stderr, os.environ) as report:
        results = roles.ensure_app_role(targets, login, password, dry_run=dry_run, report=report)
    _out(show.app_role_text(results, dry_run))
