"""What `db partition`, `db archive`, `db restore` and `db app-role` print when they are done
(their progress is shown by render.progress, the one display)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .text import Verbatim, fit_lines, size_text

if TYPE_CHECKING:  # only for annotations: render imports no library module at run time
    from collections.abc import Sequence

    from ..db.archive import ArchiveReport
    from ..db.partition import PartitionReport
    from ..db.restore import RestoreReport
    from ..db.roles import ShardResult


def partition_text(report: PartitionReport) -> str:
    lines: list[str] = []
    for t in report.tables:
        head = f"shard {t.shard} {t.table}: {t.action}"
        if t.rows_copied:
            head += f", {t.rows_copied:,} rows copied"
        if t.swap_seconds:
            head += f", names swapped in {t.swap_seconds * 1000:.0f} ms"
        if t.rows_moved:
            head += f", {t.rows_moved:,} rows moved out of the default partition"
        if t.partitions_created and not report.dry_run:
            head += f", {len(t.partitions_created)} partition(s) created"
        lines.append(head)
        if report.dry_run and t.statements:
            lines.append("")
            lines.extend(
                Verbatim(f"  {s};" if not s.startswith("--") else f"  {s}") for s in t.statements
            )
            lines.append("")
        if t.default_rows:
            lines.append(
                f"  warning: {t.default_rows:,} row(s) are left in the default partition of "
                f"{t.table}: look at them"
            )
    if report.dry_run:
        lines.append("dry run: nothing was changed")
    return fit_lines(lines)


def partition_json(report: PartitionReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "tables": [
            {
                "shard": t.shard,
                "table": t.table,
                "action": t.action,
                "rows_copied": t.rows_copied,
                "partitions_created": t.partitions_created,
                "default_rows": t.default_rows,
                "rows_moved": t.rows_moved,
                "swap_ms": round(t.swap_seconds * 1000),
                "statements": t.statements,
            }
            for t in report.tables
        ],
    }


def archive_text(report: ArchiveReport) -> str:
    lines = [
        f"{table}: partitions ending on or before {cutoff} are archived"
        for table, cutoff in sorted(report.cutoffs.items())
    ]
    if not report.partitions:
        lines.append("nothing to archive")
    for p in report.partitions:
        line = f"shard {p.shard} {p.partition} ({p.lower[:10]} .. {p.upper[:10]}): {p.action}"
        if not report.dry_run:
            line += f", {p.rows:,} rows, {size_text(p.bytes)}"
        lines.append(line + f" -> s3://{p.bucket}/{p.key}")
        if report.dry_run:
            lines.extend(Verbatim(f"  {s}") for s in p.statements)
    if report.dry_run:
        lines.append("dry run: nothing was changed")
    return fit_lines(lines)


def archive_json(report: ArchiveReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "cutoffs": report.cutoffs,
        "partitions": [
            {
                "shard": p.shard,
                "table": p.table,
                "partition": p.partition,
                "lower": p.lower,
                "upper": p.upper,
                "action": p.action,
                "bucket": p.bucket,
                "key": p.key,
                "rows": p.rows,
                "bytes": p.bytes,
                "statements": p.statements,
            }
            for p in report.partitions
        ],
    }


def restore_text(result: RestoreReport) -> str:
    if result.action == "unchanged":
        return fit_lines(
            [
                f"shard {result.shard} {result.partition} is already restored "
                f"({result.rows:,} rows, as in the manifest)"
            ]
        )
    return fit_lines(
        [
            f"shard {result.shard} {result.partition}: restored {result.rows:,} rows from "
            f"s3://{result.bucket}/{result.key} (checksum and row count match the manifest)"
        ]
    )


def restore_json(result: RestoreReport) -> dict[str, Any]:
    return {
        "shard": result.shard,
        "table": result.table,
        "partition": result.partition,
        "action": result.action,
        "rows": result.rows,
        "bucket": result.bucket,
        "key": result.key,
    }


def app_role_text(results: Sequence[ShardResult], dry_run: bool) -> str:
    """`db app-role`: per shard, the login role made ready (or, dry, the SQL it would run,
    the password shown as '***')."""
    lines: list[str] = []
    for r in results:
        if dry_run:
            lines += [f"{r.shard}: would run", *(Verbatim(f"  {s};") for s in r.statements)]
        else:
            lines.append(f"{r.shard}: {r.login} ready (in floyo_app, the app's grants)")
    return fit_lines(lines)
