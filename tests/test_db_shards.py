"""`db shards`: rows move to the shard the shard function names, verified before the source
lets them go; a crash mid-move and a rerun, 1 → 2 → 4 shards with a writer running."""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from floyo_scale import sharding
from floyo_scale.db import shard_copy, shard_plan
from floyo_scale.db import shards as mover
from floyo_scale.db.connect import Shard
from floyo_scale.db.shard_sql import SETUP_SQL
from floyo_scale.errors import UsageError
from floyo_scale.progress import Step

SCHEMA = """
CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL,
                            plan_id int NOT NULL REFERENCES plans);
CREATE TABLE projects (id bigserial PRIMARY KEY,
                       organization_id uuid NOT NULL REFERENCES organizations,
                       title text NOT NULL);
CREATE TABLE events (id bigserial PRIMARY KEY,
                     organization_id uuid NOT NULL REFERENCES organizations,
                     project_id bigint REFERENCES projects, payload text NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON projects (organization_id);
CREATE INDEX ON events (organization_id);
"""
KEY = dict(key="organization_id", key_columns={"organizations": "id"})
FENCED = ("FLY01", "FLY02")


def routed(conn: Any, key: str) -> None:
    """What the app does in each routed write's transaction (docs/sharding.md): name its key,
    so the shard's statement fence refuses an UPDATE or DELETE of a key that moved."""
    conn.execute("SELECT set_config('floyo.key', %s, true)", (key,))


ORGS = 240


