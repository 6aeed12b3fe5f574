"""`db app-role` against a real PostgreSQL (tests/pg.py): the app's least-privilege roles, their
grants (now and on tables created later), idempotence, rotation between the two login roles,
and no password in what a dry run shows. Roles belong to the server, not to a database: the
session's tests share them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from floyo_scale.db.connect import Shard
from floyo_scale.db.roles import ensure_app_role, login_role
from floyo_scale.errors import UsageError

PASSWORD = "app-password-Zq9rT4"


def _as(url: str, user: str) -> str:
    """The same database as `user` (the test server trusts its Unix socket)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname or ''}"))


@pytest.fixture
def db(pg_database: str) -> str:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, body text)")
    return pg_database


def test_the_app_role_has_the_grants_the_app_needs_and_no_more(db: str) -> None:
    shard = Shard(0, db, "test")
    [result] = ensure_app_role([shard], login_role(1), PASSWORD)
    assert result.login == "floyo_app_a"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (id bigserial PRIMARY KEY)")  # by the owner, afterwards
        flags = conn.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname LIKE 'floyo_app%' ORDER BY 1"
        ).fetchall()
    # roles belong to the server, which the session's tests share: others may exist already
    assert ("floyo_app", False, False, False, False, False, False) in flags
    assert ("floyo_app_a", True, False, False, False, False, False) in flags
    assert all(row[2:] == (False,) * 5 for row in flags)
    with psycopg.connect(_as(db, "floyo_app_a"), autocommit=True) as app:
        for table in ("events", "later"):
            app.execute(f"INSERT INTO {table} DEFAULT VALUES")
            app.execute(f"UPDATE {table} SET id = id")
            assert app.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
            app.execute(f"DELETE FROM {table}")
        for forbidden in (
            "TRUNCATE events",
            "DROP TABLE events",
            "ALTER TABLE events ADD COLUMN x int",
            "CREATE ROLE intruder",
            "CREATE DATABASE other",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(forbidden)


def test_a_second_run_and_a_rotation(db: str) -> None:
    shard = Shard(0, db, "test")
    ensure_app_role([shard], login_role(1), PASSWORD)
    ensure_app_role([shard], login_role(1), PASSWORD)  # nothing new
    with psycopg.connect(db, autocommit=True) as conn:
        before = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'floyo_app_a'"
        ).fetchone()
    # generation 2: the other login role gets the new password; the first keeps its own (the
    # running deployment connects with it until the new one replaces it)
    ensure_app_role([shard], login_role(2), "a-new-password-8Kd")
    with psycopg.connect(db, autocommit=True) as conn:
        rows = dict(
            conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'floyo_app_%'"
            ).fetchall()
        )
    assert set(rows) == {"floyo_app_a", "floyo_app_b"}
    assert before is not None and rows["floyo_app_a"] == before[0]
    assert rows["floyo_app_b"] and rows["floyo_app_b"] != rows["floyo_app_a"]
    with psycopg.connect(_as(db, "floyo_app_b"), autocommit=True) as app:
        assert app.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_a_dry_run_changes_nothing_and_never_shows_the_password(db: str) -> None:
    [result] = ensure_app_role([Shard(0, db, "test")], login_role(1), PASSWORD, dry_run=True)
    text = "\n".join(result.statements)
    assert PASSWORD not in text and "PASSWORD '***'" in text
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA" in text
    with psycopg.connect(db, autocommit=True) as conn:  # nothing granted in this database
        assert conn.execute(
            "SELECT count(*) FROM information_schema.role_table_grants "
            "WHERE grantee = 'floyo_app' AND table_name = 'events'"
        ).fetchone() == (0,)


def test_only_the_apps_login_roles_and_a_password() -> None:
    with pytest.raises(UsageError, match="not one of the app's login roles"):
        ensure_app_role([Shard(0, "postgresql://x", "test")], "postgres", PASSWORD)
    with pytest.raises(UsageError, match="password is empty"):
        ensure_app_role([Shard(0, "postgresql://x", "test")], login_role(1), "")
    assert [login_role(n) for n in (1, 2, 3, 4)] == [
        "floyo_app_a",
        "floyo_app_b",
        "floyo_app_a",
        "floyo_app_b",
    ]
