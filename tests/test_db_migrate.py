"""`db migrate` between two real servers (pg_server as "Supabase", pg_server2 as the
dedicated PostgreSQL), with a writer inserting and updating the whole time: nothing lost or
changed, every table's checksum equal, the write freeze measured; a crash at the switch-over
and a rerun; a rollback after the switch-over; finalize."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from floyo_scale.db import migrate as mig
from floyo_scale.db import migrate_journal as journal
from floyo_scale.db import pgtools, replication
from floyo_scale.db.connect import Shard
from floyo_scale.errors import UsageError

SCHEMA = """
CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL, balance int NOT NULL);
CREATE TABLE events (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
                     payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE settings (key text PRIMARY KEY, value jsonb);
"""
ACCOUNTS = 500
MINE = (  # subscriptions are per server: this database's
    "SELECT count(*) FROM pg_subscription WHERE subdbid = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


def seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(
            "INSERT INTO accounts (name, balance) SELECT 'a' || g, g FROM generate_series(1, %s) g",
            (ACCOUNTS,),
        )
        conn.execute(
            "INSERT INTO events (account_id, payload) "
            "SELECT 1 + g %% %s, 'seed-' || g FROM generate_series(1, 5000) g",
            (ACCOUNTS,),
        )
        conn.execute("INSERT INTO settings VALUES ('theme', '{\"dark\": true}')")


class App:
    """The app: writes to whichever database its DATABASE_URL names (the switch callback
    changes it), retries a write the old database refuses (FLY03), remembers what committed."""

    def __init__(self, source: Shard, target: Shard) -> None:
        self.urls = {"source": source.url, "target": target.url}
        self.active = "source"
        self.switches: list[str] = []
        self.stop = threading.Event()
        self.inserted: list[str] = []
        self.balances: dict[int, int] = {}
        self.error: BaseException | None = None
        self.refused = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def switch(self, side: str) -> None:
        self.switches.append(side)
        self.active = side

    def run(self) -> None:
        try:
            conns = {k: psycopg.connect(u, autocommit=True) for k, u in self.urls.items()}
            n = 0
            while not self.stop.is_set():
                n += 1
                account = 1 + (n * 7919) % ACCOUNTS
                for _ in range(100):
                    conn = conns[self.active]
                    try:
                        with conn.transaction():
                            if n % 2:
                                conn.execute(
                                    "INSERT INTO events (account_id, payload) VALUES (%s, %s)",
                                    (account, f"w-{n}"),
                                )
                            else:
                                conn.execute(
                                    "UPDATE accounts SET balance = %s WHERE id = %s", (n, account)
                                )
                        break
                    except psycopg.Error as exc:
                        if exc.sqlstate != "FLY03":
                            raise
                        # the documented rule: this database moved; use DATABASE_URL_OTHER
                        self.refused += 1
                        self.active = "target" if self.active == "source" else "source"
                        time.sleep(0.01)
                else:
                    raise AssertionError("a write was refused 100 times")
                if n % 2:
                    self.inserted.append(f"w-{n}")
                else:
                    self.balances[account] = n
                time.sleep(0.002)
            for conn in conns.values():
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert self.error is None, self.error


def state(url: str) -> tuple[dict[int, int], list[str], dict[str, tuple[int, str]]]:
    with psycopg.connect(url) as conn:
        balances = dict(conn.execute("SELECT id, balance FROM accounts").fetchall())
        payloads = [r[0] for r in conn.execute("SELECT payload FROM events ORDER BY id")]
        found = pgtools.tables(conn, ("public",))
        return balances, payloads, replication.checksums(conn, found)


def check(app: App, url: str) -> dict[str, tuple[int, str]]:
    balances, payloads, sums = state(url)
    assert len(payloads) == len(set(payloads)), "an event is there twice"
    written = [p for p in payloads if p.startswith("w-")]
    assert sorted(written) == sorted(app.inserted), "an insert was lost or invented"
    assert len(payloads) - len(written) == 5000
    for account in range(1, ACCOUNTS + 1):
        expected = app.balances.get(account, account)
        assert balances[account] == expected, f"account {account}: balance changed or lost"
    return sums


@pytest.fixture
def pair(pg_server: Any, pg_server2: Any) -> tuple[Shard, Shard]:
    source = Shard(0, pg_server.create_database("supabase"), "test")
    target = Shard(0, pg_server2.create_database("rds"), "test")
    seed(source.url)
    return source, target


def wait_equal(a: str, b: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while state(a)[2] != state(b)[2]:
        assert time.monotonic() < deadline, "the two databases never became equal"
        time.sleep(0.1)


def test_migration_with_a_writer_a_crash_at_the_switch_and_finalize(
    pair: tuple[Shard, Shard], pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = pair
    app = App(source, target)
    app.thread.start()
    time.sleep(0.1)
    first = mig.migrate(
        source, target, switch=app.switch, until="verify", bin_dir=pg_server.bin_dir
    )
    assert [s for s, _ in first.steps] == ["schema", "target", "copy", "verify"]
    assert first.rows_copied >= 5000 + ACCOUNTS and first.rows_per_second > 0

    def crash_at(point: str) -> Any:
        def crash(name: str) -> None:
            if name == point:
                raise RuntimeError("injected crash")

        return crash

    # inside the freeze: everything it did rolls back, the app stays on the source
    monkeypatch.setattr(mig, "_crash_point", crash_at("switch-before-commit"))
    with pytest.raises(RuntimeError, match="injected"):
        mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)
    assert app.active == "source" and app.switches == []
    time.sleep(0.15)  # the app keeps writing to the source meanwhile

    # after the freeze, before the connection strings: the app follows the fence by itself
    monkeypatch.setattr(mig, "_crash_point", crash_at("switch-before-connection-strings"))
    with pytest.raises(RuntimeError, match="injected"):
        mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)
    assert app.switches == []
    deadline = time.monotonic() + 10
    while app.active != "target" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.error is None, app.error
    assert app.active == "target"
    monkeypatch.setattr(mig, "_crash_point", lambda name: None)

    done = mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)
    assert dict(done.steps)["schema"] == "done before"
    assert ("switch", "connection strings switched") in done.steps
    assert app.switches == ["target"]
    assert "connections" in journal.status(source, target)["switch"]
    time.sleep(0.15)  # the app writes to the target now
    app.finish()
    assert app.refused >= 0
    target_sums = check(app, target.url)
    wait_equal(source.url, target.url)  # the way back has every write made after the switch
    assert check(app, source.url) == target_sums

    with psycopg.connect(source.url, autocommit=True) as conn:  # the source refuses the app
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("INSERT INTO settings VALUES ('x', null)")
        assert refused.value.sqlstate == "FLY03"
    mig.finalize(source, target)
    assert "finalize" in journal.status(source, target)
    with psycopg.connect(source.url) as conn:
        assert conn.execute(MINE).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] >= 5000
    with pytest.raises(UsageError, match="finalized"):
        mig.rollback(source, target, switch=app.switch)


def test_rollback_after_the_switch_keeps_every_write(
    pair: tuple[Shard, Shard], pg_server: Any
) -> None:
    source, target = pair
    app = App(source, target)
    app.thread.start()
    done = mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)
    assert done.freeze_seconds is not None  # a figure (bench/db_move.py), not a bound
    print(
        f"\ninitial copy: {done.rows_copied} rows in {done.copy_seconds:.2f}s "
        f"({done.rows_per_second:.0f} rows/s); write freeze {done.freeze_seconds:.3f}s"
    )
    time.sleep(0.15)
    back = mig.rollback(source, target, switch=app.switch)
    assert app.switches == ["target", "source"]
    assert back.freeze_seconds is not None
    time.sleep(0.2)  # writing to the source again
    app.finish()
    check(app, source.url)
    with psycopg.connect(target.url, autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("INSERT INTO settings VALUES ('x', null)")
        assert refused.value.sqlstate == "FLY03"
    with pytest.raises(UsageError, match="rolled back"):
        mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)


def test_refusals(pair: tuple[Shard, Shard], pg_server: Any) -> None:
    source, target = pair
    with psycopg.connect(source.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE nokey (a int)")
    with pytest.raises(UsageError, match="without a primary key.*public.nokey"):
        mig.migrate(source, target, switch=lambda s: None, bin_dir=pg_server.bin_dir)
    with pytest.raises(UsageError, match="same database"):
        mig.migrate(source, source, switch=lambda s: None, bin_dir=pg_server.bin_dir)
    with pytest.raises(UsageError, match="not switched over"):
        mig.finalize(source, target)


def test_a_target_older_than_its_source_is_refused_before_the_copy() -> None:
    """pg_dump 17 writes `SET transaction_timeout = 0`, which a PostgreSQL 15 server rejects;
    the schema load stops at it (ON_ERROR_STOP). The same or a newer target goes on."""
    with pytest.raises(UsageError, match="runs PostgreSQL 15, older than supabase's 17"):
        mig.check_majors(17, 15, "supabase", "rds")
    assert mig.check_majors(17, 17, "supabase", "rds") == 17
    assert mig.check_majors(15, 17, "supabase", "rds") == 17


def test_nothing_is_counted_in_the_freeze_and_time_zones_do_not_matter(
    pg_server: Any, pg_server2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source and target databases with different TimeZone, DateStyle and float settings:
    the checksums (of timestamptz and float rows) compare equal, and neither a checksum nor a
    row count is computed while the writers wait (the freeze proves the catch-up with a
    marker row; the row counts of that moment are taken after it, in snapshots begun in
    it)."""
    from floyo_scale.db import replication

    source = Shard(0, pg_server.create_database("supabase"), "test")
    target = Shard(0, pg_server2.create_database("rds"), "test")
    seed(source.url)
    for url, zone, style in (
        (source.url, "America/New_York", "SQL, DMY"),
        (target.url, "Asia/Kolkata", "German"),
    ):
        with psycopg.connect(url, autocommit=True) as conn:
            name = conn.info.dbname
            conn.execute(f"ALTER DATABASE {name} SET timezone = '{zone}'")
            conn.execute(f"ALTER DATABASE {name} SET datestyle = '{style}'")
            conn.execute(f"ALTER DATABASE {name} SET extra_float_digits = -2")
    with psycopg.connect(source.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE readings (id int PRIMARY KEY, at timestamptz, v float8)")
        conn.execute(
            "INSERT INTO readings SELECT g, '2026-03-01'::timestamptz + g * interval '1 h', "
            "g / 7.0 FROM generate_series(1, 300) g"
        )
    frozen_checksums: list[str] = []
    real = replication.bucket_checksums

    def watched(conn: Any, table: Any) -> Any:
        for held in held_by:
            if held.info.transaction_status in busy:  # inside the freeze's transaction
                frozen_checksums.append(table.name)
        return real(conn, table)

    held_by: list[Any] = []
    busy = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.ACTIVE)
    real_lock = replication.lock_all_tables

    def lock_all(conn: Any, found: Any, timeout: float) -> None:
        held_by.append(conn)
        real_lock(conn, found, timeout)

    real_counts = replication.counts

    def counted(conn: Any, found: Any) -> Any:
        for held in held_by:
            if held.info.transaction_status in busy:
                frozen_checksums.append("count")
        return real_counts(conn, found)

    monkeypatch.setattr(replication, "counts", counted)
    monkeypatch.setattr(replication, "bucket_checksums", watched)
    monkeypatch.setattr(mig, "lock_all_tables", lock_all)
    app = App(source, target)
    app.thread.start()
    done = mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)
    assert app.switches == ["target"] and done.freeze_seconds is not None
    assert set(done.tables) == {
        "public.accounts",
        "public.events",
        "public.settings",
        "public.readings",
    }
    time.sleep(0.1)
    back = mig.rollback(source, target, switch=app.switch)  # the same on the way back
    assert app.switches == ["target", "source"] and back.freeze_seconds is not None
    app.finish()
    check(app, source.url)
    assert held_by and frozen_checksums == []


