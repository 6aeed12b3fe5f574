#!/usr/bin/env python3
"""How long `floyo-scale status` takes, against loopback stand-ins of every source.

    python3 bench/status.py [--runs 7] [--timeout 2]

Starts what the tests use (tests/observe/): a real PostgreSQL behind the Supabase contract
server (its routes, without re-checking every request against the contract, which the tests
do), the Vercel and Cost Explorer stand-ins, moto for CloudWatch. Then runs whole
`floyo-scale status --stack production` processes, interleaved with a baseline
(`python -c "import pydantic, yaml"`):

- all answering: every source answers at once (the inventory cache is warm after the first,
  untimed run; one cold run, cache emptied, is shown apart);
- one hung: the Vercel stand-in never answers; `--timeout` bounds it.

Prints the median, min and max wall time of each and checks the targets of issue 11: all
answering within 1.5 s, one hung within timeout + 1 s; exit 1 if a median misses one. Sentry
is not read (the repository's stacks configure none).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

ENTRY = "from floyo_scale.cli import run; run()"
ALL_TARGET = 1.5
HUNG_SLACK = 1.0


def start_world(scratch: Path):
    from moto.server import ThreadedMotoServer
    from observe.conftest import VERCEL_TOKEN, put_aws_metrics, vercel_usage
    from observe.standins import StandIn, ce_route, vercel_route
    from pg import start_server
    from supabase.contract_server import CONTRACT_PATH, TOKEN, Contract, ContractServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    folder = scratch / "pg"
    folder.mkdir(mode=0o755)
    pg = start_server(folder / "data")
    database = pg.create_database()

    class Answering(Contract):
        """The contract's routes without checking each request against it (the tests do):
        here the stand-in should answer at once, so the figures are floyo-scale's."""

        def check_request(self, *args: object, **kw: object) -> list[str]:
            return []

        def check_response(self, *args: object, **kw: object) -> list[str]:
            return []

    supabase = ContractServer(Answering(CONTRACT_PATH), tokens={TOKEN}).start()
    supabase.add_organization("floyo", "pro")
    ref = supabase.add_project(organization_slug="floyo", database_url=database)
    vercel = StandIn("vercel", vercel_route, token=VERCEL_TOKEN).start()
    vercel.state["summary"] = vercel_usage(300, 20, 420, 2, 9998)
    ce = StandIn("ce", ce_route).start()
    ce.state.update(actual="9.50", forecast="5.25")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="AKIAFLOYOTESTKEY0001", AWS_SECRET_ACCESS_KEY="x")
    import observe.conftest as world_conf

    world_conf.NOW = datetime.now(UTC) - timedelta(minutes=5)  # metrics inside the windows
    put_aws_metrics(moto_url)
    (scratch / "aws").write_text("")
    env = {
        **os.environ,
        "SUPABASE_ACCESS_TOKEN": TOKEN,
        "VERCEL_API_TOKEN": VERCEL_TOKEN,
        "FLOYO_SUPABASE_API_URL": supabase.url,
        "FLOYO_VERCEL_API_URL": vercel.url,
        "FLOYO_TEST_LOOPBACK": "1",  # the transport admits the loopback stand-ins only so
        "AWS_CONFIG_FILE": str(scratch / "aws"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "aws"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_COST_EXPLORER": ce.url,
        "PULUMI_BACKEND_URL": f"file://{scratch / 'state'}",
        "PYTHONPYCACHEPREFIX": str(scratch / "pycache"),
        "PYTHONPATH": str(ROOT),  # this checkout's floyo_scale, whatever is installed
    }
    # byte code cached (in PYTHONPYCACHEPREFIX), as an installed package's would be: with
    # PYTHONDONTWRITEBYTECODE=1 every run would compile floyo_scale again (bench/run.py too)
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)

    def stop() -> None:
        vercel.stop()
        ce.stop()
        supabase.stop()
        moto.stop()
        pg.stop()

    return env, ref, vercel, stop


INSIDE: dict[str, list[float]] = {}  # what the JSON says: the library's and each source's time


def timed(argv: list[str], env: dict[str, str], cwd: Path, name: str = "") -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if name and done.stdout.startswith("{"):
        data = json.loads(done.stdout)
        INSIDE.setdefault(f"{name}: status_report()", []).append(data["seconds"])
        for source in data["sources"]:
            if source["state"] in ("ok", "failed"):
                INSIDE.setdefault(f"{name}: {source['name']}", []).append(source["seconds"])
    return seconds, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="floyo-bench-status-"))
    scratch.chmod(0o755)
    workspace = scratch / "repo"
    for folder in ("phases", "stacks"):
        shutil.copytree(ROOT / folder, workspace / folder)
    # production's $300 budget is 80 % spent by its plans alone; within thresholds here
    stack = workspace / "stacks" / "production.yaml"
    stack.write_text(stack.read_text().replace("monthly_usd: 300", "monthly_usd: 1000"))
    env, ref, vercel, stop = start_world(scratch)
    try:
        status = [sys.executable, "-c", ENTRY, "status", "--stack", "production",
                  "--supabase-ref", ref, "--format", "json"]  # fmt: skip
        baseline = [sys.executable, "-c", "import pydantic, yaml"]
        cache = workspace / ".floyo" / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        cold, code = timed(status, env, workspace)
        print(f"cold run (no inventory cache): {cold:.2f} s, exit {code}")
        times: dict[str, list[float]] = {"baseline": [], "all answering": [], "one hung": []}
        codes: dict[str, set[int]] = {k: set() for k in times}
        hung = [*status, "--timeout", str(args.timeout)]
        for _ in range(args.runs):
            for name, argv in (("baseline", baseline), ("all answering", status)):
                seconds, code = timed(argv, env, workspace, name if argv is status else "")
                times[name].append(seconds)
                codes[name].add(code)
            vercel.hang_seconds = 3600
            seconds, code = timed(hung, env, workspace, "one hung")
            vercel.hang_seconds = 0
            times["one hung"].append(seconds)
            codes["one hung"].add(code)
    finally:
        vercel.hang_seconds = 0
        stop()
        shutil.rmtree(scratch, ignore_errors=True)

    base = statistics.median(times["baseline"])
    print(f"\n{'run':<16}{'median':>9}{'min':>9}{'max':>9}{'x baseline':>12}  exit")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:<16}{median:>8.2f}s{min(values):>8.2f}s{max(values):>8.2f}s"
            f"{median / base:>11.1f}x  {sorted(codes[name])}"
        )
    print("\ninside the process (from --format json), median seconds:")
    for name, values in INSIDE.items():
        print(f"  {name:<36}{statistics.median(values):>6.2f}")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ok = True
    all_median = statistics.median(times["all answering"])
    hung_median = statistics.median(times["one hung"])
    if all_median > ALL_TARGET:
        print(f"all answering: {all_median:.2f} s > {ALL_TARGET} s")
        ok = False
    if hung_median > args.timeout + HUNG_SLACK:
        print(f"one hung: {hung_median:.2f} s > timeout {args.timeout} + {HUNG_SLACK} s")
        ok = False
    if codes["all answering"] != {0} or codes["one hung"] != {4}:
        print(f"unexpected exit codes: {codes}")
        ok = False
    print("targets met" if ok else "targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
