"""`db partition` on a real PostgreSQL: online conversion while the application writes,
everything a table carries kept, premake idempotent, dry runs change nothing."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import psycopg
import pytest

from floyo_scale.db import partition as part
from floyo_scale.db import periods as per
from floyo_scale.db.connect import Shard
from floyo_scale.db.convert import Options
from floyo_scale.db.shape import TableSpec
from floyo_scale.errors import UsageError
from floyo_scale.progress import Count, Step

# The one "today" of this file: the conversion is told it, the seed rows lie before it and
# the application's live rows are stamped with it, so nothing here reads the machine's or the
# server's clock (the suite passes on any date: `faketime -f '+400d' pytest` checks it).
TODAY = date(2026, 11, 28)
NOON = datetime.combine(TODAY, clock_time(12), tzinfo=UTC)
ROWS = 200_000


def _role(conn: psycopg.Connection, name: str) -> None:
    conn.execute(
        f"DO $$BEGIN CREATE ROLE {name} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$"
    )


def _events(url: str, rows: int) -> None:
    """An events table as an application would have it: identity key, index, RLS policies,
    grants, a trigger, a publication, a comment."""
    with psycopg.connect(url, autocommit=True) as conn:
        for role in ("floyo_anon", "floyo_authenticated"):
            _role(conn, role)
        conn.execute(
            """
            CREATE TABLE events (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id int NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                kind text NOT NULL DEFAULT 'click' CHECK (kind <> ''),
                payload text,
                touched int NOT NULL DEFAULT 0
            );
            CREATE INDEX events_user_idx ON events (user_id, created_at);
            COMMENT ON TABLE events IS 'what users did';
            ALTER TABLE events ENABLE ROW LEVEL SECURITY;
            CREATE POLICY own_rows ON events FOR SELECT TO floyo_authenticated
                USING (user_id = current_setting('app.user_id', true)::int);
            CREATE POLICY insert_own ON events AS PERMISSIVE FOR INSERT TO floyo_authenticated
                WITH CHECK (user_id > 0);
            REVOKE ALL ON events FROM PUBLIC;
            GRANT SELECT, INSERT ON events TO floyo_authenticated;
            GRANT SELECT ON events TO floyo_anon WITH GRANT OPTION;
            CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
                $f$BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END$f$;
            CREATE TRIGGER events_touch BEFORE UPDATE ON events FOR EACH ROW
                EXECUTE FUNCTION touch();
            CREATE PUBLICATION realtime FOR TABLE events;
            """
        )
        conn.execute(
            "INSERT INTO events (user_id, created_at, payload) "
            "SELECT g %% 1000 + 1, "
            "%s - (g %% 400) * interval '1 day', "
            "'row ' || g FROM generate_series(1, %s) g",
            (NOON - timedelta(days=1), rows),
        )
        conn.execute("ANALYZE events")


SPEC = TableSpec("events", "created_at", "month", 365, "archive")


class Writer(threading.Thread):
    """The application: inserts continuously (one autocommit insert at a time, stamped with
    the test's today), and updates and deletes a few of the old rows."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.inserted: list[str] = []
        self.updated: set[int] = set()
        self.deleted: set[int] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    marker = f"live {n}"
                    conn.execute(
                        "INSERT INTO events (user_id, payload, created_at) VALUES (%s, %s, %s)",
                        (n % 7 + 1, marker, NOON),
                    )
                    self.inserted.append(marker)
                    if n % 10 == 0:  # an old row changes, another goes
                        target = (n * 7919) % ROWS + 1
                        if target not in self.deleted:
                            conn.execute(
                                "UPDATE events SET payload = 'updated' WHERE id = %s", (target,)
                            )
                            self.updated.add(target)
                        gone = (n * 104729) % ROWS + 1
                        if gone not in self.updated:
                            conn.execute("DELETE FROM events WHERE id = %s", (gone,))
                            self.deleted.add(gone)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def wait_for(self, more: int, *, after: int) -> None:
        """Block until `more` inserts have committed after the `after`-th one: the writer is
        not blocked. The timeout is only a safety net for a hung writer; nothing is timed."""
        for _ in range(6000):
            if len(self.inserted) >= after + more or self.error or not self.is_alive():
                return
            time.sleep(0.01)


def test_online_conversion_of_200k_rows_while_the_application_writes(pg_database: str) -> None:
    """Online means the application's inserts commit while the rows are copied and verified.
    Proved by order, not by a time bound: at each step of the conversion the report hook
    waits until the writer has committed more inserts (a blocked writer would make it wait
    forever, and the conversion would never end). How long inserts wait at the swap is a
    figure for bench/, not an assertion here."""
    _events(pg_database, ROWS)
    writer = Writer(pg_database)
    writer.start()
    writer.wait_for(5, after=0)
    events: list[object] = []
    during: dict[str, int] = {}

    def report(event: object) -> None:
        events.append(event)
        if isinstance(event, Step) and not event.done and event.step in ("copy rows", "verify"):
            seen = len(writer.inserted)
            writer.wait_for(5, after=seen)
            during[event.step] = len(writer.inserted) - seen

    result = part.partition(
        [Shard(0, pg_database, "test")],
        [SPEC],
        options=Options(today=TODAY, batch_rows=20_000),
        report=report,
    )
    writer.wait_for(5, after=len(writer.inserted))  # and after the swap
    writer.stop.set()
    writer.join(10)
    assert writer.error is None, writer.error
    assert during.keys() == {"copy rows", "verify"} and min(during.values()) >= 5, during
    assert result.tables[0].action == "converted"

    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events'").fetchone() == (
            "p",
        )
        # every live insert exactly once; every original row but the deleted ones, once
        live = dict(
            conn.execute(
                "SELECT payload, count(*) FROM events WHERE payload LIKE 'live %%' GROUP BY 1"
            ).fetchall()
        )
        assert live == {m: 1 for m in writer.inserted}
        total = conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        expected = ROWS + len(writer.inserted) - len(writer.deleted)
        assert total == (expected, expected)
        gone = conn.execute(
            "SELECT count(*) FROM events WHERE id = ANY(%s)", (list(writer.deleted),)
        ).fetchone()
        assert gone == (0,)
        changed = conn.execute(
            "SELECT count(*) FROM events WHERE id = ANY(%s) AND payload = 'updated' "
            "AND touched = 1",
            (list(writer.updated),),
        ).fetchone()
        assert changed == (len(writer.updated),)
        # the identity continues after the last id: the next insert does not collide
        conn.execute("INSERT INTO events (user_id) VALUES (1)")
        # no leftovers
        left = conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE '%floyo%' "
            "UNION SELECT proname FROM pg_proc WHERE proname LIKE '%floyo%'"
        ).fetchall()
        assert left == []
        # partitions named by their range, ahead of today, and a default one
        names = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'events'::regclass"
            ).fetchall()
        }
        assert {"events_p20261101", "events_p20270201", "events_default"} <= names
        assert "events_p20270301" not in names
        assert "events_p20251001" in names  # the oldest row (400 days back)

    steps = [e.step for e in events if isinstance(e, Step) and e.done]
    assert steps == ["prepare", "copy rows", "verify", "swap", "drop old table"]
    assert any(isinstance(e, Count) and e.done >= ROWS for e in events)