def seed(url: str) -> list[str]:
    orgs = [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(ORGS)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("INSERT INTO plans VALUES (1, 'pro'), (2, 'team')")
        with conn.cursor().copy("COPY organizations (id, name, plan_id) FROM STDIN") as copy:
            for i, org in enumerate(orgs):
                copy.write_row((org, f"org {i}", 1 + i % 2))
        conn.execute(
            "INSERT INTO projects (organization_id, title) "
            "SELECT o.id, 'p' || g FROM organizations o, generate_series(1, 3) g"
        )
        conn.execute(
            "INSERT INTO events (organization_id, project_id, payload) "
            "SELECT p.organization_id, p.id, 'seed-' || p.id || '-' || g "
            "FROM projects p, generate_series(1, 8) g"
        )
    return orgs


@pytest.fixture
def four(pg_server: Any) -> list[Shard]:
    return [Shard(i, pg_server.create_database(f"shard{i}"), "test") for i in range(4)]


@pytest.fixture
def two(pg_server: Any) -> list[Shard]:
    return [Shard(i, pg_server.create_database(f"shard{i}"), "test") for i in range(2)]


def everything(shards: list[Shard]) -> dict[str, list[tuple[int, tuple]]]:
    """table -> [(shard, row)] over every shard."""
    found: dict[str, list[tuple[int, tuple]]] = {}
    for shard in shards:
        with psycopg.connect(shard.url) as conn:
            for table, query in (
                ("organizations", "SELECT id::text, name, plan_id FROM organizations"),
                ("projects", "SELECT id, organization_id::text, title FROM projects"),
                ("events", "SELECT id, organization_id::text, project_id, payload FROM events"),
                ("plans", "SELECT id, name FROM plans"),
            ):
                found.setdefault(table, []).extend(
                    (shard.index, row) for row in conn.execute(query)
                )
    return found


class Writer(threading.Thread):
    """The app during a move: routes each write by the layout on shard 0 and the moved-out
    lists (docs/sharding.md), retries what the fence refuses, and remembers what committed."""

    def __init__(self, shards: list[Shard], orgs: list[str]) -> None:
        super().__init__(daemon=True)
        self.urls = [s.url for s in shards]
        self.orgs = list(orgs)
        self.stop = threading.Event()
        self.events: list[tuple[str, str]] = []  # (org, payload) committed
        self.titles: dict[tuple[str, int], str] = {}  # (org, project id) -> last title
        self.new_orgs: list[str] = []
        self.refused = 0
        self.error: BaseException | None = None
        self.writes = 0

    def run(self) -> None:
        rng = random.Random(7)
        try:
            conns = [psycopg.connect(u, autocommit=True) for u in self.urls]
            n = 0
            while not self.stop.is_set():
                n += 1
                org = rng.choice(self.orgs)
                if n % 25 == 0:
                    self._new_org(conns, rng)
                elif n % 2:
                    self._retry(conns, org, lambda c, o=org, i=n: self._insert(c, o, i))
                else:
                    self._retry(conns, org, lambda c, o=org, i=n: self._update(c, o, i))
                self.writes += 1
                time.sleep(0.002)
            for conn in conns:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _retry(self, conns: list[Any], org: str, write: Any) -> None:
        for _ in range(50):
            index = shard_plan.locate(conns, org)
            try:
                if write(conns[index]):
                    return
            except (psycopg.errors.RaiseException, psycopg.errors.DeadlockDetected) as exc:
                if isinstance(exc, psycopg.errors.RaiseException) and exc.sqlstate not in (
                    "FLY01",
                    "FLY02",
                ):
                    raise
            except psycopg.Error as exc:
                if exc.sqlstate not in ("FLY01", "FLY02", "40P01"):
                    raise
            self.refused += 1
            time.sleep(0.01)
        raise AssertionError(f"write for {org} refused 50 times")

    def _insert(self, conn: Any, org: str, n: int) -> bool:
        payload = f"w-{n}"
        with conn.transaction():
            conn.execute(
                "INSERT INTO events (organization_id, payload) VALUES (%s, %s)", (org, payload)
            )
        self.events.append((org, payload))
        return True

    def _update(self, conn: Any, org: str, n: int) -> bool:
        with conn.transaction():
            routed(conn, org)
            row = conn.execute(
                "UPDATE projects SET title = %s WHERE id = (SELECT min(id) FROM projects "
                "WHERE organization_id = %s) RETURNING id",
                (f"t-{n}", org),
            ).fetchone()
        # a routed write either applies where the key is or is refused with FLY01/FLY02
        assert row is not None, f"the routed update of {org} matched no row"
        self.titles[(org, row[0])] = f"t-{n}"
        return True

    def _new_org(self, conns: list[Any], rng: random.Random) -> None:
        org = str(uuid.UUID(int=rng.getrandbits(128)))

        def create(conn: Any) -> bool:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO organizations (id, name, plan_id) VALUES (%s, 'new', 1)", (org,)
                )
                conn.execute(
                    "INSERT INTO projects (organization_id, title) VALUES (%s, 'p1')", (org,)
                )
            return True

        self._retry(conns, org, create)
        self.new_orgs.append(org)
        self.orgs.append(org)


def check_placement(shards: list[Shard], count: int) -> dict[str, list[tuple[int, tuple]]]:
    data = everything(shards[:count])
    for table, org_at in (("organizations", 0), ("projects", 1), ("events", 1)):
        for index, row in data[table]:
            org = row[org_at]
            assert sharding.shard_for(org, count) == index, (table, row, index)
    for table in ("projects", "events"):
        ids = [row[0] for _, row in data[table]]
        assert len(ids) == len(set(ids)), f"{table}: an id is on two shards"
    orgs = [row[0] for _, row in data["organizations"]]
    assert len(orgs) == len(set(orgs))
    plans = {index: sorted(row for i, row in data["plans"] if i == index) for index in range(count)}
    assert all(p == plans[0] for p in plans.values()), "the lookup table differs between shards"
    return data


def test_sql_shard_function_matches_python(pg_database: str) -> None:
    keys = ["", "a", "Zoë", "日本", "0F8FAD5B-D9CB-469F-A165-70867728950E", "42", " x "]
    keys += [str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(200)]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(SETUP_SQL)
        for n in (1, 2, 3, 4, 8, 64, 1000):
            got = [
                r[0]
                for r in conn.execute(
                    "SELECT _floyo.shard_for(k, %s) FROM unnest(%s::text[]) WITH ORDINALITY "
                    "AS u(k, i) ORDER BY i",
                    (n, keys),
                )
            ]
            assert got == [sharding.shard_for(k, n) for k in keys], n


