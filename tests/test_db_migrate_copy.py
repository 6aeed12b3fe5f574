"""`db migrate`'s initial copy in pieces (snapshot_copy): parallel COPY sessions at the slot's
snapshot, indexes and constraints built after the rows. A crash in the middle of the copy, a
crash while the indexes are built and a SIGKILL of the whole process each leave a state the
rerun finishes from, with a writer running: no row lost or copied twice, the target's indexes
and constraints those of the source, and the way back's slot made before the freeze."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_db_migrate import App, check, seed

from floyo_scale.db import migrate as mig
from floyo_scale.db import migrate_journal as journal
from floyo_scale.db import replication, snapshot_copy
from floyo_scale.db.connect import DatabaseError, Shard
from floyo_scale.db.replication import MigrationError

ROOT = Path(__file__).resolve().parent.parent


def objects(url: str) -> set[tuple[str, ...]]:
    """The indexes and constraints of the app's tables."""
    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        ).fetchall()
    return {tuple(r) for r in indexes} | {tuple(r) for r in constraints}


def slots(url: str) -> list[tuple[str, bool]]:
    """The replication slots of `url`'s database (pg_replication_slots is the whole server's:
    an earlier test on the same server, on the same worker, may have left its own)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT slot_name, active FROM pg_replication_slots WHERE database = current_database()"
        ).fetchall()


@pytest.fixture
def pair(pg_server: Any, pg_server2: Any) -> tuple[Shard, Shard]:
    source = Shard(0, pg_server.create_database("supabase"), "test")
    target = Shard(0, pg_server2.create_database("rds"), "test")
    seed(source.url)
    with psycopg.connect(source.url, autocommit=True) as conn:
        conn.execute("CREATE INDEX events_payload ON events (payload)")
        conn.execute("CREATE UNIQUE INDEX accounts_name ON accounts (name)")
        # a partitioned table: copied through its parent, its indexes attached after
        conn.execute(
            "CREATE TABLE readings (id int, at date, v int, PRIMARY KEY (id, at)) "
            "PARTITION BY RANGE (at); "
            "CREATE TABLE readings_a PARTITION OF readings FOR VALUES FROM ('2026-01-01') "
            "TO ('2026-07-01'); "
            "CREATE TABLE readings_b PARTITION OF readings FOR VALUES FROM ('2026-07-01') "
            "TO ('2027-01-01'); "
            "CREATE INDEX ON readings (v); "
            "INSERT INTO readings SELECT g, '2026-01-01'::date + g % 365, g "
            "FROM generate_series(1, 400) g"
        )
    return source, target


def test_post_data_split_into_objects() -> None:
    script = textwrap.dedent(
        """\
        \\restrict abc
        SET statement_timeout = 0;
        SELECT pg_catalog.set_config('search_path', '', false);

        --
        -- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
        --

        ALTER TABLE ONLY public.events
            ADD CONSTRAINT events_pkey PRIMARY KEY (id);

        --
        -- Name: events_payload; Type: INDEX; Schema: public; Owner: -
        --

        CREATE INDEX events_payload ON public.events USING btree (payload);

        --
        -- Name: events events_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
        --

        ALTER TABLE ONLY public.events
            ADD CONSTRAINT events_account_id_fkey FOREIGN KEY (account_id) REFERENCES x(id);

        \\unrestrict abc
        """
    ).encode()
    settings, entries = snapshot_copy.post_data_entries(script)
    assert settings.startswith("SET statement_timeout") and "\\" not in settings
    assert [k for k, _ in entries] == ["CONSTRAINT", "INDEX", "FK CONSTRAINT"]
    assert entries[1][1] == "CREATE INDEX events_payload ON public.events USING btree (payload);"
    assert not any("\\" in s or s.startswith("--") for _, s in entries)


def test_a_crash_in_the_copy_and_in_the_indexes_then_the_rerun(
    pair: tuple[Shard, Shard], pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = pair
    app = App(source, target)
    app.thread.start()
    seen: list[str] = []

    def crash_after(point: str, times: int) -> Any:
        def crash(name: str) -> None:
            if name == point:
                seen.append(name)
                if len(seen) == times:
                    raise RuntimeError("injected crash")

        return crash

    # pieces of 4 pages: events is copied in several, by 3 sessions at once
    run = {"switch": app.switch, "bin_dir": pg_server.bin_dir, "jobs": 3, "chunk_pages": 4}
    monkeypatch.setattr(mig, "_crash_point", crash_after("copy-chunk-copied", 2))
    with pytest.raises(RuntimeError, match="injected"):
        mig.migrate(source, target, until="copy", **run)
    assert "copy data" not in journal.status(source, target)
    with psycopg.connect(target.url) as conn:
        forward = replication.subscription_name(mig.FORWARD, conn)
    assert [s for s, _ in slots(source.url)] == [forward]  # left by the crash

    seen.clear()  # the copy again from an empty target, then a crash after one index
    monkeypatch.setattr(mig, "_crash_point", crash_after("post-data-built", 1))
    with pytest.raises(RuntimeError, match="injected"):
        mig.migrate(source, target, until="copy", **run)
    assert "copy data" in journal.status(source, target)
    assert objects(target.url) != objects(source.url)  # not all of them yet

    held: list[list[tuple[str, bool]]] = []
    real_lock = mig.lock_all_tables

    def lock_all(conn: Any, found: Any, timeout: float) -> None:
        held.append(slots(target.url))  # the way back's slot exists before the freeze
        real_lock(conn, found, timeout)

    monkeypatch.setattr(mig, "_crash_point", lambda name: None)
    monkeypatch.setattr(mig, "lock_all_tables", lock_all)
    done = mig.migrate(source, target, **run)
    assert dict(done.steps)["schema"] == "done before" and app.switches == ["target"]
    with psycopg.connect(source.url) as src, psycopg.connect(target.url) as dst:
        early = replication.origin_none_supported(src, dst)
    # PostgreSQL 16+ (origin = none): the slot is made before the freeze. On 15 it is made
    # inside it (a slot made before the forward subscription stopped would send the source
    # its own rows back: migrate.py), and the reverse subscription exists after it.
    assert held and early == any(name.startswith(mig.REVERSE) for name, _ in held[0])
    assert any(name.startswith(mig.REVERSE) for name, _ in slots(target.url))
    assert objects(target.url) == objects(source.url)
    app.finish()
    check(app, target.url)  # every committed write is there once, on the target


def test_a_killed_copy_is_copied_again(pair: tuple[Shard, Shard], pg_server: Any) -> None:
    """SIGKILL of the whole process after two pieces committed: the slot it held is left on
    the source and part of the rows on the target; the rerun drops both and copies again."""
    source, target = pair
    app = App(source, target)
    app.thread.start()
    child = textwrap.dedent(
        """
        import os, signal, sys
        from floyo_scale.db import migrate as mig
        from floyo_scale.db.connect import Shard

        copied = []

        def crash(name):
            if name == "copy-chunk-copied":
                copied.append(name)
                if len(copied) == 2:
                    os.kill(os.getpid(), signal.SIGKILL)

        mig._crash_point = crash
        mig.migrate(Shard(0, sys.argv[1], "t"), Shard(0, sys.argv[2], "t"),
                    switch=lambda side: None, until="copy", bin_dir=sys.argv[3], jobs=2,
                    chunk_pages=4)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", child, source.url, target.url, str(pg_server.bin_dir)],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert "copy data" not in journal.status(source, target)
    with psycopg.connect(target.url) as conn:
        partial = conn.execute(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM accounts) + "
            "(SELECT count(*) FROM readings)"
        ).fetchone()
    assert partial is not None and partial[0] > 0  # two pieces committed
    assert len(slots(source.url)) == 1

    done = mig.migrate(
        source, target, switch=app.switch, until="verify", bin_dir=pg_server.bin_dir, jobs=2
    )
    assert [s for s, _ in done.steps] == ["schema", "target", "copy", "verify"]
    assert done.rows_copied >= 5000
    mig.migrate(source, target, switch=app.switch, bin_dir=pg_server.bin_dir)
    app.finish()
    assert objects(target.url) == objects(source.url)
    check(app, target.url)