def test_what_the_table_carried_is_kept(pg_database: str) -> None:
    _events(pg_database, 500)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("ALTER TABLE events FORCE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE events REPLICA IDENTITY FULL")
        before = _carried(conn)
        seq = conn.execute(
            "SELECT last_value FROM pg_sequences WHERE sequencename = 'events_id_seq'"
        ).fetchone()
    part.partition([Shard(0, pg_database, "test")], [SPEC], options=Options(today=TODAY))
    with psycopg.connect(pg_database, autocommit=True) as conn:
        after = _carried(conn)
        assert after == before
        assert (
            conn.execute(
                "SELECT last_value FROM pg_sequences WHERE sequencename = 'events_id_seq'"
            ).fetchone()
            == seq
        )
        # the primary key now includes the partition column (PostgreSQL requires it)
        pk = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'events'::regclass AND contype = 'p'"
        ).fetchone()
        assert pk == ("PRIMARY KEY (id, created_at)",)
        # partitions are guarded too: RLS on, so PostgREST cannot serve them around the policy
        unguarded = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass AND NOT c.relrowsecurity"
        ).fetchall()
        assert unguarded == []
        # the trigger still fires
        conn.execute("UPDATE events SET payload = 'x' WHERE id = 1")
        assert conn.execute("SELECT touched FROM events WHERE id = 1").fetchone() == (1,)


