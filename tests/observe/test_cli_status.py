"""`floyo-scale status` through the CLI's one error boundary, against the loopback world."""

from __future__ import annotations

import json

from golden import assert_golden

from .conftest import World, vercel_usage


def raise_budget(world: World) -> None:
    """Production's $340 budget is 80 % spent by its Vercel and Supabase plans alone (its
    plan warns so too); these tests want a stack within every threshold."""
    path = world.root / "stacks" / "production.yaml"
    text = path.read_text()
    assert "monthly_usd: 340" in text
    path.write_text(text.replace("monthly_usd: 340", "monthly_usd: 1000"))


def test_json_and_exit_0(world: World, cli) -> None:
    raise_budget(world)
    result = cli("status", "--stack", "production", "--format", "json", "--supabase-ref", world.ref)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["exit_code"] == 0 and data["stack"] == "production"
    sizes = [m for m in data["metrics"] if m["key"] == "database.size"]
    assert sizes and sizes[0]["value"] > 0


def test_markdown_and_exit_8(world: World, cli) -> None:
    world.vercel.state["summary"] = vercel_usage(990, 20, 420, 2, 9998)
    result = cli("status", "-s", "production", "-f", "markdown", "--supabase-ref", world.ref)
    assert result.code == 8, result.err
    assert "### Recommendation" in result.out and "phase scale" in result.out


def test_a_hung_source_is_blind_exit_9_and_reports_the_others(world: World, cli) -> None:
    """Vercel measures bandwidth (and p95 and errors): without it the watch is blind to
    them, which is its own exit code, never 0 and never 4."""
    raise_budget(world)
    world.vercel.hang_seconds = 30
    result = cli("status", "--stack", "production", "--timeout", "1", "--supabase-ref", world.ref)
    assert result.code == 9, result.err
    assert "BLIND: not measured: bandwidth" in result.out
    # which layer notices first (the request, the source, the collector) depends on the load
    assert "\nvercel: failed: " in result.out
    assert "database size" in result.out  # the others are still reported


def test_an_unknown_stack_is_a_usage_error(world: World, cli) -> None:
    result = cli("status", "--stack", "nope")
    assert result.code == 2
    assert_golden("status/unknown-stack.txt", result.err)


def test_every_line_fits_80_columns_and_no_value_is_cut(world: World, cli, monkeypatch) -> None:
    """`COLUMNS=80 floyo-scale status --stack production`: the headline, the table, the
    hints, the recommendation and the notes all within 80 columns, every value whole."""
    world.vercel.state["summary"] = vercel_usage(990, 20, 420, 2, 9998)  # crossed: advice too
    monkeypatch.delenv("SENTRY_AUTH_TOKEN")  # a source unavailable: its hint is printed too
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("status", "--stack", "production", "--supabase-ref", world.ref)
    assert result.code == 8, result.err
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(x for x in lines if len(x) > 80)
    assert "…" not in result.out
    assert result.out.splitlines()[1].endswith("(exit 8)")  # the headline, wrapped, whole
    assert "990 GB" in result.out and "1,000 GB" in result.out
    assert "recommendation: move stack production up to phase scale" in result.out
    assert "  hint: export SENTRY_AUTH_TOKEN=..." in result.out


def test_record_then_history_through_the_cli(world: World, cli, monkeypatch) -> None:
    """`--record` keeps the reading beside the file state; `--history` reads no source and
    shows what was kept (the dates are the run's, so only counts are checked)."""
    raise_budget(world)
    state = world.root / "state"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("COLUMNS", "80")
    empty = cli("status", "--stack", "production", "--history")
    assert empty.code == 0, empty.err
    assert "nothing recorded yet" in empty.out
    result = cli("status", "--stack", "production", "--record", "--supabase-ref", world.ref)
    assert result.code in (0, 9), result.err  # 9 if this world's upstash key is missing
    kept = state / ".floyo-history" / "production.jsonl"
    assert len(kept.read_text().splitlines()) == 1
    assert "recorded in state/.floyo-history/production.jsonl" in result.out
    shown = cli("status", "--stack", "production", "--history", "--format", "json")
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    sizes = next(m for m in data["metrics"] if m["key"] == "database.size")
    assert sizes["points"] == 1 and sizes["forecast"] is None  # not 7 days yet
    assert world.vercel.requests  # the --record run read Vercel; --history did not add any
    before = len(world.vercel.requests)
    cli("status", "--stack", "production", "--history")
    assert len(world.vercel.requests) == before