def test_counts_of_the_freezes_moment_are_compared_after_it(
    pair: tuple[Shard, Shard], pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row counts are taken after the freeze, in snapshots begun inside it (after the
    catch-up): a row something else wrote to the target just before them is seen, and the
    error says the switch happened and how to go back."""
    source, target = pair
    mig.migrate(source, target, switch=lambda s: None, until="verify", bin_dir=pg_server.bin_dir)
    real_pin = mig.pin_snapshots

    def pin(*conns: Any) -> None:
        with psycopg.connect(target.url, autocommit=True) as other:
            other.execute("INSERT INTO settings VALUES ('stray', null)")
        real_pin(*conns)

    monkeypatch.setattr(mig, "pin_snapshots", pin)
    sides: list[str] = []
    with pytest.raises(MigrationError, match=r"differed: public.settings \(1 vs 2\)") as err:
        mig.migrate(source, target, switch=sides.append, bin_dir=pg_server.bin_dir)
    assert "--rollback" in (err.value.hint or "") and sides == ["target"]


def test_an_index_or_key_the_target_cannot_have_fails_the_schema_step(
    pg_server: Any, pg_server2: Any
) -> None:
    """The post-data objects (built after the copy) are tried on the empty tables in the
    schema step's transaction: a foreign key to Supabase's `auth.users`, which the target
    does not have, fails there with psql's error and nothing created."""
    source = Shard(0, pg_server.create_database("supabase"), "test")
    target = Shard(0, pg_server2.create_database("rds"), "test")
    with psycopg.connect(source.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY)")
        conn.execute("CREATE TABLE profiles (id uuid PRIMARY KEY REFERENCES auth.users)")
    with pytest.raises(DatabaseError, match='schema "auth" does not exist'):
        mig.migrate(source, target, switch=lambda s: None, bin_dir=pg_server.bin_dir)
    assert journal.status(source, target) == {}
    with psycopg.connect(target.url) as conn:
        assert conn.execute("SELECT to_regclass('public.profiles')").fetchone() == (None,)


def test_a_schema_an_earlier_version_loaded_whole_is_copied_by_the_subscription(
    pair: tuple[Shard, Shard], pg_server: Any
) -> None:
    """A migration whose schema step ran before the copy at the snapshot (the schema loaded
    whole, foreign keys included): the copy is the subscription's own, as it was then."""
    from floyo_scale.db import pgtools

    source, target = pair
    pgtools.copy_schema(source, target, ("public",), bin_dir=pg_server.bin_dir)
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(journal.JOURNAL_SQL)
        conn.execute("INSERT INTO _floyo_migrate.journal (step) VALUES ('schema'), ('target')")
    done = mig.migrate(
        source, target, switch=lambda s: None, until="verify", bin_dir=pg_server.bin_dir
    )
    assert dict(done.steps)["schema"] == "done before"
    assert done.rows_copied == 500 + 5000 + 1 + 400  # accounts, events, settings, readings
    assert objects(target.url) == objects(source.url)
