"""plan, diff and graph as users read them: golden snapshots, the JSON contract, secrets."""

from __future__ import annotations

import json

import pytest
from golden import assert_golden

PHASES = ("startup", "growth", "scale", "enterprise")


@pytest.mark.parametrize("phase", PHASES)
def test_plan_table_and_markdown(cli, workspace, phase):
    table = cli("plan", "--phase", phase)
    assert table.code == 0, table.err
    assert_golden(f"plan/{phase}.txt", table.out)
    markdown = cli("plan", "--phase", phase, "--format", "markdown")
    assert markdown.code == 0
    assert_golden(f"plan/{phase}.md", markdown.out)


def test_plan_json_contract(cli, workspace):
    result = cli("plan", "--stack", "staging", "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert set(data) == {
        "phase",
        "stack",
        "resources",
        "summary",
        "cost",
        "warnings",
        "digest_key",
        "unreachable",
        "provider_rules",  # what a provider would refuse (none here: exit 0)
    }
    assert data["provider_rules"] == []
    assert (data["phase"], data["stack"]) == ("growth", "staging")
    for resource in data["resources"]:
        assert set(resource) - {"depends_on"} == {
            "type",
            "name",
            "component",
            "region",
            "inputs",
            "protect",
            "retain_on_delete",
            "secret_digests",
        }
    assert data["summary"]["resources"] == len(data["resources"])


def test_phase_and_stack_select_what_is_planned(cli, workspace):
    def planned(*args):
        data = json.loads(cli("plan", "--format", "json", *args).out)
        return data["stack"], data["phase"]

    assert planned("--stack", "production") == ("production", "growth")  # its own phase
    assert planned("--phase", "scale") == ("dev", "scale")  # a phase on dev
    assert planned("--stack", "staging", "--phase", "enterprise") == ("staging", "enterprise")


def test_diff_growth_to_scale(cli, workspace):
    result = cli("diff", "growth", "scale")
    assert result.code == 0, result.err
    assert_golden("plan/diff-growth-scale.txt", result.out)
    data = json.loads(cli("diff", "growth", "scale", "--format", "json").out)
    created = {c["name"] for c in data["changes"] if c["action"] == "create"}
    assert {"shard-1", "aws-eu-west-1", "uploads-eu-west-1"} <= created
    updated = {c["name"]: c for c in data["changes"] if c["action"] == "update"}
    assert updated["primary"]["inputs"]["instance_size"] == {"old": "small", "new": "medium"}


def test_downgrade_flags_what_destroys_data(cli, workspace):
    data = json.loads(cli("diff", "scale", "growth", "--format", "json").out)
    destructive = {c["name"] for c in data["changes"] if c["destructive"]}
    assert {"shard-1", "uploads-eu-west-1"} <= destructive
    assert "primary" not in destructive  # the primary database survives a downgrade
    markdown = cli("diff", "scale", "growth", "--format", "markdown").out
    assert "[!WARNING]" in markdown and "shard-1" in markdown


def test_graph_is_mermaid(cli, workspace):
    result = cli("graph", "--phase", "enterprise")
    assert result.code == 0
    assert_golden("plan/graph-enterprise.mmd", result.out)
    assert result.out.startswith("flowchart LR")


def test_unknown_phase_is_a_usage_error(cli, workspace):
    result = cli("plan", "--phase", "hyperscale")
    assert result.code == 2
    assert "unknown phase 'hyperscale'" in result.err and "startup" in result.err
    assert "Traceback" not in result.err


SECRET_VARIABLES = ("SUPABASE_ACCESS_TOKEN", "VERCEL_API_TOKEN", "PULUMI_CONFIG_PASSPHRASE")


def test_no_output_contains_a_secret(cli, workspace, monkeypatch):
    markers = {name: f"canary-{i}-b7e1d2" for i, name in enumerate(SECRET_VARIABLES)}
    for name, value in markers.items():
        monkeypatch.setenv(name, value)
    outputs = []
    for fmt in ("table", "json", "markdown"):
        for phase in PHASES[1:]:  # production's PITR needs growth's compute or more
            outputs.append(cli("plan", "--phase", phase, "--stack", "production", "--format", fmt))
        outputs.append(
            cli("diff", "growth", "enterprise", "--stack", "production", "--format", fmt)
        )
    outputs.append(cli("graph", "--phase", "enterprise", "--stack", "production"))
    for result in outputs:
        assert result.code == 0, result.err
        for marker in markers.values():
            assert marker not in result.out and marker not in result.err
        assert "mock-password" not in result.out  # generated passwords, connection strings