def _carried(conn: psycopg.Connection) -> dict[str, object]:
    oid = "'events'::regclass"
    q = conn.execute
    return {
        "rls": q(
            "SELECT relrowsecurity, relforcerowsecurity, relreplident FROM pg_class "
            f"WHERE oid = {oid}"
        ).fetchone(),
        "acl": sorted(
            q(
                "SELECT pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable "
                f"FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = {oid}"
            ).fetchall()
        ),
        "policies": q(
            "SELECT policyname, permissive, roles, cmd, qual, with_check FROM pg_policies "
            "WHERE tablename = 'events' ORDER BY 1"
        ).fetchall(),
        "defaults": q(
            "SELECT column_name, column_default, is_nullable, is_identity, identity_generation "
            "FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position"
        ).fetchall(),
        "checks": q(
            f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {oid} "
            "AND contype = 'c' ORDER BY 1"
        ).fetchall(),
        "indexes": q(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'events' ORDER BY 1"
        ).fetchall(),
        "triggers": q(
            f"SELECT tgname FROM pg_trigger WHERE tgrelid = {oid} AND NOT tgisinternal"
        ).fetchall(),
        "publications": q(
            "SELECT p.pubname FROM pg_publication_rel r JOIN pg_publication p "
            f"ON p.oid = r.prpubid WHERE r.prrelid = {oid}"
        ).fetchall(),
        "comment": q(f"SELECT obj_description({oid}, 'pg_class')").fetchone(),
        "rows": q("SELECT count(*), sum(id), max(created_at) FROM events").fetchone(),
    }


def test_premake_is_idempotent_and_dry_run_changes_nothing(pg_database: str) -> None:
    _events(pg_database, 100)
    shard = Shard(0, pg_database, "test")
    with psycopg.connect(pg_database, autocommit=True) as conn:
        relations = conn.execute("SELECT relname, relkind FROM pg_class ORDER BY 1").fetchall()
    dry = part.partition([shard], [SPEC], dry_run=True, options=Options(today=TODAY))
    assert dry.tables[0].action == "would convert"
    text = "\n".join(dry.tables[0].statements)
    assert 'CREATE TABLE "public"."events__floyo_new"' in text
    assert 'PARTITION OF "public"."events__floyo_new" DEFAULT' in text
    with psycopg.connect(pg_database, autocommit=True) as conn:
        after = conn.execute("SELECT relname, relkind FROM pg_class ORDER BY 1").fetchall()
        assert after == relations

    part.partition([shard], [SPEC], options=Options(today=TODAY))
    again = part.partition([shard], [SPEC], options=Options(today=TODAY))
    assert again.tables[0].action == "unchanged" and again.tables[0].statements == []

    # a month later: the next partition ahead appears, once
    later = date(2026, 12, 15)
    dry = part.partition([shard], [SPEC], dry_run=True, options=Options(today=later))
    assert dry.tables[0].partitions_created == ["events_p20270301"]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('events_p20270301')").fetchone() == (None,)
    made = part.partition([shard], [SPEC], options=Options(today=later))
    assert made.tables[0].action == "premade"
    assert (
        part.partition([shard], [SPEC], options=Options(today=later)).tables[0].action
        == "unchanged"
    )


def test_missing_table_or_column_is_named(pg_database: str) -> None:
    shard = Shard(0, pg_database, "test")
    with pytest.raises(UsageError, match="table events does not exist"):
        part.partition([shard], [SPEC])
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id int PRIMARY KEY, at timestamptz, note text)")
    with pytest.raises(UsageError, match="has no column 'created_at'.*its columns: id, at, note"):
        part.partition([shard], [SPEC])
    with pytest.raises(UsageError, match="note is text"):
        part.partition([shard], [TableSpec("events", "note", "week", 90, None)])


