"""`floyo-scale db shards` and `db migrate` through the CLI, against real databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import yaml
from golden import assert_golden
from test_db_migrate import MINE
from test_db_migrate import seed as seed_migration
from test_db_shards import seed as seed_shards


def stack_file(workspace: Path, name: str, database: dict[str, Any], phase: str = "scale") -> None:
    doc = yaml.safe_load((workspace / "stacks" / "staging.yaml").read_text())
    doc["phase"] = phase
    doc["overrides"] = {"database": database}
    doc["vercel"].pop("previews_of", None)  # staging's: serves production's previews
    if name == "production":  # production serves production only (issue 18)
        doc["vercel"]["environments"] = ["production"]
    (workspace / "stacks" / f"{name}.yaml").write_text(yaml.safe_dump(doc))


def test_shards_plan_and_apply(cli, workspace: Path, pg_server: Any) -> None:
    urls = [pg_server.create_database(f"cli{i}") for i in range(2)]
    seed_shards(urls[0])
    stack_file(workspace, "sharded", {})
    ref = ["--stack", "sharded", "--database-url", urls[0], "--database-url", urls[1]]
    plan = cli("db", "shards", "plan", *ref)
    assert plan.code == 0, plan.err
    assert_golden("cli/db-shards-plan.txt", plan.out)
    applied = cli("db", "shards", "apply", *ref, "--pg-bin", pg_server.bin_dir)
    assert applied.code == 0, applied.err
    assert "shards: 1 → 2:" in applied.out and "rows moved" in applied.out
    again = cli("db", "shards", "plan", *ref, "--format", "json")
    assert again.code == 0 and '"keys_moving": 0' in again.out
    # the password of a URL never reaches the output
    assert "password" not in applied.out + applied.err


def test_shards_needs_a_sharded_phase_and_confirmation_on_production(
    cli, workspace: Path, pg_database: str
) -> None:
    result = cli("db", "shards", "plan", "--stack", "dev", "--database-url", pg_database)
    assert result.code == 2 and "does not shard its database" in result.err
    stack_file(workspace, "production", {})  # production at scale: apply asks first
    both = ["--database-url", pg_database, "--database-url", pg_database]
    result = cli("db", "shards", "apply", "--stack", "production", *both)
    assert result.code == 6 and "needs confirmation" in result.err


def test_migrate_until_verify(cli, workspace: Path, pg_server: Any, pg_server2: Any) -> None:
    source = pg_server.create_database("clisrc")
    target = pg_server2.create_database("clidst")
    seed_migration(source)
    rds = {
        "provider": "rds",
        "keep_supabase": True,
        "rds": {"access": "public_tls", "allowed_cidrs": ["203.0.113.0/24"]},
    }
    stack_file(workspace, "moving", rds, phase="growth")
    ref = ["--stack", "moving", "--source-url", source, "--target-url", target]
    result = cli("db", "migrate", *ref, "--until", "verify", "--pg-bin", pg_server.bin_dir)
    assert result.code == 0, result.err
    assert "copy: initial copy of" in result.out and "verify:" in result.out
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (5000,)
    early = cli("db", "migrate", *ref, "--finalize", "--yes")
    assert early.code == 2 and "not switched over" in early.err
    back = cli("db", "migrate", *ref, "--rollback", "--yes")  # before the switch-over
    assert back.code == 0, back.err
    assert "replication stopped; the app stays on the source" in back.out
    with psycopg.connect(target) as conn:
        assert conn.execute(MINE).fetchone() == (0,)
    again = cli("db", "migrate", *ref)
    assert again.code == 2 and "rolled back" in again.err
    stack_file(workspace, "plain", {}, phase="growth")
    plain = cli("db", "migrate", "--stack", "plain", "--source-url", source, "--target-url", target)
    assert plain.code == 2 and "not set up for a migration" in plain.err


def test_the_switch_overs_up_reports_on_the_migrations_display(monkeypatch) -> None:
    """The `up` that switches the connection strings runs on the same progress display as
    the migration (its engine events and a last step), not silently beside it."""
    from floyo_scale import engine
    from floyo_scale.cli import db_move
    from floyo_scale.progress import ProgressEvent, Step

    calls: dict[str, Any] = {}

    class FakeSession:
        def set_config(self, key: str, value: str) -> None:
            calls["config"] = (key, value)

    def open_session(target: Any, **kwargs: Any) -> FakeSession:
        calls["sink"] = kwargs.get("sink")
        return FakeSession()

    monkeypatch.setattr(engine, "prepare", lambda *a, **k: "target")
    monkeypatch.setattr(engine, "open_session", open_session)
    monkeypatch.setattr(engine, "deploy", lambda session, approve: calls.setdefault("up", True))
    monkeypatch.setattr(db_move, "workspace", lambda: type("W", (), {"root": Path(".")})())
    seen: list[ProgressEvent] = []
    db_move._switcher(object(), seen.append)("target")  # type: ignore[arg-type]
    assert calls["sink"] is not None and calls["up"] is True
    assert calls["config"] == ("floyo:database_active", "rds")
    calls["sink"](Step("stack", "x"))  # the engine's sink is the display's
    assert seen[-1] == Step("stack", "x")
    assert any(isinstance(e, Step) and "DATABASE_URL now names rds" in e.detail for e in seen)
