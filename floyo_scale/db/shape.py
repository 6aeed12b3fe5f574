"""What a table carries that its partitioned copy must carry too: columns, identity, indexes,
constraints, grants, policies, publications.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ..errors import UsageError
from . import introspect
from .sql import ident, split_name

if TYPE_CHECKING:
    pass
from .periods import short_name

NEW_SUFFIX = "__floyo_new"

SYNC_SUFFIX = "__floyo_sync"


@dataclass(frozen=True)
class TableSpec:
    """One entry of `database.partitioning`: the table (optionally `schema.table`) and how."""

    name: str
    column: str
    interval: str
    retention_days: int
    archive_bucket: str | None

    @property
    def schema(self) -> str:
        return split_name(self.name)[0]

    @property
    def table(self) -> str:
        return split_name(self.name)[1]


# --- online conversion ------------------------------------------------------------------------


@dataclass
class Shape:
    """What the conversion carries over, read from the catalog before it starts."""

    columns: list[str]  # inserted columns (generated ones are computed)
    pk_name: str
    pk_columns: list[str]
    keys: list[tuple[str, str, list[str]]]  # (constraint, "p"/"u", columns) incl. the PK
    foreign_keys: list[tuple[str, str]]  # (name, definition)
    indexes: list[tuple[str, str]]  # (name, definition) not backing a constraint
    triggers: list[str]  # definitions
    policies: list[sql.Composed]
    grants: list[tuple[str, str, bool]]  # (grantee, privilege, grantable)
    publications: list[str]
    serial_sequences: list[tuple[str, str]]  # (column, sequence regclass text) to re-own
    identity: list[str]  # identity columns
    comment: str | None


def read_shape(conn: psycopg.Connection[Any], spec: TableSpec, tbl: introspect.Table) -> Shape:
    oid = tbl.oid
    refs = conn.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint "
        "WHERE confrelid = %s AND contype = 'f' AND conrelid <> %s",
        (oid, oid),
    ).fetchall()
    if refs:
        raise UsageError(
            f"table {spec.name} is referenced by foreign keys ("
            + ", ".join(f"{name} on {rel}" for name, rel in refs)
            + "); a partitioned table's keys must include the partition column, so they "
            "cannot be kept",
            "drop those foreign keys (or reference a column set that includes "
            f"{spec.column}), then run `db partition` again",
        )
    views = conn.execute(
        "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        "WHERE d.refobjid = %s AND d.classid = 'pg_rewrite'::regclass AND v.oid <> %s",
        (oid, oid),
    ).fetchall()
    if views:
        raise UsageError(
            f"views depend on table {spec.name}: {', '.join(v for (v,) in views)}",
            "they would keep pointing at the old table; drop them, run `db partition`, then "
            "create them again",
        )
    cons = conn.execute(
        """
        SELECT conname, contype,
               ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.n
                     ORDER BY k.i),
               pg_get_constraintdef(oid), conindid
        FROM pg_constraint WHERE conrelid = %s AND contype IN ('p', 'u', 'f', 'x')
        ORDER BY conname
        """,
        (oid,),
    ).fetchall()
    pk = [c for c in cons if c[1] == "p"]
    if not pk:
        raise UsageError(
            f"table {spec.name} has no primary key; the online conversion copies and checks "
            "rows by it",
            f"add one (e.g. ALTER TABLE {spec.name} ADD PRIMARY KEY (id)), then run "
            "`db partition` again",
        )
    excl = [c[0] for c in cons if c[1] == "x"]
    if excl:
        raise UsageError(
            f"table {spec.name} has exclusion constraints ({', '.join(excl)}), which a "
            "partitioned table supports only with the partition column compared by equality",
            "drop them before partitioning",
        )
    index_rows = conn.execute(
        """
        SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %s
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                          AND k.conrelid = %s)
        ORDER BY c.relname
        """,
        (oid, oid),
    ).fetchall()
    triggers = [
        row[0]
        for row in conn.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s "
            "AND NOT tgisinternal AND tgname <> %s ORDER BY tgname",
            (oid, short_name(spec.table, SYNC_SUFFIX)),
        ).fetchall()
    ]
    policies = []
    for name, permissive, cmd, roles, qual, check in conn.execute(
        """
        SELECT polname, polpermissive, polcmd,
               ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
                     FROM unnest(polroles) r),
               pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
        FROM pg_policy WHERE polrelid = %s ORDER BY polname
        """,
        (oid,),
    ).fetchall():
        commands = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
        parts = [
            sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
                sql.Identifier(name),
                ident(spec.schema, spec.table),
                sql.SQL("PERMISSIVE" if permissive else "RESTRICTIVE"),
                sql.SQL(commands[cmd]),
                sql.SQL(", ").join(
                    sql.SQL("PUBLIC") if r == "public" else sql.Identifier(r) for r in roles
                ),
            )
        ]
        # the expressions come from pg_get_expr, as PostgreSQL itself prints them
        if qual is not None:
            parts.append(sql.SQL(" USING (") + sql.SQL(qual) + sql.SQL(")"))
        if check is not None:
            parts.append(sql.SQL(" WITH CHECK (") + sql.SQL(check) + sql.SQL(")"))
        policies.append(sql.Composed(parts))
    grants = [
        (grantee, privilege, grantable)
        for grantee, privilege, grantable in conn.execute(
            """
            SELECT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee) END,
                   a.privilege_type, a.is_grantable
            FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s
            ORDER BY 1, 2
            """,
            (oid,),
        ).fetchall()
    ]
    publications = [
        r[0]
        for r in conn.execute(
            "SELECT p.pubname FROM pg_publication_rel r JOIN pg_publication p "
            "ON p.oid = r.prpubid WHERE r.prrelid = %s ORDER BY 1",
            (oid,),
        ).fetchall()
    ]
    serial: list[tuple[str, str]] = []
    identity = [c.name for c in tbl.columns if c.identity]
    for c in tbl.columns:
        if c.identity:
            continue
        row = conn.execute(
            "SELECT pg_get_serial_sequence(%s, %s)",
            (sql.Identifier(tbl.schema, tbl.name).as_string(conn), c.name),
        ).fetchone()
        if row and row[0]:
            serial.append((c.name, row[0]))
    comment_row = conn.execute("SELECT obj_description(%s, 'pg_class')", (oid,)).fetchone()
    keys = [(name, kind, list(cols)) for name, kind, cols, _, _ in cons if kind in ("p", "u")]
    return Shape(
        columns=[c.name for c in tbl.columns if not c.generated],
        pk_name=pk[0][0],
        pk_columns=list(pk[0][2]),
        keys=keys,
        foreign_keys=[(name, definition) for name, kind, _, definition, _ in cons if kind == "f"],
        indexes=[(name, definition) for name, definition, _ in index_rows],
        triggers=triggers,
        policies=policies,
        grants=grants,
        publications=publications,
        serial_sequences=serial,
        identity=identity,
        comment=comment_row[0] if comment_row else None,
    )


# an identifier as pg_get_indexdef prints it: quoted (spaces, capitals, "" inside) or bare
_IDENT = r'(?:"(?:[^"]|"")*"|[^\s".]+)'
_INDEX_DEF = re.compile(
    rf"^CREATE (UNIQUE )?INDEX ({_IDENT}) ON (?:ONLY )?({_IDENT}(?:\.{_IDENT})*) (USING .+)$",
    re.DOTALL,
)


def index_statement(
    conn: psycopg.Connection[Any], spec: TableSpec, name: str, definition: str
) -> sql.Composed:
    """The index `definition` (pg_get_indexdef) re-pointed at the new table under a temporary
    name; a unique index gets the partition column appended, as PostgreSQL requires."""
    match = _INDEX_DEF.match(definition)
    if not match:
        raise UsageError(f"cannot carry over index {name} of {spec.name}: {definition}")
    unique, _, _, rest = match.groups()
    quoted = sql.Identifier(spec.column).as_string(conn)
    key_part = rest.split(" WHERE ")[0]
    if unique and not (
        quoted in key_part or re.search(rf"(?<![\w\"]){re.escape(spec.column)}(?![\w\"])", key_part)
    ):
        simple = re.match(r"^USING (\w+) \(([^()]*)\)$", rest)
        if not simple:
            raise UsageError(
                f"unique index {name} of {spec.name} does not include {spec.column} and has "
                "expressions, INCLUDE or WHERE, so it cannot be extended with it",
                f"replace it by a unique index that includes {spec.column}",
            )
        rest = f"USING {simple.group(1)} ({simple.group(2)}, {quoted})"
    return sql.SQL("CREATE {}INDEX {} ON {} ").format(
        sql.SQL("UNIQUE " if unique else ""),
        sql.Identifier(short_name(name, NEW_SUFFIX)),
        ident(spec.schema, short_name(spec.table, NEW_SUFFIX)),
    ) + sql.SQL(rest)  # pg_get_indexdef's own text, plus a quoted identifier
