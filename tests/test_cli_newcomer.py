"""What a newcomer tripped over on a first run (issue 21): each as it was seen."""

from __future__ import annotations

import json


def test_diff_marks_data_loss_exactly_where_the_guard_refuses(cli, workspace):
    """scale -> growth on production deletes shard 1 and the eu-west-1 replicas and bucket,
    all kept on delete (retain_on_delete): their data stays, so the destroy guard finds
    nothing, and `diff` must not say `!! destroys data` either (one rule: Change.destructive)."""
    result = cli("diff", "scale", "growth", "--stack", "production", "--fail-on-guard")
    assert result.code == 0, result.err
    assert "destroys data" not in result.out
    assert "supabase:Project shard-1 [database, us-east-1] (retained: the data stays)" in (
        result.out
    )
    report = json.loads(cli("diff", "scale", "growth", "--stack", "production", "-f", "json").out)
    assert report["findings"] == [] and report["summary"]["destructive"] == 0
    shard = next(c for c in report["changes"] if c["name"] == "shard-1" and c["stateful"])
    assert shard["action"] == "delete" and shard["destructive"] is False


def test_diff_still_marks_what_the_guard_refuses(cli, workspace):
    """Staging keeps nothing on delete: going down from scale deletes shard 1 for real, which
    both the mark and the guard say."""
    result = cli("diff", "scale", "growth", "--stack", "staging", "--fail-on-guard")
    assert result.code == 6
    assert "supabase:Project shard-1 [database, us-east-1]  !! destroys data" in result.out
    assert "`up` would refuse this change: destroys data" in result.err


def test_db_commands_without_state_ask_for_a_database_url(cli, workspace, monkeypatch):
    """No stack was deployed here: the databases cannot come from the stack's outputs, which
    is what to say (not that a passphrase is missing to read a state that does not exist)."""
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    result = cli("db", "partition", "--stack", "production", "--dry-run")
    assert result.code == 2, result.err
    assert "stack production has no state yet" in result.err
    assert "--database-url" in result.err and "passphrase" not in result.err