def test_plan_says_what_moves(two: list[Shard]) -> None:
    orgs = seed(two[0].url)
    result = shard_plan.plan(two[:2], **KEY)
    moving = [o for o in orgs if sharding.shard_for(o, 2) == 1]
    assert (result.from_shards, result.to_shards, result.new_shards) == (1, 2, [1])
    assert result.keys_total == ORGS
    assert result.keys_moving == len(moving)
    assert result.rows_moving == len(moving) * (1 + 3 + 24)
    assert result.unkeyed == ["public.plans"] and result.unkeyed_rows == 2
    assert result.keyed == {
        "public.events": "organization_id",
        "public.organizations": "id",
        "public.projects": "organization_id",
    }
    assert result.order.index("public.plans") < result.order.index("public.organizations")
    assert result.order.index("public.projects") < result.order.index("public.events")
    assert result.seconds > 0
    assert result.to_dict()["rows_moving"] == result.rows_moving
    # planning changed nothing
    assert shard_plan.plan(two[:2], **KEY).keys_moving == len(moving)


def test_one_to_two_to_four_with_a_writer_and_crashes(
    four: list[Shard], pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    orgs = seed(four[0].url)
    before = everything(four[:1])
    writer = Writer(four, orgs)
    writer.start()
    time.sleep(0.2)

    # 1 -> 2, crashing after the third batch's target committed (its source did not)
    calls = {"n": 0}

    def crash(name: str) -> None:
        if name == "target-committed":
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("injected crash")

    monkeypatch.setattr(mover, "_crash_point", crash)
    with pytest.raises(RuntimeError, match="injected"):
        mover.apply(four[:2], batch_keys=20, bin_dir=pg_server.bin_dir, **KEY)
    monkeypatch.setattr(mover, "_crash_point", lambda name: None)
    first = mover.apply(four[:2], batch_keys=20, bin_dir=pg_server.bin_dir, **KEY)
    assert first.from_shards == 1 and first.to_shards == 2
    assert first.keys_moved > 0 and first.freeze_seconds is not None  # figure: bench/db_move.py
    check_placement(four, 2)

    # 2 -> 4, crashing in the final step after stragglers moved, before the layout changed
    def crash_final(name: str) -> None:
        if name == "final-before-layout":
            raise RuntimeError("injected crash")

    monkeypatch.setattr(mover, "_crash_point", crash_final)
    with pytest.raises(RuntimeError, match="injected"):
        mover.apply(four, batch_keys=50, bin_dir=pg_server.bin_dir, **KEY)
    monkeypatch.setattr(mover, "_crash_point", lambda name: None)
    assert shard_plan.plan(four, **KEY).resuming == "final"
    second = mover.apply(four, batch_keys=50, bin_dir=pg_server.bin_dir, **KEY)
    assert (second.from_shards, second.to_shards) == (2, 4)
    time.sleep(0.2)
    writer.stop.set()
    writer.join(timeout=10)
    assert writer.error is None, writer.error
    assert writer.writes > 50

    data = check_placement(four, 4)
    # nothing lost, nothing changed, nothing duplicated
    seeded = sorted(row for _, row in before["events"])
    by_payload = {row[3]: row for _, row in data["events"]}
    assert len(by_payload) == len(data["events"])
    assert all(by_payload[row[3]] == row for row in seeded)
    assert sorted(
        (row[1], row[3]) for _, row in data["events"] if row[3].startswith("w-")
    ) == sorted(writer.events)
    titles = {(row[1], row[0]): row[2] for _, row in data["projects"]}
    for key, title in writer.titles.items():
        assert titles[key] == title
    assert len(data["organizations"]) == ORGS + len(writer.new_orgs)
    assert len(data["projects"]) == 3 * ORGS + len(writer.new_orgs)

    # the fence: shard 0 refuses a key it gave away, and one the layout does not give it
    moved = next(o for o in orgs if sharding.shard_for(o, 2) == 1)
    stranger = next(o for o in writer.new_orgs + orgs if sharding.shard_for(o, 4) == 2)
    with psycopg.connect(four[0].url, autocommit=True) as conn:
        for org, state in ((moved, "FLY01"), (stranger, "FLY0")):
            with pytest.raises(psycopg.Error) as refused:
                conn.execute(
                    "INSERT INTO events (organization_id, payload) VALUES (%s, 'x')", (org,)
                )
            assert (refused.value.sqlstate or "").startswith(state)
        fresh = next(
            str(uuid.UUID(int=i))
            for i in range(1, 1000)
            if sharding.shard_for(str(uuid.UUID(int=i)), 4) == 3
        )
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("INSERT INTO organizations VALUES (%s, 'n', 1)", (fresh,))
        assert refused.value.sqlstate == "FLY02"

    # a third run has nothing to do; a shard count that shrinks is refused
    assert mover.apply(four, **KEY).keys_moved == 0
    with pytest.raises(UsageError, match="laid out over 4 shards and the phase has 2"):
        shard_plan.plan(four[:2], **KEY)


def test_a_new_shard_with_other_tables_is_refused(two: list[Shard], pg_server: Any) -> None:
    seed(two[0].url)
    with psycopg.connect(two[1].url, autocommit=True) as conn:
        conn.execute("CREATE TABLE something_else (id int)")
    with pytest.raises(UsageError, match="not the same ones as shard 0"):
        mover.apply(two[:2], bin_dir=pg_server.bin_dir, **KEY)
    with psycopg.connect(two[0].url) as conn:  # nothing moved
        assert conn.execute("SELECT count(*) FROM organizations").fetchone() == (ORGS,)


def test_layout_errors(two: list[Shard]) -> None:
    seed(two[0].url)
    with pytest.raises(UsageError, match="organizations.nope, which does not exist"):
        shard_plan.plan(two[:2], key="organization_id", key_columns={"organizations": "nope"})
    with pytest.raises(UsageError, match="stays on shard 0"):
        shard_plan.plan(two[:2], unkeyed_tables="shard0", **KEY)
    with psycopg.connect(two[0].url, autocommit=True) as conn:
        conn.execute("CREATE TABLE comments (id int, project_id bigint REFERENCES projects)")
    with pytest.raises(UsageError, match="comments has a foreign key to public.projects"):
        shard_plan.plan(two[:2], **KEY)


def test_final_step_moves_the_logged_keys_and_time_zones_do_not_matter(
    two: list[Shard], pg_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new shard's database has another TimeZone and DateStyle (the per-key checksums of
    timestamptz rows still agree, on the first run and on the rerun after a crash); the
    final step moves the keys the fence logged, without reading every keyed row under its
    lock; a key written just before the freeze is among them."""
    orgs = seed(two[0].url)
    with psycopg.connect(two[1].url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(f"ALTER DATABASE {name} SET timezone = 'Pacific/Chatham'")
        conn.execute(f"ALTER DATABASE {name} SET datestyle = 'Postgres, DMY'")
    writer = Writer(two, orgs)
    writer.start()
    calls = {"n": 0}

    def crash(name: str) -> None:
        if name == "target-committed":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("injected crash")

    monkeypatch.setattr(mover, "_crash_point", crash)
    with pytest.raises(RuntimeError, match="injected"):
        mover.apply(two, batch_keys=20, bin_dir=pg_server.bin_dir, **KEY)
    monkeypatch.setattr(mover, "_crash_point", lambda name: None)

    scanned_frozen: list[str] = []
    real_key_rows, real_final = mover.key_row_counts, mover._final

    def key_rows(conn: Any, layout: Any) -> Any:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            scanned_frozen.append(conn.info.dbname)
        return real_key_rows(conn, layout)

    late = next(
        str(uuid.UUID(int=i))
        for i in range(1, 1000)
        if sharding.shard_for(str(uuid.UUID(int=i)), 2) == 1
    )

    def final(*args: Any, **kwargs: Any) -> Any:
        with psycopg.connect(two[0].url, autocommit=True) as conn:  # just before the freeze
            conn.execute("INSERT INTO organizations VALUES (%s, 'late', 2)", (late,))
        return real_final(*args, **kwargs)

    monkeypatch.setattr(mover, "key_row_counts", key_rows)
    monkeypatch.setattr(mover, "_final", final)
    # and the per-row checks, as for a role that may not set session_replication_role
    monkeypatch.setattr(
        mover, "fast_copies", lambda conns, old, new, say: dict.fromkeys(range(new), False)
    )
    done = mover.apply(two, batch_keys=20, bin_dir=pg_server.bin_dir, **KEY)
    assert done.foreign_key_checks == "per row"
    writer.stop.set()
    writer.join(timeout=10)
    assert writer.error is None, writer.error
    assert done.keys_moved > 0 and scanned_frozen == []
    data = check_placement(two, 2)
    assert (1, (late, "late", 2)) in data["organizations"]
    with psycopg.connect(two[0].url) as conn:
        assert conn.execute("SELECT count(*) FROM _floyo.late_keys").fetchone() == (0,)
        assert conn.execute("SELECT moving_to FROM _floyo.layout").fetchone() == (None,)


class RoutedWriter(threading.Thread):
    """The app's routed UPDATEs and DELETEs during a move, done exactly as docs/sharding.md
    says (route by the layout on shard 0, name the key, retry on FLY01/FLY02 only): each one
    must apply exactly once; one that matches no row would be a write lost."""

    def __init__(self, shards: list[Shard], orgs: list[str]) -> None:
        super().__init__(daemon=True)
        self.urls = [s.url for s in shards]
        self.orgs = orgs
        self.stop = threading.Event()
        self.bumps: dict[str, int] = {}  # org -> updates applied (3 projects each)
        self.deleted: set[str] = set()  # payloads of deleted events
        self.refused = 0
        self.lost: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(11)
        try:
            conns = [psycopg.connect(u, autocommit=True) for u in self.urls]
            n = 0
            while not self.stop.is_set():
                n += 1
                org = rng.choice(self.orgs)
                if n % 2 or sum(1 for d in self.deleted if d.startswith(org)) >= 20:
                    self._write(conns, org, self._bump)
                else:
                    self._write(conns, org, self._remove)
            for conn in conns:
                conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _write(self, conns: list[Any], org: str, write: Any) -> None:
        for _ in range(200):
            conn = conns[shard_plan.locate(conns, org)]
            try:
                with conn.transaction():
                    routed(conn, org)
                    write(conn, org)
                return
            except psycopg.Error as exc:
                if exc.sqlstate not in FENCED:
                    raise
                self.refused += 1
                time.sleep(0.005)
        raise AssertionError(f"the write of {org} was refused 200 times")

    def _bump(self, conn: Any, org: str) -> None:
        cur = conn.execute(
            "UPDATE projects SET title = title || '+' WHERE organization_id = %s", (org,)
        )
        if cur.rowcount != 3:
            self.lost.append(f"update of {org}: {cur.rowcount} row(s)")
            return
        self.bumps[org] = self.bumps.get(org, 0) + 1

    def _remove(self, conn: Any, org: str) -> None:
        row = conn.execute(
            "DELETE FROM events WHERE id = (SELECT min(id) FROM events WHERE "
            "organization_id = %s AND payload LIKE 'seed-%%') RETURNING organization_id::text, "
            "payload",
            (org,),
        ).fetchone()
        if row is None:
            self.lost.append(f"delete of {org}: no row")
            return
        self.deleted.add(f"{row[0]} {row[1]}")


def test_routed_updates_and_deletes_apply_exactly_once_or_are_refused(
    two: list[Shard], pg_server: Any
) -> None:
    """Item 5 of issue 20: an UPDATE or DELETE routed by the documented rule while its key
    moves either applies on the shard that holds the key or is refused with FLY01/FLY02;
    none matches 0 rows."""
    orgs = seed(two[0].url)
    before = everything(two[:1])
    writer = RoutedWriter(two, orgs)
    writer.start()
    time.sleep(0.1)
    done = mover.apply(two, batch_keys=5, bin_dir=pg_server.bin_dir, **KEY)
    time.sleep(0.1)
    writer.stop.set()
    writer.join(timeout=10)
    assert writer.error is None, writer.error
    assert writer.lost == []
    assert done.keys_moved > 0 and sum(writer.bumps.values()) > 20 and writer.deleted
    data = check_placement(two, 2)
    titles = sorted((row[1], row[2]) for _, row in data["projects"])
    want = sorted(
        (row[1], row[2] + "+" * writer.bumps.get(row[1], 0)) for _, row in before["projects"]
    )
    assert titles == want
    events = {f"{row[1]} {row[3]}" for _, row in data["events"]}
    seeded = {f"{row[1]} {row[3]}" for _, row in before["events"]}
    assert events == seeded - writer.deleted and writer.deleted <= seeded


def test_the_fences(two: list[Shard], pg_server: Any) -> None:
    """While the mover holds a key the fences refuse its writes at once (FLY01, no wait); a
    routed UPDATE of a key that has moved matches no row but is refused (FLY01); without
    floyo.key it would say nothing."""
    orgs = seed(two[0].url)
    key = next(o for o in orgs if sharding.shard_for(o, 2) == 1)
    mover.apply(two, bin_dir=pg_server.bin_dir, **KEY)
    update = "UPDATE projects SET title = 'x' WHERE organization_id = %s"
    with psycopg.connect(two[0].url, autocommit=True) as conn:
        assert conn.execute(update, (key,)).rowcount == 0  # not named: silent
        with pytest.raises(psycopg.Error) as refused, conn.transaction():
            routed(conn, key)
            conn.execute(update, (key,))
        assert refused.value.sqlstate == "FLY01"
    stays = next(o for o in orgs if sharding.shard_for(o, 2) == 0)
    with psycopg.connect(two[0].url) as holder, psycopg.connect(two[0].url) as app:
        holder.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (mover.LOCK_SPACE, stays))
        for statement in (
            "DELETE FROM events WHERE organization_id = %s",
            "UPDATE projects SET title = 'y' WHERE organization_id = %s",
            "INSERT INTO events (organization_id, payload) VALUES (%s, 'z')",
        ):
            with pytest.raises(psycopg.Error) as refused:
                app.execute(statement, (stays,))
            assert refused.value.sqlstate == "FLY01", statement
            app.rollback()
        holder.rollback()
        assert app.execute(update, (stays,)).rowcount == 3
        app.rollback()


def test_fast_copies_need_the_right_to_set_session_replication_role(pg_database: str) -> None:
    said: list[Step] = []
    with psycopg.connect(pg_database, autocommit=True) as admin:
        role = f"mover_{uuid.uuid4().hex[:8]}"
        admin.execute(f"CREATE ROLE {role} LOGIN")
        url = pg_database.replace("postgres:@", f"{role}:@", 1)
        assert url != pg_database
        with psycopg.connect(url, autocommit=True) as conn:
            assert shard_copy.fast_copies([conn, conn], 1, 2, said.append) == {0: False, 1: False}
            assert "checked row by row" in said[0].detail
            admin.execute(f"GRANT SET ON PARAMETER session_replication_role TO {role}")
            assert shard_copy.fast_copies([conn, conn], 1, 2, said.append) == {0: True, 1: True}
        with psycopg.connect(pg_database, autocommit=True) as conn:  # superuser
            assert shard_copy.fast_copies([conn, conn], 1, 2, said.append) == {0: True, 1: True}


KILL_MID_COPY = """
import os, signal, sys
sys.path[:0] = {paths!r}
from floyo_scale.db import shards as mover
from floyo_scale.db.connect import Shard
calls = {{"n": 0}}
def crash(name):
    if name == "mid-copy":
        calls["n"] += 1
        if calls["n"] == {at}:
            os.kill(os.getpid(), signal.SIGKILL)
mover._crash_point = crash
shards = [Shard(i, u, "test") for i, u in enumerate({urls!r})]
mover.apply(shards, batch_keys=20, bin_dir={bin_dir!r}, key="organization_id",
            key_columns={{"organizations": "id"}})
"""


def test_sigkill_mid_copy_on_the_fast_path_then_the_rerun_finishes(
    two: list[Shard], pg_server: Any
) -> None:
    """The mover killed (SIGKILL) in the middle of a batch's copy, with the per-row checks
    off (session_replication_role = replica), twice: once in the first batches, once later;
    each rerun resumes, and in the end no row is lost or duplicated."""
    import subprocess
    import sys
    from pathlib import Path

    orgs = seed(two[0].url)
    before = everything(two[:1])
    root = Path(__file__).resolve().parent.parent
    for at in (2, 7):
        script = KILL_MID_COPY.format(
            paths=[str(root)],
            at=at,
            urls=[s.url for s in two],
            bin_dir=str(pg_server.bin_dir),
        )
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
        assert run.returncode == -9, run.stderr.decode()[-2000:]
        assert shard_plan.plan(two, **KEY).resuming == "keys"
    done = mover.apply(two, batch_keys=20, bin_dir=pg_server.bin_dir, **KEY)
    assert done.foreign_key_checks == "per batch"
    data = check_placement(two, 2)
    for table in ("organizations", "projects", "events", "plans"):
        got = sorted(row for index, row in data[table] if table != "plans" or index == 0)
        assert got == sorted(row for _, row in before[table]), table
    assert len(data["organizations"]) == len(orgs)


@pytest.mark.parametrize("moving", ["child", "parent"])
def test_fast_path_checks_the_references_it_skips(
    two: list[Shard], pg_server: Any, moving: str
) -> None:
    """An event of one organization referring to another's project, the two going to
    different shards: with the per-row checks off, the batch checks stop the move (the
    target's copy refers to a missing parent / a row staying on the source refers to a
    moving one) before anything is deleted."""
    from floyo_scale.db.connect import DatabaseError

    orgs = seed(two[0].url)
    stays = next(o for o in orgs if sharding.shard_for(o, 2) == 0)
    goes = next(o for o in orgs if sharding.shard_for(o, 2) == 1)
    child, parent = (goes, stays) if moving == "child" else (stays, goes)
    with psycopg.connect(two[0].url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (organization_id, project_id, payload) SELECT %s, min(id), "
            "'crossed' FROM projects WHERE organization_id = %s",
            (child, parent),
        )
    before = everything(two[:1])
    message = "are not there" if moving == "child" else "that stay there refer to rows"
    with pytest.raises(DatabaseError, match=message):
        mover.apply(two, batch_keys=500, bin_dir=pg_server.bin_dir, **KEY)
    assert sorted(row for _, row in everything(two[:1])["events"]) == sorted(
        row for _, row in before["events"]
    )


def test_a_table_with_a_type_without_a_hash_function_is_checksummed_by_its_text(
    two: list[Shard], pg_server: Any
) -> None:
    """`json` has no hash function, so `hash_record_extended` cannot hash an events row with
    one: that table's checksum falls back to the md5 of each row's text, and the move goes
    on, verified."""
    seed(two[0].url)
    with psycopg.connect(two[0].url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events ADD COLUMN meta json")
        conn.execute("UPDATE events SET meta = json_build_object('n', id)")
        with pytest.raises(psycopg.Error):
            conn.execute("SELECT hash_record_extended(e, 0) FROM events e LIMIT 1")
        want = sorted(conn.execute("SELECT id, meta::text FROM events").fetchall())
    done = mover.apply(two, batch_keys=50, bin_dir=pg_server.bin_dir, **KEY)
    assert done.keys_moved > 0
    got = []
    for shard in two:
        with psycopg.connect(shard.url) as conn:
            got += conn.execute("SELECT id, meta::text FROM events").fetchall()
    assert sorted(got) == want
    check_placement(two, 2)
