"""Copying and verifying the rows `db shards apply` moves (floyo_scale/db/shards.py): the
COPY between shards, the order-free checksums, and the fast path's checks (where the role may
set `session_replication_role = replica`, one query per foreign key and batch instead of the
per-row checks; docs/sharding.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from ..progress import Reporter, Step
from .connect import DatabaseError, Shard
from .pgtools import Table
from .shard_plan import SCHEMAS, Layout

SEQUENCE_GAP = 2**40  # ids a shard may issue before reaching the next new shard's range


def checksum_query(
    table: Table, where: sql.Composable | None, group: str | None, text: bool = True
) -> sql.Composed:
    """Row count and checksum of `table`'s rows (per `group` value when given): the sum of a
    64-bit hash of each row, which does not depend on the rows' order (no sort). The hash is
    `hash_record_extended` of the row (its columns' own hash functions: what hash
    partitioning relies on being the same on every server; a timestamptz hashes its instant,
    whatever the session's TimeZone), or with `text` the first 64 bits of the md5 of the
    row's text (every type has one; the sessions fix TimeZone and DateStyle for it)."""
    row = (
        sql.SQL("('x' || left(md5(r::text), 16))::bit(64)::bigint")
        if text
        else sql.SQL("hash_record_extended(r, 0)")
    )
    select = sql.SQL(
        "SELECT {g}count(*), coalesce(sum({row}::numeric), 0)::text FROM {t} AS r{w}{gb}"
    ).format(
        g=sql.SQL("{}::text, ").format(sql.Identifier(group)) if group else sql.SQL(""),
        row=row,
        t=sql.Identifier(table.schema, table.name),
        w=sql.SQL(" WHERE ") + where if where is not None else sql.SQL(""),
        gb=sql.SQL(" GROUP BY 1") if group else sql.SQL(""),
    )
    return select


def shard_checksums(
    src: Any, dst: Any, layout: Layout, name: str, where: sql.Composable, keys: list[str]
) -> tuple[Any, Any]:
    """(source's, target's) count and checksum of table `name`'s rows of `keys`."""
    table = layout.keyed[name][0]
    if name not in layout.text_hashed:
        query = checksum_query(table, where, None, text=False)
        try:
            with src.transaction(), dst.transaction():
                return src.execute(query, (keys,)).fetchone(), dst.execute(
                    query, (keys,)
                ).fetchone()
        except (psycopg.errors.UndefinedFunction, psycopg.errors.FeatureNotSupported):
            layout.text_hashed.add(name)  # a column type without a hash function (json...)
    query = checksum_query(table, where, None)
    return src.execute(query, (keys,)).fetchone(), dst.execute(query, (keys,)).fetchone()


def copy_rows(
    src: Any, dst: Any, table: Table, where: sql.Composable, params: Sequence[Any]
) -> int:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
    name = sql.Identifier(table.schema, table.name)
    out = sql.SQL("COPY (SELECT {c} FROM {t} WHERE {w}) TO STDOUT (FORMAT binary)").format(
        c=columns, t=name, w=where
    )
    into = sql.SQL("COPY {t} ({c}) FROM STDIN (FORMAT binary)").format(t=name, c=columns)
    with src.cursor().copy(out, params) as reader, dst.cursor().copy(into) as writer:
        for block in reader:
            writer.write(block)
    return 0


def copy_whole_table(src: Any, dst: Any, table: Table, target: Shard) -> int:
    """An unkeyed table from shard 0 to a new shard, verified (count and checksum)."""
    checksum = checksum_query(table, None, None)
    with dst.transaction():
        have = dst.execute(checksum).fetchone()
        want = src.execute(checksum).fetchone()
        if have == want:
            return 0
        if have[0] != 0:
            raise UsageError(
                f"{table.qualified} on {target.label} has rows that differ from shard 0's",
                "an unkeyed table is copied to a new shard only when it is empty there; "
                "empty it (or make it equal) and rerun",
            )
        copy_rows(src, dst, table, sql.SQL("true"), ())
        got = dst.execute(checksum).fetchone()
        if got != want:
            raise DatabaseError(
                f"the copy of {table.qualified} on {target.label} does not match shard 0 "
                f"({got[0]} rows, {want[0]} expected)",
                "rerun: the copy was rolled back",
            )
        return int(want[0])


def fast_copies(conns: list[Any], from_shards: int, to: int, say: Reporter) -> dict[int, bool]:
    """Per shard: whether the mover's session may set `session_replication_role = replica`
    there (a superuser, or on PostgreSQL 15+ a role granted SET on it), so the rows copied to
    it (and deleted from it) fire no trigger, their foreign keys checked once per batch by one
    query per constraint instead of row by row. Where it may not, the normal per-row checks
    run, and the progress says so."""
    fast: dict[int, bool] = {}
    for index in range(to):
        conn = conns[index]
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("SET LOCAL session_replication_role = replica")
            fast[index] = True
        except psycopg.errors.InsufficientPrivilege:
            fast[index] = False
    slow = [i for i, ok in fast.items() if not ok]
    if slow:
        say(
            Step(
                f"shard(s) {', '.join(map(str, slow))}",
                "check foreign keys",
                "this role may not set session_replication_role (superuser, or GRANT SET ON "
                "PARAMETER session_replication_role on PostgreSQL 15+), so the moved rows' "
                "foreign keys are checked row by row (slower)",
                done=True,
            )
        )
    return fast


def _references(
    conn: Any, layout: Layout, *, parents: bool = False
) -> list[tuple[str, str, list[str], list[str]]]:
    """The foreign keys of the keyed tables (to them, with `parents`): (child, parent, child
    columns, parent columns), tables as schema.name (the child's quoted when `parents`)."""
    rows = conn.execute(
        """
        SELECT k.conrelid::regclass::text, k.confrelid::regclass::text,
          (SELECT array_agg(a.attname::text ORDER BY u.i) FROM unnest(k.conkey)
             WITH ORDINALITY AS u(n, i) JOIN pg_attribute a
             ON a.attrelid = k.conrelid AND a.attnum = u.n),
          (SELECT array_agg(a.attname::text ORDER BY u.i) FROM unnest(k.confkey)
             WITH ORDINALITY AS u(n, i) JOIN pg_attribute a
             ON a.attrelid = k.confrelid AND a.attnum = u.n),
          cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace cn ON cn.oid = c.relnamespace
        JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE k.contype = 'f' AND NOT c.relispartition
        """
    ).fetchall()
    if parents:
        return [
            (quoted if name not in layout.keyed else name, pname, list(cols), list(pcols))
            for quoted, _, cols, pcols, name, pname in rows
            if pname in layout.keyed
        ]
    return [
        (name, parent, list(cols), list(pcols))
        for _, parent, cols, pcols, name, _ in rows
        if name in layout.keyed
    ]


def check_referrers(
    src: Any, layout: Layout, filters: dict[str, sql.Composed], keys: list[str], source: Shard
) -> None:
    """With the per-row checks off, before the source deletes the batch's rows: no row that
    stays (another key's, or an unkeyed table's) refers to one of them. A foreign key from a
    table's key column to its parent's key column cannot (its rows go with the parent's)."""
    for child, parent, cols, pcols in _references(src, layout, parents=True):
        if parent not in layout.keyed:
            continue
        ptable, pcolumn = layout.keyed[parent]
        same_key = child in layout.keyed and cols == [layout.keyed[child][1]] and pcols == [pcolumn]
        if same_key:
            continue
        # per moving parent row, an index probe of the child (LIMIT 1 keeps it a nested loop:
        # a hash join would read the whole child table for every batch)
        query = sql.SQL(
            "SELECT count(*) FROM {p} AS p, LATERAL (SELECT 1 FROM {c} AS c WHERE {match}{other} "
            "LIMIT 1) AS staying WHERE {pf}"
        ).format(
            c=(
                sql.Identifier(layout.keyed[child][0].schema, layout.keyed[child][0].name)
                if child in layout.keyed
                else sql.SQL(child)  # regclass text, quoted
            ),
            match=sql.SQL(" AND ").join(
                sql.SQL("c.{} = p.{}").format(sql.Identifier(c), sql.Identifier(pc))
                for c, pc in zip(cols, pcols, strict=True)
            ),
            other=(  # unqualified, its column resolves to c, the innermost
                sql.SQL(" AND NOT coalesce({}, false)").format(filters[child])
                if child in layout.keyed
                else sql.SQL("")
            ),
            p=sql.Identifier(ptable.schema, ptable.name),
            pf=filters[parent],
        )
        params: tuple[Any, ...] = (keys,)
        if child in layout.keyed:
            params = (keys, keys)
        staying = src.execute(query, params).fetchone()[0]
        if staying:
            raise DatabaseError(
                f"{staying} row(s) of {child} on {source.label} that stay there refer to rows of "
                f"{parent} that are moving (foreign key {', '.join(cols)})",
                "the copies were made but nothing was deleted from the source; give those rows "
                "the key of the row they refer to, then rerun `db shards apply`",
            )


def check_references(
    dst: Any, layout: Layout, filters: dict[str, sql.Composed], keys: list[str], target: Shard
) -> None:
    """With the per-row checks off (`session_replication_role = replica`), every foreign key
    of the rows just copied, one query per constraint for the whole batch."""
    for child, parent, cols, pcols in _references(dst, layout):
        table = layout.keyed[child][0]
        query = sql.SQL(
            "SELECT count(*) FROM {t} AS c WHERE {f} AND {notnull} AND NOT EXISTS "
            "(SELECT 1 FROM {p} AS p WHERE {match})"
        ).format(
            t=sql.Identifier(table.schema, table.name),
            f=filters[child],
            notnull=sql.SQL(" AND ").join(
                sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in cols
            ),
            p=sql.SQL(parent),
            match=sql.SQL(" AND ").join(
                sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(c))
                for c, pc in zip(cols, pcols, strict=True)
            ),
        )
        missing = dst.execute(query, (keys,)).fetchone()[0]
        if missing:
            raise DatabaseError(
                f"{missing} copied row(s) of {child} on {target.label} refer to rows of "
                f"{parent} that are not there (foreign key {', '.join(cols)})",
                "nothing was deleted; copy the missing rows (an unkeyed table written on shard "
                "0 after the move began?) and rerun `db shards apply`",
            )


def advance_sequences(sources: Sequence[Any], target: Any, step: int) -> None:
    """Each sequence of a new shard past every old shard's position: bigint sequences
    `step` x 2^40 past it (so ids stay unique across shards when keys move again later),
    others just past it (their ids are unique per shard only: docs/sharding.md)."""
    query = (
        "SELECT schemaname, sequencename, coalesce(last_value, start_value), "
        "data_type::text FROM pg_sequences WHERE schemaname = ANY(%s)"
    )
    highest: dict[tuple[str, str], int] = {}
    for conn in sources:
        for schema, name, value, _ in conn.execute(query, (list(SCHEMAS),)):
            highest[(schema, name)] = max(highest.get((schema, name), value), value)
    for schema, name, _, kind in target.execute(query, (list(SCHEMAS),)).fetchall():
        if (schema, name) in highest:
            value = highest[(schema, name)] + (step * SEQUENCE_GAP if kind == "bigint" else 1)
            target.execute(
                sql.SQL("SELECT setval({}, greatest(%s, (SELECT last_value FROM {})))").format(
                    sql.Literal(f"{schema}.{name}"), sql.Identifier(schema, name)
                ),
                (value,),
            )
