"""The speed shortcuts of `plan` change how fast it runs, never what it prints.

Shortcuts: infra/_sdk.py imports only the pulumi_aws modules the program uses; synth.py
pauses the cyclic garbage collector and sends the mock engine no stack traces.
FLOYO_NO_SHORTCUTS=1 turns all of them off. Two fresh interpreters (imports are
process-wide), one each way, run `floyo-scale plan --format json` for every phase on every
stack and every stack at its own phase; the outputs must be the same, byte for byte, and so
must every request sent to the (mock) engine but its stack trace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PHASES = ["startup", "growth", "scale", "enterprise"]
STACKS = ["dev", "staging", "production"]
# Every phase and every stack at least once, each stack at its own phase, and production (the
# stack with the most settings) at every phase: the shortcuts are about which SDK modules load
# and how resources are registered, which these cases cover between them. (All 12 combinations
# took 12 s of the suite's time, twice the cost, and register the same 28 resource types.)
CASES = (
    [["plan", "--phase", p, "--stack", "production", "--format", "json"] for p in PHASES]
    + [["plan", "--phase", "startup", "--stack", "staging", "--format", "json"]]
    + [["plan", "--stack", s, "--format", "json"] for s in STACKS]
    + [["plan", "--phase", "enterprise"]]  # the table too
)

_PLAN_ALL = """
import contextlib, hashlib, io, json, sys
from floyo_scale.offline import synth
from floyo_scale.cli import main

# Beyond what plan prints: a digest of every request the program sends the engine (inputs
# with the pickled dynamic providers, options, dependencies, plugin versions), but for the
# stack trace, which one shortcut leaves out by design.
requests = []
make_monitor_class = synth._make_monitor_class

def digesting_monitor_class():
    class Digesting(make_monitor_class()):
        def RegisterResource(self, request):
            wire = type(request)()
            wire.CopyFrom(request)
            wire.ClearField("stackTrace")
            wire.ClearField("sourcePosition")
            # dependencies are sets, sent in an order that varies from run to run anyway
            wire.dependencies[:] = sorted(wire.dependencies)
            for deps in wire.propertyDependencies.values():
                deps.urns[:] = sorted(deps.urns)
            digest = hashlib.sha256(wire.SerializeToString(deterministic=True)).hexdigest()
            requests.append(f"{request.type}::{request.name} {digest}")
            return super().RegisterResource(request)
    return Digesting

synth._make_monitor_class = digesting_monitor_class

root, cases = sys.argv[1], json.loads(sys.argv[2])
results = []
for args in cases:
    out, err = io.StringIO(), io.StringIO()
    requests.clear()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--root", root, *args])
    results.append({
        "args": args, "code": code, "out": out.getvalue(), "err": err.getvalue(),
        "requests": sorted(requests),
    })
s3 = sys.modules.get("pulumi_aws.s3")
print(json.dumps({"results": results, "s3": type(s3).__name__}))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("workspace")
    for folder in ("phases", "stacks"):
        shutil.copytree(REPO / folder, root / folder)
    base = {k: v for k, v in os.environ.items() if k != "FLOYO_NO_SHORTCUTS"}
    # one digest key for both processes, or their secret digests differ (offline/digest.py)
    base |= {"COLUMNS": "100", "NO_COLOR": "1", "FLOYO_DIGEST_KEY": "equivalence"}
    modes = {"fast": base, "plain": base | {"FLOYO_NO_SHORTCUTS": "1"}}
    procs = {
        mode: subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_PLAN_ALL), str(root), json.dumps(CASES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=root,
        )
        for mode, env in modes.items()
    }
    reports = {}
    for mode, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        reports[mode] = json.loads(out.strip().splitlines()[-1])
    return reports


def test_the_two_runs_took_different_paths(runs):
    """Otherwise the comparison below would compare a path with itself."""
    assert runs["fast"]["s3"] == "_LazyModule"  # s3 used through _sdk, never loaded in full
    assert runs["plain"]["s3"] == "module"


def test_plans_are_identical_with_and_without_shortcuts(runs):
    fast, plain = runs["fast"]["results"], runs["plain"]["results"]
    assert [r["args"] for r in fast] == [r["args"] for r in plain] == CASES
    for f, p in zip(fast, plain, strict=True):
        assert (f["code"], f["err"]) == (p["code"], p["err"]), f["args"]
        assert f["out"] == p["out"], f["args"]


def test_the_engine_is_sent_the_same_requests(runs):
    fast, plain = runs["fast"]["results"], runs["plain"]["results"]
    # every case that plans (all but production at startup, an invalid spec) sent requests
    assert all(r["requests"] for r in fast if r["code"] == 0)
    assert sum(len(r["requests"]) for r in fast) > 500
    for f, p in zip(fast, plain, strict=True):
        assert f["requests"] == p["requests"], f["args"]


def test_the_comparison_covers_real_plans(runs):
    planned = [r for r in runs["fast"]["results"] if r["code"] == 0]
    assert len(planned) >= len(CASES) - 2  # a stack may refuse a phase (exit 3), not most
    enterprise = json.loads(
        next(r["out"] for r in planned if r["args"][2] == "enterprise" and "json" in r["args"])
    )
    types = {r["type"] for r in enterprise["resources"]}
    assert {
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:s3/bucket:Bucket",
        "upstash:index/redisDatabase:RedisDatabase",
        "vercel:index/project:Project",
    } <= types
