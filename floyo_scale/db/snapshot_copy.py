"""`db migrate`'s initial copy, the way `pgcopydb clone` does it: the tables' rows copied in
parallel at the snapshot of the replication slot the subscription later starts from, into
tables without their indexes and constraints, which are built after the data.

1. The schema step loads the source's `pg_dump --section=pre-data` (tables, types, functions,
   sequences) and stores its `--section=post-data` (indexes, constraints, triggers, ...) in
   `_floyo_migrate.post_data`, one row per object, in the same transaction.
2. `create_slot` makes the forward subscription's slot on a replication connection with
   `EXPORT_SNAPSHOT`: the slot's changes start exactly where the snapshot ends.
3. `copy_at_snapshot`: each table (a large one split into ranges of pages) is copied by
   `jobs` pairs of `psql` at once, each reading in a transaction that imported that snapshot
   (`SET TRANSACTION SNAPSHOT`): binary `COPY ... TO STDOUT | COPY ... FROM STDIN`.
4. `run_post_data`: the stored objects built, indexes and primary keys `jobs` at a time; each
   object is marked done in the transaction that builds it, so a rerun builds what is left.
   Then `analyze`: the tables' statistics.
5. The subscription is created on that slot with `copy_data = false`: every change committed
   after the snapshot, and only those, replicates (no row lost, none applied twice).

A crash before every range is copied leaves an unusable snapshot: the rerun drops the slot,
empties the target's tables and copies again. After that, the slot is kept (it is a
permanent one) and the rerun goes on with the post-data objects and the subscription.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from .connect import APPLICATION_NAME, DatabaseError, Shard, connect
from .pgtools import Table, program, without_password

POST_DATA_SQL = """
CREATE SCHEMA IF NOT EXISTS _floyo_migrate;
CREATE TABLE IF NOT EXISTS _floyo_migrate.post_data (
  n int PRIMARY KEY, kind text NOT NULL, statement text NOT NULL,
  done boolean NOT NULL DEFAULT false);
"""

# post-data objects built `jobs` at a time: each locks only its own table, and they do not
# depend on one another (pg_dump writes them before the ones that may: index attachments,
# foreign keys, triggers, which are built one at a time in the dump's order)
PARALLEL_KINDS = ("INDEX", "CONSTRAINT")

_HEADER = re.compile(rb"^-- Name: [^\n]*?; Type: ([A-Z ]+);[^\n]*$", re.MULTILINE)

Crash = Callable[[str], None]


def post_data_entries(script: bytes) -> tuple[str, list[tuple[str, str]]]:
    """`pg_dump --section=post-data` output split into its session settings (the `SET`
    lines before the first object) and its objects: (Type from the dump's header, SQL).
    psql's own commands (`\\restrict`) are left out."""

    def plain(text: bytes) -> str:
        lines = [line for line in text.split(b"\n") if not line.startswith(b"\\")]
        return b"\n".join(lines).decode().strip()

    heads = list(_HEADER.finditer(script))
    if not heads:
        return plain(script), []
    preamble = plain(script[: heads[0].start()])
    entries = []
    for head, after in zip(heads, [*heads[1:], None], strict=True):
        body = plain(script[head.end() : after.start() if after else len(script)])
        body = "\n".join(line for line in body.split("\n") if line.strip() != "--").strip()
        if body:
            entries.append((head.group(1).decode(), body))
    return preamble, entries


def store_post_data(script: bytes) -> bytes:
    """SQL that saves the post-data objects into `_floyo_migrate.post_data` (appended to the
    pre-data load, so both commit together). Row 0 holds the session settings."""
    preamble, entries = post_data_entries(script)
    tag = f"$floyo_{secrets.token_hex(8)}$"
    rows = [(0, "SETTINGS", preamble)] + [(i, k, s) for i, (k, s) in enumerate(entries, 1)]
    values = ",\n".join(f"({n}, '{kind}', {tag}{text}{tag})" for n, kind, text in rows)
    out = POST_DATA_SQL + (
        "INSERT INTO _floyo_migrate.post_data (n, kind, statement) VALUES\n"
        f"{values}\nON CONFLICT (n) DO NOTHING;\n"
    )
    return out.encode()


def has_post_data(conn: Any) -> bool:
    """The schema step stored the post-data objects (it did not load the schema whole)."""
    row = conn.execute("SELECT to_regclass('_floyo_migrate.post_data') IS NOT NULL").fetchone()
    return bool(row and row[0])


def run_post_data(target: Shard, jobs: int, crash: Crash) -> int:
    """Build the stored post-data objects not yet built (all of them on a first run); returns
    how many were built. Nothing to do on a target whose schema came whole (before this)."""
    with connect(target) as conn:
        if not has_post_data(conn):
            return 0
        stored = conn.execute(
            "SELECT n, kind, statement, done FROM _floyo_migrate.post_data ORDER BY n"
        ).fetchall()
    settings = next((s for n, _, s, _ in stored if n == 0), "")
    todo = [(n, kind, text) for n, kind, text, done in stored if n > 0 and not done]
    batches: list[list[tuple[int, str, str]]] = []
    for entry in todo:
        if batches and entry[1] in PARALLEL_KINDS and batches[-1][-1][1] in PARALLEL_KINDS:
            batches[-1].append(entry)
        else:
            batches.append([entry])

    def build(entry: tuple[int, str, str]) -> None:
        n, _, text = entry
        with connect(target) as conn:
            if settings:
                conn.execute(settings)
            with conn.transaction():
                conn.execute(text)
                conn.execute("UPDATE _floyo_migrate.post_data SET done = true WHERE n = %s", (n,))
        crash("post-data-built")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for batch in batches:
            list(pool.map(build, batch))  # re-raises the first failure
    return len(todo)


def analyze(target: Shard, found: dict[str, Table], jobs: int) -> None:
    """ANALYZE each copied table, `jobs` at a time: the target's planner has statistics from
    the start (as `pgcopydb clone`'s VACUUM ANALYZE gives it), not after autovacuum's turn."""

    def one(table: Table) -> None:
        with connect(target) as conn:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table.schema, table.name)))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, found.values()))


