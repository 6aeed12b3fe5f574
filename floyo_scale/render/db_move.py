"""What `db shards plan|apply` and `db migrate` show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .text import Verbatim, fit_lines

if TYPE_CHECKING:  # only for annotations: render imports no library module at run time
    from ..db.shard_plan import ShardPlan
    from ..db.shards import ApplyResult

__all__ = ["migrate_text", "shard_apply", "shard_plan"]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"~{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"~{round(seconds / 60)} min"
    return f"~{seconds / 3600:.1f} h"


def shard_plan(plan: ShardPlan) -> str:
    lines = [
        f"shards: {plan.from_shards} → {plan.to_shards} (jump-sha256-v1)"
        + (
            f"; an earlier run stopped at step {plan.resuming!r}: apply resumes"
            if plan.resuming
            else ""
        )
    ]
    if plan.new_shards:
        lines.append(
            "new shards: "
            + ", ".join(str(i) for i in plan.new_shards)
            + " (schema copied from shard 0)"
        )
    keyed = ", ".join(f"{t} by {c}" for t, c in sorted(plan.keyed.items()))
    lines.append(f"keyed tables: {keyed or 'none'}")
    mode = "copied to every new shard" if plan.unkeyed_mode == "every_shard" else "kept on shard 0"
    lines.append(f"unkeyed tables ({mode}): {', '.join(plan.unkeyed) or 'none'}")
    lines.append(f"order: {' → '.join(plan.order)}")
    lines.append("")
    if plan.moves:
        lines.append(Verbatim(f"  {'from':>4}  {'to':>4}  {'keys':>10}  {'rows':>12}"))
        for move in plan.moves:
            lines.append(
                Verbatim(
                    f"  {move.source:>4}  {move.target:>4}  {move.keys:>10,}  {move.rows:>12,}"
                )
            )
        lines.append("")
    lines.append(
        f"{plan.keys_moving:,} of {plan.keys_total:,} keys move ({plan.rows_moving:,} rows)"
        + (f"; {plan.unkeyed_rows:,} unkeyed rows copied" if plan.unkeyed_rows else "")
        + f"; estimated {_duration(plan.seconds)}"
    )
    return fit_lines(lines)


def shard_apply(report: ApplyResult) -> str:
    if report.from_shards == report.to_shards and not report.steps:
        return f"nothing to do: the data is laid out over {report.to_shards} shard(s)\n"
    return fit_lines(
        [
            f"shards: {report.from_shards} → {report.to_shards}: {report.keys_moved:,} keys, "
            f"{report.rows_moved:,} rows moved in {report.seconds:.1f}s "
            f"({report.rows_per_second:,.0f} rows/s); {report.unkeyed_rows_copied:,} unkeyed rows "
            f"copied; writes to the old shards waited {report.freeze_seconds:.2f}s at the end"
            + (
                "; foreign keys of the copied rows checked row by row (the role may not set "
                "session_replication_role)"
                if report.foreign_key_checks == "per row"
                else ""
            )
        ]
    )


def migrate_text(reports: list[Any]) -> str:
    lines = []
    for index, report in enumerate(reports):
        prefix = f"shard {index}: " if len(reports) > 1 else ""
        for step, result in report.steps:
            lines.append(f"{prefix}{step}: {result}")
    return fit_lines(lines)