def test_a_switch_over_that_cannot_switch_does_not_fence(
    pair: tuple[Shard, Shard], pg_server: Any
) -> None:
    """`ready` (the CLI: the stack's prerequisites for `up`, its secrets) fails: the
    switch-over stops before the first step, or before the freeze, and the rollback before
    it freezes the target; nothing is fenced and the app keeps writing where it was."""
    source, target = pair
    calls: list[str] = []

    def missing() -> None:
        calls.append("ready")
        raise UsageError("2 prerequisites are missing", "set the secrets")

    def writes(url: str) -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            try:
                conn.execute("INSERT INTO settings VALUES (gen_random_uuid()::text, null)")
            except psycopg.Error as exc:
                assert exc.sqlstate == "FLY03"
                return False
        return True

    with pytest.raises(UsageError, match="prerequisites"):
        mig.migrate(source, target, switch=lambda s: None, ready=missing, bin_dir=pg_server.bin_dir)
    assert journal.status(source, target) == {}  # checked before the first step
    mig.migrate(source, target, switch=lambda s: None, until="verify", bin_dir=pg_server.bin_dir)
    with pytest.raises(UsageError, match="prerequisites"):
        mig.migrate(source, target, switch=lambda s: None, ready=missing, bin_dir=pg_server.bin_dir)
    assert calls == ["ready", "ready"] and "switch" not in journal.status(source, target)
    assert writes(source.url)  # not fenced

    sides: list[str] = []
    mig.migrate(source, target, switch=sides.append, bin_dir=pg_server.bin_dir)
    assert sides == ["target"] and not writes(source.url) and writes(target.url)
    with pytest.raises(UsageError, match="prerequisites"):
        mig.rollback(source, target, switch=sides.append, ready=missing)
    assert sides == ["target"] and "switch" in journal.status(source, target)
    assert writes(target.url) and not writes(source.url)  # as it was