def test_diff_against_a_saved_plan(cli, workspace):
    """What a pull request shows: the base branch's plan, saved as JSON, against the tree."""
    base = cli("plan", "--stack", "production", "--format", "json")
    (workspace / "base.json").write_text(base.out)
    assert "no changes" in cli("diff", "base.json", "--stack", "production").out

    stack = workspace / "stacks" / "production.yaml"
    stack.write_text(
        stack.read_text().replace(
            "    pitr_days: 7", "    pitr_days: 7\n    read_replicas: [{region: us-west-2}]"
        )
    )
    data = json.loads(cli("diff", "base.json", "--stack", "production", "--format", "json").out)
    actions = {(c["action"], c["name"]) for c in data["changes"]}
    assert ("create", "primary-replica-us-west-2") in actions
    assert ("delete", "primary-replica-us-east-1") in actions


def test_diff_rejects_a_file_that_is_not_a_plan(cli, workspace):
    (workspace / "bad.json").write_text("{}")
    result = cli("diff", "bad.json")
    assert result.code == 2
    assert "bad.json is not a plan of `floyo-scale plan --format json`: resources: missing" in (
        result.err
    )
    assert "Traceback" not in result.err


def test_plan_lists_nothing_unreachable_for_the_default_cache(cli, workspace):
    """Every phase's default cache is one Vercel functions reach (Upstash over TLS): no
    reachability line, and the JSON's `unreachable` is empty (tests/test_app_works.py
    covers what is listed when something is unreachable)."""
    for phase in ("startup", "growth", "enterprise"):
        data = json.loads(cli("plan", "--phase", phase, "--format", "json").out)
        assert data["unreachable"] == []
        assert not any(w.startswith("unreachable") for w in data["warnings"])


def test_markdown_is_cut_to_fit_a_pull_request_comment(cli, workspace):
    """GitHub refuses comments over 65,536 characters (pulumi/actions#482): the Markdown is
    cut at a line, says so, and closes the collapsed section it cut into."""
    full = cli("plan", "--phase", "enterprise", "--format", "markdown").out
    cut = cli("plan", "--phase", "enterprise", "--format", "markdown", "--max-chars", "3000").out
    assert len(full) > 3000 >= len(cut)
    assert "_(cut here: the full plan is in `floyo-scale plan --format json`)_" in cut
    assert cut.count("<details>") == cut.count("</details>") == 1
    assert "monthly cost" in cut  # the summary comes before anything that may be cut
    diff = cli("diff", "growth", "enterprise", "--format", "markdown", "--max-chars", "2000").out
    assert len(diff) <= 2000 and "cut here" in diff


def test_a_downgrade_that_shrinks_the_disk_is_warned_about(cli, workspace):
    """Disks only grow: scale's 32 GB cannot become growth's 16 GB (the preview would fail)."""
    data = json.loads(cli("diff", "scale", "growth", "--format", "json").out)
    assert any("cannot shrink (32 GB to 16 GB)" in w for w in data["warnings"])
    assert (
        "warning: primary-disk: a database disk cannot shrink" in cli("diff", "scale", "growth").out
    )
    assert json.loads(cli("diff", "growth", "scale", "--format", "json").out)["warnings"] == []


def test_a_folder_named_like_a_stack_is_not_a_stack(cli, workspace):
    (workspace / "stacks" / "weird.yaml").mkdir()
    result = cli("validate", "--stack", "weird")
    assert result.code == 2 and "available stacks: dev, production, staging\n" in result.err


def test_diff_says_what_up_would_refuse_in_every_format(cli, workspace):
    """Production at scale is over its budget: `up` would refuse it, and `diff` says so in
    every format, from the same findings (policy.refusals); --fail-on-guard exits 6."""
    args = ("diff", "growth", "scale", "--stack", "production")
    table = cli(*args)
    assert table.code == 0, table.err
    refusal = "up would refuse: the estimated monthly cost of stack production at phase scale"
    assert refusal in table.out and "(pass --allow-over-budget to go on anyway)" in table.out
    assert "target: monthly cost:" in table.out and "over budget" in table.out
    markdown = cli(*args, "--format", "markdown")
    assert "> `up` would refuse: the estimated monthly cost" in markdown.out
    data = json.loads(cli(*args, "--format", "json").out)
    assert [f["kind"] for f in data["findings"]] == ["budget"]
    assert data["budget"]["over_budget"] is True and data["budget"]["used_percent"] > 100
    red = cli(*args, "--fail-on-guard")
    assert red.code == 6 and red.out == table.out
    assert "`up` would refuse this change: over budget" in red.err
    assert cli("diff", "startup", "startup", "--fail-on-guard").code == 0
