"""The journal of a `db migrate` (which steps are done, with their details, kept in the
target's `_floyo_migrate.journal` so a rerun goes on where the last one stopped) and the Report
a run returns: what `migrate`, `rollback` and `finalize` share (floyo_scale/db/migrate.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .connect import Shard, connect

JOURNAL_SQL = """
CREATE SCHEMA IF NOT EXISTS _floyo_migrate;
CREATE TABLE IF NOT EXISTS _floyo_migrate.journal (
  step text PRIMARY KEY, done_at timestamptz NOT NULL DEFAULT now(), detail jsonb);
"""


@dataclass
class Report:
    """What `migrate` did. `freeze_seconds`: writes waited this long at the switch-over."""

    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, what happened)
    rows_copied: int = 0
    copy_seconds: float = 0.0
    freeze_seconds: float | None = None
    # where the freeze's time went (the bench prints it): catch-up, counts, the rest
    freeze_parts: dict[str, float] = field(default_factory=dict)
    tables: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_copied / self.copy_seconds if self.copy_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [{"step": s, "result": r} for s, r in self.steps],
            "rows_copied": self.rows_copied,
            "copy_seconds": round(self.copy_seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "freeze_seconds": None
            if self.freeze_seconds is None
            else round(self.freeze_seconds, 3),
            "tables": {k: {"rows": c, "checksum": s} for k, (c, s) in self.tables.items()},
        }


def done_steps(target: Any) -> dict[str, Any]:
    row = target.execute("SELECT to_regclass('_floyo_migrate.journal') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return {}
    return {s: d for s, d in target.execute("SELECT step, detail FROM _floyo_migrate.journal")}


def record(target: Any, step: str, detail: dict[str, Any] | None = None) -> None:
    target.execute(JOURNAL_SQL)
    target.execute(
        "INSERT INTO _floyo_migrate.journal (step, detail) VALUES (%s, %s) "
        "ON CONFLICT (step) DO UPDATE SET detail = excluded.detail, done_at = now()",
        (step, json.dumps(detail or {})),
    )


def status(source: Shard, target: Shard) -> dict[str, Any]:
    """The journal: which steps are done (with their details)."""
    with connect(target) as conn:
        return done_steps(conn)
