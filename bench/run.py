#!/usr/bin/env python3
"""Whole-process timings of floyo-scale commands, against baselines measured in the same run.

    python3 bench/run.py [--runs 15] [--only validate] [--no-bytecode-cache]

Each command runs as its own process `--runs` times, after one warm-up run; rounds interleave
the commands so that a busy moment hits all of them alike. The table gives the median, min and
max wall time and the peak resident memory of the process (os.wait4's rusage: that child
alone, unlike RUSAGE_CHILDREN, which keeps the maximum over every child so far).
Then it checks each of TARGETS (validate at most 2x `python -c "import typer, pydantic, yaml"`,
plan of the enterprise phase at most 2x `python -c "import pulumi, pulumi_aws"`) and that the
commands marked `no_pulumi` never import Pulumi (`python -X importtime`); exit 1 if not.
Commands run the code of this checkout: `python -m floyo_scale` with PYTHONPATH on it.

Byte code is cached in a temporary PYTHONPYCACHEPREFIX, as an installed package's would be
(PYTHONDONTWRITEBYTECODE=1 would otherwise recompile floyo_scale on every run);
--no-bytecode-cache runs with the environment as it is.

To add a command, add a Command to COMMANDS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the folder holding phases/ and stacks/
# (command, baseline, at most this many times the baseline's median)
TARGETS = [
    ("validate", "import typer, pydantic, yaml", 2.0),
    ("plan enterprise", "import pulumi, pulumi_aws", 2.0),
]
HEAVY = ("pulumi", "pulumi_aws", "pulumiverse_vercel")  # never imported by no_pulumi commands


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]  # floyo-scale's arguments (or python's, with `python`)
    python: bool = False  # run `python ARGS` instead of `floyo-scale ARGS`
    no_pulumi: bool = False  # check that this command never imports Pulumi
    baseline: bool = False  # a baseline (the first one is the table's "x baseline" column)


COMMANDS: list[Command] = [
    Command(
        "import typer, pydantic, yaml",
        ["-c", "import typer, pydantic, yaml"],
        python=True,
        baseline=True,
    ),
    Command(
        "import pulumi, pulumi_aws",
        ["-c", "import pulumi, pulumi_aws"],
        python=True,
        baseline=True,
    ),
    Command("--help", ["--help"], no_pulumi=True),
    Command("validate", ["validate"], no_pulumi=True),
    Command("phases", ["phases"], no_pulumi=True),
    Command("plan growth", ["plan", "--phase", "growth"]),
    Command("plan enterprise", ["plan", "--phase", "enterprise", "--format", "json"]),
    Command("cost enterprise", ["cost", "--phase", "enterprise", "--format", "json"]),
    Command("diff growth scale", ["diff", "growth", "scale", "--format", "json"]),
]


@dataclass
class Result:
    seconds: list[float] = field(default_factory=list)
    peak_rss: int = 0  # bytes, the largest over the runs
    error: str | None = None  # the failure of the first run that failed


def argv_for(command: Command) -> list[str]:
    if command.python:
        return [sys.executable, *command.args]
    return [sys.executable, "-m", "floyo_scale", *command.args]


def run_once(command: Command, env: dict[str, str]) -> tuple[float, int, str | None]:
    """(wall seconds, peak RSS in bytes, None or what went wrong) of one run."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv_for(command), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        failure = None
        if code != 0:
            err.seek(0)
            failure = f"exit {code}: " + err.read().decode(errors="replace")[-1500:]
    rss_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    return elapsed, usage.ru_maxrss * rss_unit, failure


def imported_heavy(command: Command, env: dict[str, str]) -> list[str]:
    """The packages of HEAVY the command imports, from `python -X importtime`."""
    argv = argv_for(command)
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            top = line.rsplit("|", 1)[1].strip().split(".")[0]
            if top in HEAVY:
                found.add(top)
    return sorted(found)


def child_env(cache_dir: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if cache_dir is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--only", action="append", metavar="NAME", help="only these (repeatable)")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="see above")
    options = parser.parse_args()
    unknown = set(options.only or []) - {c.name for c in COMMANDS}
    if unknown:
        parser.error(f"unknown {sorted(unknown)}; commands: {[c.name for c in COMMANDS]}")
    commands = [c for c in COMMANDS if c.baseline or not options.only or c.name in options.only]

    with tempfile.TemporaryDirectory(prefix="floyo-bench-pycache-") as cache:
        env = child_env(None if options.no_bytecode_cache else cache)
        results = {c.name: Result() for c in commands}
        for round_ in range(options.runs + 1):  # round 0 warms up (byte code, file caches)
            for c in commands:
                result = results[c.name]
                if result.error:
                    continue
                seconds, rss, failure = run_once(c, env)
                if failure:
                    result.error = failure
                elif round_:
                    result.seconds.append(seconds)
                    result.peak_rss = max(result.peak_rss, rss)
        heavy = {c.name: imported_heavy(c, env) for c in commands if c.no_pulumi}

    base = results[next(c.name for c in commands if c.baseline)]
    if base.error:
        print(f"the baseline failed: {base.error}")
        return 1
    base_median = statistics.median(base.seconds)
    print(
        f"{options.runs} runs each; Python {sys.version.split()[0]} on {sys.platform}, "
        f"{os.cpu_count()} CPUs; byte code "
        f"{'as the environment says' if options.no_bytecode_cache else 'cached'}\n"
    )
    print(
        f"{'command':<30}{'median ms':>10}{'min ms':>8}{'max ms':>8}"
        f"{'peak RSS MiB':>14}{'x first baseline':>18}"
    )
    print("-" * 82)
    for c in commands:
        r = results[c.name]
        if r.error:
            print(f"{c.name:<30}  FAILED ({r.error.splitlines()[0][:45]})")
            continue
        median = statistics.median(r.seconds)
        print(
            f"{c.name:<30}{median * 1000:>10.0f}{min(r.seconds) * 1000:>8.0f}"
            f"{max(r.seconds) * 1000:>8.0f}{r.peak_rss / 2**20:>14.1f}"
            f"{median / base_median:>11.2f}x"
        )
    print()
    ok = all(not r.error for r in results.values())
    for name, baseline, target in TARGETS:
        if name not in results or results[name].error or results[baseline].error:
            continue
        ratio = statistics.median(results[name].seconds) / statistics.median(
            results[baseline].seconds
        )
        ok &= ratio <= target
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"{name} / `{baseline}` = {ratio:.2f}x (target <= {target:g}x): {verdict}")
    for name, found in heavy.items():
        ok &= not found
        print(f"{name}: {'imports ' + ', '.join(found) if found else 'does not import Pulumi'}")
    for c in commands:
        if results[c.name].error:
            print(f"\n{c.name} failed: {results[c.name].error}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
