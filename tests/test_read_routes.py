"""Reads near the user (issue 23): the route from each Vercel function region to its nearest
database region for every phase, the replica map, the plan warning with its latency, and the
app's helper in TypeScript (docs/program.md, under node) and Python, on the same vectors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from test_program import ENV_VAR, inventory

from floyo_scale.catalog.facts import VERCEL_REGIONS
from floyo_scale.catalog.regions import AREAS, far_reads, read_routes, read_url, round_trip_ms
from floyo_scale.infra.common import replica_json
from floyo_scale.policy import read_route_warnings
from floyo_scale.spec import Workspace, load_stack

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "program.md"

EXPECTED = {
    "startup": None,
    "growth": {"iad1": "us-east-1"},
    "scale": {"dub1": "eu-west-1", "iad1": "us-east-1"},
    "enterprise": {"dub1": "eu-west-1", "iad1": "us-east-1", "sin1": "ap-southeast-1"},
}


def _routes(phase: str):
    for r in inventory(phase).of_type(ENV_VAR):
        if r.inputs["key"] == "FLOYO_READ_ROUTES":
            return json.loads(r.inputs["value"])
    return None


@pytest.mark.parametrize("phase", sorted(EXPECTED))
def test_every_phase_routes_each_function_region_to_a_database_it_has(phase):
    assert _routes(phase) == EXPECTED[phase]
    resolved = load_stack(Workspace(REPO), "dev", phase).phase
    if resolved.database.read_replicas:
        routes = _routes(phase)
        assert set(routes) == set(resolved.web.function_regions)
        assert set(routes.values()) <= {
            resolved.regions.primary,
            *(r.region for r in resolved.database.read_replicas),
        }
        keys = {r.inputs["key"] for r in inventory(phase).of_type(ENV_VAR)}
        shards = resolved.database.sharding.shards if resolved.database.sharding else 0
        assert {f"DATABASE_REPLICA_URLS_SHARD_{i}" for i in range(shards)} <= keys
    assert read_route_warnings(inventory(phase)) == []  # every phase reads nearby


def test_the_replica_map_is_keyed_by_region_first_replica_wins():
    assert json.loads(replica_json(["eu-west-1", "us-east-1", "eu-west-1"], ["a", "b", "c"])) == {
        "eu-west-1": "a",
        "us-east-1": "b",
    }
    assert replica_json([], []) == "{}"


def test_nearest_and_far_reads_with_their_round_trip():
    assert round_trip_ms("us-east-1", "us-east-1") == 1
    assert round_trip_ms("eu-west-1", "eu-central-1") == 30
    assert round_trip_ms("ap-southeast-1", "us-east-1") == 210
    assert read_routes(["sin1", "dub1"], "us-east-1", ["eu-west-1"]) == {
        "sin1": "eu-west-1",  # 160 ms beats the primary's 210
        "dub1": "eu-west-1",
    }
    assert far_reads(["iad1", "sin1"], "us-east-1", ["eu-west-1"]) == [("sin1", "eu-west-1", 160)]
    assert set(VERCEL_REGIONS.values()) <= set(AREAS)


def test_a_function_region_with_no_replica_near_it_is_a_warning_with_the_latency():
    inv = inventory("enterprise")
    routes = {"dub1": "eu-west-1", "iad1": "us-east-1", "sin1": "eu-west-1"}
    changed = tuple(
        replace(r, inputs={**r.inputs, "value": json.dumps(routes)})
        if r.type == ENV_VAR and r.inputs["key"] == "FLOYO_READ_ROUTES"
        else r
        for r in inv.resources
    )
    assert read_route_warnings(replace(inv, resources=changed)) == [
        "reads: functions in sin1 (ap-southeast-1) read from eu-west-1, about 160 ms a round "
        "trip per query; a read replica in ap-southeast-1 (database.read_replicas) would serve "
        "them nearby"
    ]


def _doc_vectors():
    match = re.search(r"```json vectors\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/program.md has no vectors block"
    return json.loads(match.group(1))


def _doc_typescript() -> str:
    match = re.search(r"```ts\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/program.md has no TypeScript block"
    return match.group(1)


def _strip_types(source: str) -> str:
    """The annotations the helper uses: a `type` line, `: Env`, `shard?: number`, the return
    type. What is left is JavaScript (an ES module)."""
    out = re.sub(r"^type .*\n", "", source, flags=re.M)
    out = re.sub(r"\)\s*:\s*string \| undefined\s*\{", ") {", out)
    out = out.replace("env: Env", "env").replace("shard?: number", "shard")
    return out


@pytest.mark.parametrize(("env", "shard", "expected"), _doc_vectors())
def test_python_helper_matches_the_vectors(env, shard, expected):
    assert read_url(env, shard) == expected


def test_typescript_helper_matches_the_vectors(tmp_path: Path):
    node = shutil.which("node")
    assert node, "node is needed to check the TypeScript helper in docs/program.md"
    vectors = _doc_vectors()
    script = tmp_path / "check.mjs"
    script.write_text(
        _strip_types(_doc_typescript())
        + f"\nconst vectors = {json.dumps(vectors)};\n"
        + "console.log(JSON.stringify(vectors.map(([env, shard]) =>"
        + " readUrl(env, shard === null ? undefined : shard))));\n",
        encoding="utf-8",
    )
    run = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [expected for _, _, expected in vectors]
    assert len(vectors) >= 8
