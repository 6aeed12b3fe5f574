"""`db advise`'s sequential-scan check: tables read mostly by sequential scans, the statements
of `pg_stat_statements` that name them, EXPLAINed (generic plan) for the columns their filter
compares, and the index that would serve them, proved with hypopg where it is installed (see
advise.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import psycopg

from .advice import (
    MAX_CANDIDATES,
    MAX_EXPLAINED,
    MAX_FRACTION,
    MAX_SEQ_TABLES,
    MIN_SEQ_ROWS,
    MIN_SEQ_SCANS,
    SYSTEM_SCHEMAS,
    Finding,
    Proof,
    create_index_sql,
    index_name,
    quoted,
)

# --- sequential scans, the statements behind them, candidate indexes -------------------------

_SEQ_TABLES = """
SELECT s.schemaname, s.relname, s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0),
       coalesce(s.idx_tup_fetch, 0), s.n_live_tup, pg_relation_size(s.relid), c.relkind
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.seq_tup_read > coalesce(s.idx_tup_fetch, 0) AND s.n_live_tup >= %s
  AND s.schemaname <> ALL(%s) AND NOT c.relispartition
ORDER BY s.seq_tup_read DESC
LIMIT %s
"""

_COMPARE = re.compile(
    r"\(?\(?([a-z_][a-z0-9_]*|\"[^\"]+\")\)?(?:::[a-z ]+)?\s*(=|<=|>=|<|>|~~)\s*"
    r"(\$\d+|'[^']*'(?:::[a-z ]+)?|-?\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


_RELATION = re.compile(
    r"\b(?:from|join|update|into)\s+(?:(\"[^\"]+\"|[a-z_][a-z0-9_$]*)\s*\.\s*)?"
    r"(\"[^\"]+\"|[a-z_][a-z0-9_$]*)",
    re.IGNORECASE,
)


def _by_relation(statements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Statements by the relations they name after FROM, JOIN, UPDATE or INTO (`schema.table`,
    or `table` when unqualified): one pass over every statement, whatever the table count."""
    out: dict[str, list[dict[str, Any]]] = {}
    for s in statements:
        names = set()
        for schema, table in _RELATION.findall(s["query"]):
            table = table[1:-1] if table.startswith('"') else table.lower()
            if schema:
                schema = schema[1:-1] if schema.startswith('"') else schema.lower()
                names.add(f"{schema}.{table}")
            else:
                names.add(table)
        for name in names:
            out.setdefault(name, []).append(s)
    return out


def _candidate(plan: Any, table: str, columns: set[str]) -> tuple[list[str], int]:
    """From a plan's sequential scans of `table`: the columns its filter compares with a
    value, equalities first (an index leads with them), then one range."""
    eq: list[str] = []
    rng: list[str] = []
    for node in _nodes(plan):
        if node.get("Node Type") != "Seq Scan" or node.get("Relation Name") != table:
            continue
        for col, op, _ in _COMPARE.findall(node.get("Filter", "")):
            col = col.strip('"')
            if col not in columns:
                continue
            target = eq if op == "=" else rng
            if col not in eq and col not in rng:
                target.append(col)
    return eq + rng[:1], len(eq)


def _selective(
    distinct: dict[str, float], rows: int, columns: list[str], equalities: int
) -> bool | None:
    """Whether equalities on the leading columns pick at most MAX_FRACTION of the rows, from
    `pg_stats.n_distinct` (None: a range alone, or no statistics: not known)."""
    if not equalities:
        return None
    fraction = 1.0
    for col in columns[:equalities]:
        nd = distinct.get(col)
        if nd is None:
            return None
        values = nd if nd > 0 else -nd * max(rows, 1)
        fraction /= max(values, 1.0)
    return fraction <= MAX_FRACTION


def _merge(
    candidates: dict[tuple[str, ...], list[dict[str, Any]]],
) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """An index on (a, b) serves lookups by (a) too: a candidate that is a prefix of another
    gives its statements to the longer one."""
    keys = sorted(candidates, key=len, reverse=True)
    out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key in keys:
        longer = next((k for k in out if k[: len(key)] == key), None)
        if longer is None:
            out[key] = list(candidates[key])
        else:
            out[longer] += candidates[key]
    return out


