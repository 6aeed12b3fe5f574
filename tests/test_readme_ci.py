"""The sample pull-request comment in README.md ("CI") is the generator's output for a fixed
scenario: regenerate it with UPDATE_GOLDEN=1 when the comment's layout changes."""

from __future__ import annotations

import os
import re

from conftest import REPO

from floyo_scale.cost import CostEstimate
from floyo_scale.offline.inventory import Inventory, Resource
from floyo_scale.render.review import comment
from floyo_scale.review.affected import Head, RevisionDiff, Side, compare_stack

START = "<!-- sample-comment:start -->"
END = "<!-- sample-comment:end -->"
ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
REPLICA = "pulumi-python:dynamic/supabase:ReadReplica"
PROJECT = "pulumi-python:dynamic/supabase:Project"


def _var(name: str, value: str, digest: str | None = None) -> Resource:
    inputs = {"key": name.upper().replace("-", "_"), "value": value, "sensitive": bool(digest)}
    secrets = {"value": digest} if digest else {}
    return Resource(ENV_VAR, name, "web", None, inputs, secrets=secrets)


def _cost(stack: str, phase: str, low: float, high: float, budget: float) -> CostEstimate:
    return CostEstimate(phase, stack, (), low, high, budget, round(100 * high / budget, 1), (), 80)


def _side(stack: str, phase: str, resources: list[Resource], cost: CostEstimate) -> Side:
    return Side(phase, Inventory(phase, stack, tuple(resources), "sample-key"), cost)


def sample() -> RevisionDiff:
    dev = _side(
        "dev", "startup", [_var("floyo-phase", "startup")], _cost("dev", "startup", 45, 48, 50)
    )
    staging_old = [
        _var("cache-ttl-queries", "300"),
        _var("database-url", "[secret]", "1f2e3d4c5b6a7980"),
    ]
    staging_new = [
        _var("cache-ttl-queries", "600"),
        _var("database-url", "[secret]", "0a9b8c7d6e5f4a3b"),
    ]
    project = Resource(PROJECT, "primary", "database", "us-east-1", {"instance_size": "small"})
    replica = Resource(REPLICA, "primary-replica-us-east-1", "database", "us-east-1", {})
    shard = Resource(PROJECT, "shard-1", "database", "us-east-1", {"instance_size": "medium"})
    bigger = Resource(PROJECT, "primary", "database", "us-east-1", {"instance_size": "medium"})
    changes = (
        compare_stack("dev", dev, dev),
        compare_stack(
            "production",
            _side(
                "production",
                "growth",
                [project, replica, _var("floyo-phase", "growth")],
                _cost("production", "growth", 202, 271, 300),
            ),
            _side(
                "production",
                "scale",
                [bigger, shard, _var("floyo-phase", "scale")],
                _cost("production", "scale", 641, 1810, 300),
            ),
        ),
        compare_stack(
            "staging",
            _side("staging", "growth", staging_old, _cost("staging", "growth", 64, 98, 200)),
            _side("staging", "growth", staging_new, _cost("staging", "growth", 64, 98, 200)),
        ),
    )
    head = Head("9a8b7c6d5e4f30211000000000000000cafef00d", dirty=False)
    return RevisionDiff("main", "4f1c2a9e0b7d33e1c0ffee0000000000deadbeef", head, changes)


def sample_markdown() -> str:
    return comment(sample())


def test_readme_shows_the_generated_sample() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    block = re.compile(re.escape(START) + r"\n(.*?)" + re.escape(END), re.S)
    fenced = "````markdown\n" + sample_markdown() + "````\n"
    if os.environ.get("UPDATE_GOLDEN"):
        readme.write_text(block.sub(lambda _: f"{START}\n{fenced}{END}", text))
        text = readme.read_text()
    match = block.search(text)
    assert match, f"README.md has no {START} ... {END} block"
    assert match.group(1) == fenced, "the README's sample is stale: rerun with UPDATE_GOLDEN=1"


def test_readme_plan_json_example_has_the_real_figures(cli, workspace) -> None:
    """README's `plan --format json` example is growth on dev: its resource, stateful and
    protected counts and its cost are what `plan --phase growth --format json` says."""
    import json

    readme = (REPO / "README.md").read_text()
    example = readme.split("### `plan --format json`", 1)[1].split("```json", 1)[1]
    example = example.split("```", 1)[0]
    result = cli("plan", "--phase", "growth", "--format", "json")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    summary = plan["summary"]
    assert f'"summary": {{"resources": {summary["resources"]},' in example
    assert f'"protected": {summary["protected"]}, "stateful": {summary["stateful"]}}}' in example
    total = plan["cost"]["total"]
    assert f'"total": {{"low": {total["low"]}, "high": {total["high"]}}}' in example


def test_readme_lists_every_workflow() -> None:
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `.github/workflows/`"))
    for workflow in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        assert f"`{workflow.name}`" in row, f"README's workflow list lacks {workflow.name}"
