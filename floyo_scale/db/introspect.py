"""What the database says about a table: columns, keys, indexes, grants, policies, partitions.

Every query is by OID or by quoted name through parameters; nothing is formatted into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg

RANGE_BOUND = re.compile(r"^FOR VALUES FROM \((.+)\) TO \((.+)\)$")

TIME_TYPES = ("date", "timestamp without time zone", "timestamp with time zone")

_PRECISION = re.compile(r"^timestamp\(\d+\)( with(out)? time zone)$")


def time_type(type_name: str) -> str | None:
    """The TIME_TYPES entry a column type is, its precision aside (`timestamp(3) with time
    zone` is a `timestamp with time zone`: the range bounds and Parquet type are the same),
    or None for any other type."""
    plain = _PRECISION.sub(r"timestamp\1", type_name)
    return plain if plain in TIME_TYPES else None


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type, e.g. "timestamp with time zone", "bigint"
    not_null: bool
    generated: bool  # GENERATED ALWAYS AS (...) STORED: never inserted into
    identity: str  # "", "a" (ALWAYS) or "d" (BY DEFAULT)


@dataclass(frozen=True)
class Table:
    oid: int
    schema: str
    name: str
    kind: str  # "r" ordinary, "p" partitioned
    owner: str
    rls: bool
    force_rls: bool
    replica_identity: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Partition:
    schema: str
    name: str
    lower: datetime | None  # None: MINVALUE, or the default partition
    upper: datetime | None
    default: bool
    detach_pending: bool


def table(conn: psycopg.Connection[Any], schema: str, name: str) -> Table | None:
    row = conn.execute(
        """
        SELECT c.oid, c.relkind, pg_get_userbyid(c.relowner), c.relrowsecurity,
               c.relforcerowsecurity, c.relreplident
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
        """,
        (schema, name),
    ).fetchone()
    if row is None:
        return None
    oid, kind, owner, rls, force, replident = row
    cols = conn.execute(
        """
        SELECT attname, format_type(atttypid, atttypmod), attnotnull, attgenerated <> '',
               attidentity
        FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped
        ORDER BY attnum
        """,
        (oid,),
    ).fetchall()
    return Table(
        oid=oid,
        schema=schema,
        name=name,
        kind=kind,
        owner=owner,
        rls=rls,
        force_rls=force,
        replica_identity=replident,
        columns=tuple(Column(n, t, nn, g, i) for n, t, nn, g, i in cols),
    )


def partition_key(conn: psycopg.Connection[Any], oid: int) -> tuple[str, list[str]] | None:
    """(strategy, column names) of a partitioned table: ("r", ["created_at"])."""
    row = conn.execute(
        """
        SELECT p.partstrat,
               ARRAY(SELECT a.attname FROM unnest(p.partattrs::int2[]) AS k(attnum)
                     JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.attnum)
        FROM pg_partitioned_table p WHERE p.partrelid = %s
        """,
        (oid,),
    ).fetchone()
    return (row[0], list(row[1])) if row else None


def parse_bound(text: str) -> datetime | None:
    """A bound from pg_get_expr(relpartbound) (session TimeZone UTC): `'2026-11-01 00:00:00+00'`
    -> an aware datetime; MINVALUE/MAXVALUE -> None."""
    text = text.strip()
    if text.upper() in ("MINVALUE", "MAXVALUE"):
        return None
    value = text.strip("'")
    if len(value) == 10:
        d = date.fromisoformat(value)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def partitions(conn: psycopg.Connection[Any], oid: int) -> list[Partition]:
    rows = conn.execute(
        """
        SELECT n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = %s ORDER BY c.relname
        """,
        (oid,),
    ).fetchall()
    found = []
    for schema, name, bound, pending in rows:
        if bound == "DEFAULT":
            found.append(Partition(schema, name, None, None, True, pending))
            continue
        match = RANGE_BOUND.match(bound or "")
        lower = parse_bound(match.group(1)) if match else None
        upper = parse_bound(match.group(2)) if match else None
        found.append(Partition(schema, name, lower, upper, False, pending))
    return found


def relation_exists(conn: psycopg.Connection[Any], schema: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return row is not None
