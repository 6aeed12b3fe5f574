"""`db advise`: query and index advice for every shard, read-only (see docs/db.md).

Each finding carries its evidence (the statistics it rests on), its estimated effect and the
exact SQL that fixes it:

- foreign-key columns without an index that leads with them (deletes and updates of the
  parent scan the child; `db shards apply` moves such a table slowly);
- unused indexes (no scan since the statistics began, backing no constraint and no foreign
  key) and duplicate or redundant ones (the same columns, or a prefix of another index's), with
  their size;
- tables read mostly by sequential scans, with the statements of `pg_stat_statements` that
  scan them and the index that would serve them; its effect is proved with the planner's cost
  before and after when the `hypopg` extension is installed (a hypothetical index: nothing is
  built), and said to be unproved otherwise (`proof.method == "unproved"`);
- the top statements by total time, mean time and calls (or how to turn
  `pg_stat_statements` on);
- the cache hit ratio, dead rows, connections against `max_connections`, long-running and
  idle-in-transaction sessions.

Everything here reads: the session is `default_transaction_read_only`, EXPLAIN never runs
ANALYZE, and `hypopg`'s indexes live in the session's memory only. `advise_apply` carries the
fixes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from ..progress import Reporter, Step, ignore
from .advice import (
    MIN_SEQ_ROWS,
    SYSTEM_SCHEMAS,
    TOP,
    Advice,
    AdviseOptions,
    Finding,
    ShardAdvice,
    create_index_sql,
    index_name,
    quoted,
)
from .advise_checks import health_findings, statements_state
from .advise_scan import seq_scan_findings
from .connect import Shard, connect, database_error


def advise(
    shards: Iterable[Shard], *, options: AdviseOptions | None = None, report: Reporter = ignore
) -> Advice:
    """Read every shard and return its findings; changes nothing."""
    options = options or AdviseOptions()
    result = Advice()
    for shard in shards:
        where = f"shard {shard.index}"
        report(Step(where, "advise"))
        with connect(shard) as conn:
            try:
                readonly_session(conn)
                found = advise_one(conn, shard, options)
            except psycopg.Error as exc:
                raise database_error(
                    shard,
                    "reading statistics",
                    exc,
                    "db advise only reads; check that the role may read pg_stat_* views "
                    "(pg_read_all_stats on a managed database)",
                ) from None
        result.shards.append(found)
        report(Step(where, "advise", f"{len(found.findings)} finding(s)", done=True))
    return result


def readonly_session(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SET statement_timeout = '60s'")
    conn.execute("SET lock_timeout = '1s'")


def advise_one(conn: psycopg.Connection[Any], shard: Shard, options: AdviseOptions) -> ShardAdvice:
    version = int(_one(conn, "SHOW server_version_num"))
    state = statements_state(conn)
    hypopg = bool(_one(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'"))
    since = _one(
        conn,
        "SELECT coalesce(stats_reset, pg_postmaster_start_time())::text "
        "FROM pg_stat_database WHERE datname = current_database()",
    )
    advice = ShardAdvice(shard.index, shard.label, version, state.status, since, hypopg)
    idx = _indexes(conn)
    fks = _foreign_keys(conn)
    advice.findings += _fk_findings(shard.index, fks, idx)
    advice.findings += _index_findings(shard.index, idx, fks, since)
    statements = state.rows(conn) if state.status == "on" else []
    advice.findings += seq_scan_findings(conn, shard.index, statements, version, hypopg)
    if state.finding is not None:
        advice.findings.append(state.finding(shard.index))
    advice.top = _top(statements)
    advice.health, health = health_findings(conn, shard.index, options)
    advice.findings += health
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    advice.findings.sort(key=lambda f: (order.get(f.severity, 9), f.kind, f.id))
    return advice


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


# --- indexes and foreign keys ----------------------------------------------------------------


@dataclass
class Index:
    schema: str
    table: str
    name: str
    columns: list[int]  # attnums; 0 = an expression
    column_names: list[str]
    opclasses: list[int]
    method: str
    unique: bool
    constraint: str | None  # the constraint it backs (primary key, unique, exclusion)
    partial: bool
    expressions: bool
    scans: int
    size: int
    definition: str
    table_kind: str


_INDEXES = """
SELECT n.nspname, t.relname, c.relname, string_to_array(i.indkey::text, ' ')::int[],
       coalesce((SELECT array_agg(coalesce(a.attname, 'expr') ORDER BY k.ord)
                 FROM unnest(string_to_array(i.indkey::text, ' ')::int[]) WITH ORDINALITY
                      k(attnum, ord)
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
                '{}'),
       string_to_array(i.indclass::text, ' ')::int[], am.amname, i.indisunique,
       (SELECT conname FROM pg_constraint WHERE conindid = i.indexrelid
          AND conrelid = i.indrelid LIMIT 1),
       i.indpred IS NOT NULL, i.indexprs IS NOT NULL,
       coalesce(s.idx_scan, 0), pg_relation_size(i.indexrelid),
       pg_get_indexdef(i.indexrelid), t.relkind
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE i.indisvalid AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT t.relispartition
ORDER BY n.nspname, t.relname, c.relname
"""


def _indexes(conn: psycopg.Connection[Any]) -> list[Index]:
    rows = conn.execute(_INDEXES, (list(SYSTEM_SCHEMAS),)).fetchall()
    return [Index(*r) for r in rows]


@dataclass
class ForeignKey:
    schema: str
    table: str
    name: str
    columns: list[int]
    column_names: list[str]
    parent: str
    table_rows: int
    table_size: int
    table_kind: str


_FOREIGN_KEYS = """
SELECT n.nspname, t.relname, c.conname, c.conkey::int[],
       (SELECT array_agg(a.attname ORDER BY k.ord)
          FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
       c.confrelid::regclass::text, greatest(t.reltuples, 0)::bigint,
       pg_total_relation_size(t.oid), t.relkind
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT t.relispartition
ORDER BY n.nspname, t.relname, c.conname
"""


def _foreign_keys(conn: psycopg.Connection[Any]) -> list[ForeignKey]:
    rows = conn.execute(_FOREIGN_KEYS, (list(SYSTEM_SCHEMAS),)).fetchall()
    return [ForeignKey(*r) for r in rows]


def _leads_with(index: Index, columns: list[int]) -> bool:
    """Whether the index's first len(columns) keys are exactly `columns` (in any order): it
    serves a lookup by them. Partial indexes serve only some rows."""
    n = len(columns)
    return (
        index.method == "btree"
        and not index.partial
        and len(index.columns) >= n
        and sorted(index.columns[:n]) == sorted(columns)
    )


def _fk_findings(shard: int, fks: list[ForeignKey], idx: list[Index]) -> list[Finding]:
    found = []
    for fk in fks:
        mine = [i for i in idx if i.schema == fk.schema and i.table == fk.table]
        if any(_leads_with(i, fk.columns) for i in mine):
            continue
        cols = ", ".join(fk.column_names)
        fix = create_index_sql(fk.schema, fk.table, fk.column_names)
        partitioned = fk.table_kind == "p"
        found.append(
            Finding(
                id=f"fk-index:{fk.schema}.{fk.table}({','.join(fk.column_names)})",
                shard=shard,
                kind="fk_without_index",
                severity="high" if fk.table_rows >= MIN_SEQ_ROWS else "medium",
                title=f"{fk.schema}.{fk.table}({cols}) references {fk.parent} without an index",
                evidence={
                    "constraint": fk.name,
                    "table_rows": fk.table_rows,
                    "table_bytes": fk.table_size,
                },
                effect=(
                    f"each DELETE or key UPDATE on {fk.parent} scans all ~{fk.table_rows:,} rows "
                    f"of {fk.table}; with the index it is one index lookup (joins on {cols} "
                    "and `db shards apply` gain too)"
                ),
                fix_sql=fix
                if not partitioned
                else fix.replace(" CONCURRENTLY", "") + "  -- partitioned: blocks writes",
                action=None if partitioned else "create_index",
                table=f"{fk.schema}.{fk.table}",
                index=f"{fk.schema}.{index_name(fk.table, fk.column_names)}",
            )
        )
    return found


def _redundant_to(a: Index, b: Index) -> bool:
    """Whether `a` adds nothing over `b`: same table and method, no predicate or expression,
    its columns (and operator classes) a prefix of `b`'s; a unique `a` only when equal to a
    unique `b` (uniqueness on fewer columns is a stronger rule, not a duplicate)."""
    if a is b or a.method != b.method or a.partial or b.partial or a.expressions or b.expressions:
        return False
    n = len(a.columns)
    if a.columns != b.columns[:n] or a.opclasses != b.opclasses[:n]:
        return False
    if a.method != "btree" and a.columns != b.columns:
        return False  # only a btree serves a lookup by a prefix of its keys
    if a.unique:
        return b.unique and a.columns == b.columns
    return True


def _index_findings(
    shard: int, idx: list[Index], fks: list[ForeignKey], since: str | None
) -> list[Finding]:
    found: list[Finding] = []
    redundant: set[str] = set()
    for a in idx:
        if a.constraint:
            continue  # backs a constraint: the other one must go, if either
        peers = [b for b in idx if b.schema == a.schema and b.table == a.table]
        for b in peers:
            if not _redundant_to(a, b) or f"{b.schema}.{b.name}" in redundant:
                continue
            if a.columns == b.columns and not b.constraint and a.name < b.name:
                continue  # two identical: keep the first by name, drop the second
            redundant.add(f"{a.schema}.{a.name}")
            same = a.columns == b.columns
            found.append(
                Finding(
                    id=f"duplicate-index:{a.schema}.{a.name}",
                    shard=shard,
                    kind="duplicate_index",
                    severity="medium",
                    title=f"index {a.schema}.{a.name} "
                    + ("duplicates" if same else "is a prefix of")
                    + f" {b.name} on {a.table}",
                    evidence={
                        "index": a.definition,
                        "covered_by": b.definition,
                        "bytes": a.size,
                        "scans": a.scans,
                    },
                    effect=f"frees {a.size:,} bytes and the write cost of one index on "
                    f"{a.table}; its lookups are served by {b.name}",
                    fix_sql=f"DROP INDEX CONCURRENTLY {quoted(a.schema, a.name)};",
                    action="drop_index",
                    table=f"{a.schema}.{a.table}",
                    index=f"{a.schema}.{a.name}",
                )
            )
            break
    for a in idx:
        key = f"{a.schema}.{a.name}"
        if a.scans or a.constraint or a.unique or key in redundant:
            continue
        serves = [
            fk.name
            for fk in fks
            if fk.schema == a.schema and fk.table == a.table and (_leads_with(a, fk.columns))
        ]
        if serves:
            continue  # the only index serving a foreign key: deletes on the parent need it
        found.append(
            Finding(
                id=f"unused-index:{key}",
                shard=shard,
                kind="unused_index",
                severity="low",
                title=f"index {key} on {a.table} has not been used",
                evidence={
                    "index": a.definition,
                    "scans": 0,
                    "bytes": a.size,
                    "statistics_since": since,
                },
                effect=f"frees {a.size:,} bytes and the cost of maintaining it on every write "
                f"to {a.table} (check read replicas too: their scans are not counted here)",
                fix_sql=f"DROP INDEX CONCURRENTLY {quoted(a.schema, a.name)};",
                action="drop_index",
                table=f"{a.schema}.{a.table}",
                index=key,
            )
        )
    return found


def _top(statements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    keep = ("queryid", "query", "calls", "total_ms", "mean_ms", "rows", "hit_ratio")

    def pick(key: str) -> list[dict[str, Any]]:
        ranked = sorted(statements, key=lambda s: -s[key])[:TOP]
        return [{k: s[k] for k in keep} for s in ranked]

    if not statements:
        return {}
    return {
        "by_total_time": pick("total_ms"),
        "by_mean_time": pick("mean_ms"),
        "by_calls": pick("calls"),
    }