# -- the slot and the copy -------------------------------------------------------------------


def create_slot(source: Shard, name: str) -> tuple[psycopg.Connection[Any], str, str]:
    """Logical slot `name` (pgoutput) made on a replication connection, exporting its
    snapshot: returns the connection (the snapshot lives while it stays open and idle), the
    slot's consistent LSN and the snapshot's name."""
    conn = connect(source, replication="database")
    try:
        row = conn.execute(
            sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT").format(
                sql.Identifier(name)
            )
        ).fetchone()
    except BaseException:
        conn.close()
        raise
    assert row is not None
    return conn, str(row[1]), str(row[2])


def drop_slot(conn: Any, name: str, timeout: float = 30.0) -> bool:
    """Drop slot `name` if it exists, waiting (at most `timeout`) for a session of a run that
    died to let it go. Returns whether there was one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            row = conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (name,),
            ).fetchone()
            return row is not None
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class Chunk:
    """A table, or a range of its pages [first, last) (last None: to the end)."""

    table: Table
    partitioned: bool
    pages: int
    first: int | None = None
    last: int | None = None


def plan(conn: Any, found: dict[str, Table], jobs: int, chunk_pages: int | None) -> list[Chunk]:
    """The copy's pieces, largest first: a table larger than `chunk_pages` pages (by default
    an even share of all pages between 2 x `jobs` pieces, at least 1,000 pages: 8 MB) is split
    into ranges of pages, copied at once by several sessions (a TID range scan each)."""
    rows = conn.execute(
        """
        SELECT n.nspname || '.' || c.relname, c.relkind = 'p',
               coalesce((SELECT sum(pg_relation_size(t.relid))
                         FROM pg_partition_tree(c.oid) t), 0)
                 / current_setting('block_size')::bigint
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname = ANY(%s)
        """,
        (list(found),),
    ).fetchall()
    total = sum(int(p) for _, _, p in rows)
    size = chunk_pages or max(1000, -(-total // (2 * max(1, jobs))))
    chunks: list[Chunk] = []
    for name, partitioned, pages in rows:
        table, pages = found[name], int(pages)
        if partitioned or pages <= size:
            chunks.append(Chunk(table, bool(partitioned), pages))
            continue
        starts = list(range(0, pages, size))
        for first, last in zip(starts, [*starts[1:], None], strict=True):
            chunks.append(Chunk(table, False, (last or pages) - first, first, last))
    return sorted(chunks, key=lambda c: -c.pages)


def _copy_out(chunk: Chunk) -> sql.Composed:
    table = chunk.table
    name = sql.Identifier(table.schema, table.name)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
    if chunk.first is None and not chunk.partitioned:
        return sql.SQL("COPY {} ({}) TO STDOUT (FORMAT binary)").format(name, cols)
    where: sql.Composable = sql.SQL("")
    if chunk.first is not None:
        where = sql.SQL(" WHERE ctid >= {}::tid").format(sql.Literal(f"({chunk.first},0)"))
        if chunk.last is not None:
            where += sql.SQL(" AND ctid < {}::tid").format(sql.Literal(f"({chunk.last},0)"))
    only = sql.SQL("" if chunk.partitioned else "ONLY ")
    return sql.SQL("COPY (SELECT {} FROM {}{}{}) TO STDOUT (FORMAT binary)").format(
        cols, only, name, where
    )


def copy_at_snapshot(
    source: Shard,
    target: Shard,
    chunks: Sequence[Chunk],
    snapshot: str,
    jobs: int,
    crash: Crash,
    *,
    bin_dir: str | Path | None = None,
) -> int:
    """Copy every piece from `source` as of `snapshot` into `target`, `jobs` at a time;
    returns the rows copied (COPY's counts). Each piece is a `psql` pair joined by a pipe
    (`COPY ... TO STDOUT` in a transaction that imported the snapshot, into `COPY ... FROM
    STDIN`): the rows never pass through Python, whose one lock would serialize the sessions
    and which handles COPY a row at a time. After the first failure no new piece starts, and
    it is raised: the copy as a whole did not happen (the rerun starts it again)."""
    psql = program("psql", bin_dir)
    src_info, src_env = without_password(source)
    dst_info, dst_env = without_password(target)
    for env in (src_env, dst_env):
        env["PGAPPNAME"] = APPLICATION_NAME
    failed = threading.Event()

    def one(chunk: Chunk) -> int:
        if failed.is_set():
            return 0
        try:
            table = chunk.table
            into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table.schema, table.name),
                sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
            )
            begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            use = f"SET TRANSACTION SNAPSHOT '{snapshot}'"
            out = _copy_out(chunk).as_string(None)
            base = [psql, "-X", "-v", "ON_ERROR_STOP=1", "--dbname"]
            reader = subprocess.Popen(
                [*base, src_info, "-q", "-c", begin, "-c", use, "-c", out],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=src_env,
            )
            writer = subprocess.Popen(
                [*base, dst_info, "-c", into.as_string(None)],
                stdin=reader.stdout,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dst_env,
            )
            assert reader.stdout is not None
            reader.stdout.close()  # the writer's now: it sees the end when the reader exits
            wrote, wrote_err = writer.communicate()
            _, read_err = reader.communicate()
            for shard, proc, err in ((source, reader, read_err), (target, writer, wrote_err)):
                if proc.returncode != 0:
                    raise DatabaseError(
                        f"copying {table.qualified} from {source.label} to {target.label} "
                        f"failed: {shard.scrub(err.decode(errors='replace').strip())[:1000]}",
                        "rerun `db migrate`: the copy starts again from an empty target",
                    )
            found = re.search(rb"^COPY (\d+)", wrote, re.MULTILINE)
            crash("copy-chunk-copied")  # committed on the target
            return int(found.group(1)) if found else 0
        except BaseException:
            failed.set()
            raise

    if not chunks:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(chunks)))) as pool:
        futures = [pool.submit(one, c) for c in chunks]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return sum(f.result() for f in futures)


def empty(conn: Any, found: dict[str, Table]) -> None:
    """TRUNCATE the target's copies of `found` (what a copy that did not finish left)."""
    if found:
        conn.execute(
            sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in found.values())
            )
        )