def test_periods_and_names() -> None:
    assert per.period_start(date(2026, 11, 28), "week") == date(2026, 11, 23)
    assert per.next_start(date(2026, 12, 1), "month") == date(2027, 1, 1)
    assert per.periods(date(2026, 12, 31), date(2027, 1, 1), "day") == [
        (date(2026, 12, 31), date(2027, 1, 1)),
        (date(2027, 1, 1), date(2027, 1, 2)),
    ]
    assert (
        per.partition_name("telemetry_events", date(2026, 11, 23)) == "telemetry_events_p20261123"
    )
    assert uuid  # imported for other tests' names


def test_an_interrupted_conversion_takes_its_trigger_off_and_a_rerun_finishes(
    pg_database: str,
) -> None:
    _events(pg_database, 30_000)
    shard = Shard(0, pg_database, "test")

    def interrupt(event: object) -> None:
        if isinstance(event, Count):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        part.partition(
            [shard], [SPEC], options=Options(today=TODAY, batch_rows=5000), report=interrupt
        )
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events'").fetchone() == (
            "r",
        )
        left = conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE '%floyo%' "
            "UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE '%floyo%'"
        ).fetchall()
        assert left == []
    done = part.partition([shard], [SPEC], options=Options(today=TODAY))
    assert done.tables[0].action == "converted" and done.tables[0].rows_copied == 30_000


def test_two_runs_never_work_on_one_database_at_once(pg_database: str) -> None:
    from floyo_scale.db.connect import DatabaseBusy, hold_lock

    _events(pg_database, 10)
    shard = Shard(0, pg_database, "test")
    with psycopg.connect(pg_database, autocommit=True) as other:
        hold_lock(other, shard)
        with pytest.raises(DatabaseBusy, match="another run holds the maintenance lock"):
            part.partition([shard], [SPEC], options=Options(today=TODAY))
    part.partition([shard], [SPEC], options=Options(today=TODAY))  # free again


def test_a_killed_runs_leftovers_go_without_deadlocking_the_application(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed run left its mirroring trigger and copy. The rerun removes them while an
    application transaction holds the table (it read it, and writes through the trigger while
    the rerun waits): the rerun waits with a lock_timeout and tries again; the application's
    transaction is never a deadlock victim, and its rows are in the converted table."""
    from floyo_scale.db import convert

    _events(pg_database, 20_000)
    shard = Shard(0, pg_database, "test")

    def interrupt(event: object) -> None:
        if isinstance(event, Count):
            raise KeyboardInterrupt

    monkeypatch.setattr(convert, "abandon", lambda *a: None)  # as if killed: nothing tidies
    with pytest.raises(KeyboardInterrupt):
        part.partition(
            [shard], [SPEC], options=Options(today=TODAY, batch_rows=5000), report=interrupt
        )
    insert = "INSERT INTO events (user_id, created_at, payload) VALUES (7, %s, %s)"
    with psycopg.connect(pg_database) as app, psycopg.connect(pg_database) as watch:
        app.execute("SELECT count(*) FROM events")  # a reader: holds the table
        done: dict[str, object] = {}

        def rerun() -> None:
            try:
                done["result"] = part.partition([shard], [SPEC], options=Options(today=TODAY))
            except BaseException as exc:  # noqa: BLE001 - reported below
                done["error"] = exc

        thread = threading.Thread(target=rerun)
        thread.start()
        for _ in range(400):  # until the rerun waits for the application's lock
            waiting = watch.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.application_name = 'floyo-scale'"
            ).fetchone()
            watch.commit()
            if waiting and waiting[0]:
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the rerun never waited for the application's lock")
        app.execute(insert, (NOON, "during"))  # through the trigger again: no deadlock
        app.commit()
        thread.join(timeout=120)
    assert "error" not in done, done.get("error")
    with psycopg.connect(pg_database) as conn:
        kinds = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'events'").fetchone()
        payloads = conn.execute("SELECT payload FROM events WHERE payload = 'during'").fetchall()
    assert kinds == ("p",) and payloads == [("during",)]
