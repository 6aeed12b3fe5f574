"""PostgreSQL's own client programs (`pg_dump`, `psql`), run without a password on their
command line, and the catalogue queries `db shards` and `db migrate` share.

The programs come from `FLOYO_PG_BIN` (a folder) if set, else from PATH. Use a `pg_dump` at
least as new as the newest server involved (Supabase creates PostgreSQL 17 projects; older
ones may still run 15): Debian's `postgresql-client-17`, Homebrew's `libpq`, or the official
installers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo

from ..errors import UsageError
from .connect import DatabaseError, Shard


def program(name: str, bin_dir: str | Path | None = None) -> str:
    """The path of `pg_dump` or `psql`: from `bin_dir`, FLOYO_PG_BIN, or PATH."""
    folder = bin_dir or os.environ.get("FLOYO_PG_BIN")
    if folder:
        path = Path(folder) / name
        if path.exists():
            return str(path)
        raise UsageError(
            f"{name} is not in {folder}", "set FLOYO_PG_BIN to the folder holding pg_dump and psql"
        )
    found = shutil.which(name)
    if not found:
        raise UsageError(
            f"{name} is not installed (it is not on PATH)",
            "install PostgreSQL's client programs (Debian: apt-get install postgresql-client; "
            "macOS: brew install libpq), or set FLOYO_PG_BIN to the folder that has them",
        )
    return found


def without_password(shard: Shard) -> tuple[str, dict[str, str]]:
    """A conninfo string without the password, and the environment that carries it."""
    params = conninfo.conninfo_to_dict(shard.url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def copy_schema(
    source: Shard,
    target: Shard,
    schemas: Sequence[str],
    *,
    bin_dir: str | Path | None = None,
    exclude_tables: Sequence[str] = (),
) -> None:
    """`pg_dump --schema-only --no-owner --schema=S... source | psql target`, stopping at the
    first error. Passwords travel in PGPASSWORD, never on a command line."""
    script = dump_schema(source, schemas, bin_dir=bin_dir, exclude_tables=exclude_tables)
    load_script(target, script, bin_dir=bin_dir)


def dump_schema(
    source: Shard,
    schemas: Sequence[str],
    *,
    bin_dir: str | Path | None = None,
    exclude_tables: Sequence[str] = (),
    section: str | None = None,
) -> bytes:
    """`pg_dump --schema-only --no-owner --schema=S...` of `source` (only `section`,
    "pre-data" or "post-data", when given), without the CREATE SCHEMA lines of `schemas`
    (the target already has them: a new Supabase project or RDS instance does)."""
    dump_info, dump_env = without_password(source)
    args = [program("pg_dump", bin_dir), "--schema-only", "--no-owner", "--dbname", dump_info]
    if section:
        args += [f"--section={section}"]
    for schema in schemas:
        args += ["--schema", schema]
    for table in exclude_tables:
        args += ["--exclude-table", table]
    dump = subprocess.run(args, capture_output=True, env=dump_env, timeout=600)
    if dump.returncode != 0:
        detail = source.scrub(dump.stderr.decode(errors="replace").strip())
        raise DatabaseError(
            f"pg_dump of {source.label} failed: {detail}",
            "check that pg_dump is at least as new as the server (FLOYO_PG_BIN)",
        )
    lines = [
        line
        for line in dump.stdout.split(b"\n")
        if not any(line.startswith(f"CREATE SCHEMA {s};".encode()) for s in schemas)
    ]
    return b"\n".join(lines)


def load_script(target: Shard, script: bytes, *, bin_dir: str | Path | None = None) -> None:
    """`psql -1 -v ON_ERROR_STOP=1` of `script` into `target`: all of it or nothing."""
    load_info, load_env = without_password(target)
    load = subprocess.run(
        [
            program("psql", bin_dir),
            "-X",
            "-q",
            "-1",
            "-v",
            "ON_ERROR_STOP=1",
            "--dbname",
            load_info,
        ],
        input=script,
        capture_output=True,
        env=load_env,
        timeout=600,
    )
    if load.returncode != 0:
        raise DatabaseError(
            f"loading the schema into {target.label} failed: "
            f"{target.scrub(load.stderr.decode(errors='replace').strip())[:2000]}",
            "the target must be empty of these tables; fix the error and rerun (nothing was "
            "deleted anywhere)",
        )


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[str, ...]  # the columns COPY writes (generated columns left out)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def tables(conn: Any, schemas: Sequence[str]) -> dict[str, Table]:
    """Ordinary and partitioned tables (not partitions) of `schemas`, by `schema.name`."""
    rows = conn.execute(
        """
        SELECT n.nspname, c.relname,
               array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '')
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        (list(schemas),),
    ).fetchall()
    return {f"{s}.{t}": Table(s, t, tuple(cols or ())) for s, t, cols in rows}


def foreign_keys(conn: Any, schemas: Sequence[str]) -> list[tuple[str, str]]:
    """(child, parent) pairs of foreign keys between tables of `schemas`."""
    rows = conn.execute(
        """
        SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
        JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE k.contype = 'f' AND cn.nspname = ANY(%s) AND pn.nspname = ANY(%s)
          AND NOT c.relispartition
        """,
        (list(schemas), list(schemas)),
    ).fetchall()
    return [(child, parent) for child, parent in rows]


def fk_order(names: Sequence[str], fks: Sequence[tuple[str, str]]) -> list[str]:
    """`names` with every parent before its children (self-references ignored); a cycle is
    an error naming its tables."""
    remaining = sorted(set(names))
    parents = {n: {p for c, p in fks if c == n and p != n and p in remaining} for n in remaining}
    order: list[str] = []
    while remaining:
        ready = [n for n in remaining if not parents[n] - set(order)]
        if not ready:
            raise UsageError(
                f"the foreign keys between {', '.join(remaining)} form a cycle",
                "rows can only be moved table by table when foreign keys have an order; make "
                "one of the constraints DEFERRABLE or drop it during the move",
            )
        order += ready
        remaining = [n for n in remaining if n not in ready]
    return order


T = TypeVar("T")


def retry_deadlock(run: Callable[[], T], attempts: int = 3) -> T:
    """`run()`, again when PostgreSQL chose it as a deadlock's victim (its transaction was
    rolled back whole)."""
    for attempt in range(attempts):
        try:
            return run()
        except psycopg.errors.DeadlockDetected:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")