def _nodes(plan: Any) -> Iterable[dict[str, Any]]:
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.get("Plans", []))
            if "Plan" in node:
                stack.append(node["Plan"])
        elif isinstance(node, list):
            stack.extend(node)


PREPARED = "floyo_advise_statement"


# Every tool session has row_security off (db/connect.py: a policy fails a read instead of
# hiding rows). A plan reads no row, and one planned with the policies' conditions is the
# plan the app gets: an EXPLAIN's transaction turns it back on.
EXPLAIN_ROW_SECURITY = "SET LOCAL row_security = on"


def _explain(conn: psycopg.Connection[Any], query: str, version: int) -> Any | None:
    """The generic plan (JSON) of a normalized statement ($1 parameters), or None when it cannot
    be explained (not DML, or PostgreSQL cannot infer its parameters' types).

    PostgreSQL 16 and later: `EXPLAIN (GENERIC_PLAN)`. Before: the statement is PREPAREd and
    `EXPLAIN EXECUTE`d with NULLs under `plan_cache_mode = force_generic_plan`, so the plan is
    the generic one whatever the values (which it never sees)."""
    head = query.lstrip().split(None, 1)[0].lower() if query.strip() else ""
    if head not in ("select", "with", "update", "delete"):
        return None
    params = [int(n) for n in re.findall(r"\$(\d+)", query)]
    try:
        if not params or version >= 160000:
            options = "FORMAT JSON, GENERIC_PLAN" if params else "FORMAT JSON"
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")  # EXPLAIN alone runs nothing anyway
                conn.execute(EXPLAIN_ROW_SECURITY)
                # the statement as pg_stat_statements recorded it, explained, never run
                row = conn.execute(f"EXPLAIN ({options}) {query}").fetchone()
        else:
            row = _explain_prepared(conn, query, max(params))
    except psycopg.Error:
        return None
    return row[0][0] if row else None


def _explain_prepared(conn: psycopg.Connection[Any], query: str, count: int) -> Any:
    nulls = ", ".join(["NULL"] * count)
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(EXPLAIN_ROW_SECURITY)
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            conn.execute(f"PREPARE {PREPARED} AS {query}")
            return conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {PREPARED}({nulls})").fetchone()
    finally:  # a prepared statement outlives the transaction
        if conn.execute(
            "SELECT 1 FROM pg_prepared_statements WHERE name = %s", (PREPARED,)
        ).fetchone():
            conn.execute(f"DEALLOCATE {PREPARED}")


def explain_cost(conn: psycopg.Connection[Any], query: str, version: int) -> float | None:
    """The planner's total cost of `query` (generic plan), None when it cannot be explained."""
    return _cost(_explain(conn, query, version))


def _cost(plan: Any) -> float | None:
    if not plan:
        return None
    return float(plan["Plan"]["Total Cost"])


def _prove(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    columns: list[str],
    query: str,
    version: int,
) -> tuple[float | None, float | None]:
    """EXPLAIN with a hypothetical index (hypopg): (cost before, cost after)."""
    before = _cost(_explain(conn, query, version))
    ddl = f"CREATE INDEX ON {quoted(schema, table)} ({', '.join(quoted(c) for c in columns)})"
    try:
        with conn.transaction():
            conn.execute("SELECT hypopg_create_index(%s)", (ddl,))
            after = _cost(_explain(conn, query, version))
    finally:
        conn.execute("SELECT hypopg_reset()")
    return before, after


def seq_scan_findings(
    conn: psycopg.Connection[Any],
    shard: int,
    statements: list[dict[str, Any]],
    version: int,
    hypopg: bool,
) -> list[Finding]:
    found = []
    tables = conn.execute(
        _SEQ_TABLES, (MIN_SEQ_ROWS, list(SYSTEM_SCHEMAS), MAX_SEQ_TABLES)
    ).fetchall()
    by_relation = _by_relation(statements)
    plans: dict[str, Any] = {}  # a join's statement names two tables: explained once
    for schema, table, seq, seq_read, idx_scans, idx_read, rows, size, kind in tables:
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped",
                (quoted(schema, table),),
            ).fetchall()
        }
        scanning = by_relation.get(f"{schema}.{table}", []) + by_relation.get(table, [])
        scanning.sort(key=lambda s: -s["total_ms"])
        distinct = dict(
            conn.execute(
                "SELECT attname, n_distinct FROM pg_stats WHERE schemaname = %s AND tablename = %s",
                (schema, table),
            ).fetchall()
        )
        candidates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        selective: dict[tuple[str, ...], bool | None] = {}
        for s in scanning[:MAX_EXPLAINED]:
            if s["query"] not in plans:
                plans[s["query"]] = _explain(conn, s["query"], version)
            plan = plans[s["query"]]
            if plan is None:
                continue
            found_cols, equalities = _candidate(plan, table, cols)
            key = tuple(found_cols)
            if not key:
                continue
            selective[key] = _selective(distinct, rows, found_cols, equalities)
            if selective[key] is False:
                continue  # the filter keeps too many rows for an index to pay
            candidates.setdefault(key, []).append({**s, "cost_before": _cost(plan)})
        candidates = _merge(candidates)
        evidence = {
            "seq_scans": seq,
            "rows_read_by_seq_scans": seq_read,
            "index_scans": idx_scans,
            "rows_fetched_by_index_scans": idx_read,
            "live_rows": rows,
            "table_bytes": size,
        }
        if not candidates:
            if seq < MIN_SEQ_SCANS:
                continue  # a few scans (a foreign-key check, an ANALYZE): not a pattern
            found.append(
                Finding(
                    id=f"seq-scan:{schema}.{table}",
                    shard=shard,
                    kind="seq_scan_table",
                    severity="info",
                    title=f"{schema}.{table} is read mostly by sequential scans "
                    f"({seq_read:,} rows in {seq:,} scans, against {idx_read:,} fetched by "
                    "index scans)",
                    evidence={**evidence, "statements": len(scanning)},
                    effect="no statement of pg_stat_statements was found whose filter an index "
                    "would serve (turn pg_stat_statements on if it is off)",
                )
            )
            continue
        for key, served in sorted(
            candidates.items(), key=lambda kv: -sum(s["total_ms"] for s in kv[1])
        )[:MAX_CANDIDATES]:
            columns = list(key)
            proof = Proof("unproved", before=served[0]["cost_before"])
            if hypopg:
                before, after = _prove(conn, schema, table, columns, served[0]["query"], version)
                proof = Proof("hypopg", before, after, "hypothetical index, generic plan")
            else:
                proof.note = (
                    "unproved: hypopg is not installed, so the cost with the index was not "
                    "measured (CREATE EXTENSION hypopg, where available, proves it without "
                    "building anything); --apply measures it after building"
                )
            if proof.method == "hypopg" and (
                proof.after is None or proof.before is None or proof.after >= proof.before
            ):
                continue  # proved not to help
            total = sum(s["total_ms"] for s in served)
            fix = create_index_sql(schema, table, columns)
            partitioned = kind == "p"
            found.append(
                Finding(
                    id=f"index:{schema}.{table}({','.join(columns)})",
                    shard=shard,
                    kind="missing_index",
                    severity="high"
                    if total >= 1000 or proof.method == "hypopg"
                    else "medium"
                    if selective.get(key)
                    else "low",  # a range alone, or no statistics: selectivity unknown
                    title=f"{schema}.{table} is scanned sequentially by {len(served)} "
                    f"statement(s) filtering on {', '.join(columns)}",
                    evidence={**evidence, "statements_total_ms": round(total, 1)},
                    effect=(
                        f"planner cost {proof.before:,.0f} -> {proof.after:,.0f} for the top "
                        "statement (hypothetical index)"
                        if proof.method == "hypopg" and proof.before and proof.after
                        else f"up to {total:,.0f} ms of statement time so far reads "
                        f"~{rows:,} rows per scan; an index reads the matching rows only "
                        "(unproved: no hypopg)"
                    ),
                    fix_sql=fix
                    if not partitioned
                    else fix.replace(" CONCURRENTLY", "") + "  -- partitioned: blocks writes",
                    action=None if partitioned else "create_index",
                    table=f"{schema}.{table}",
                    index=f"{schema}.{index_name(table, columns)}",
                    queries=[
                        {k: s[k] for k in ("queryid", "query", "calls", "mean_ms", "total_ms")}
                        for s in served[:5]
                    ],
                    proof=proof,
                )
            )
    return found
