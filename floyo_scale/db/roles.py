"""`db app-role`: the least-privilege role the app connects as (docs/db.md, "The app's
database role"), on every shard.

The program composes DATABASE_URL (and the replica and shard URLs) with a login role and a
password it generates (infra/database.py, infra/rds.py); this creates that role in the
database, or sets its password, with the grants the app needs and nothing more:

- a group role `floyo_app` (NOLOGIN) holding the grants: CONNECT on the database, USAGE on
  the schemas, SELECT, INSERT, UPDATE, DELETE on their tables, USAGE, SELECT, UPDATE on their
  sequences, and the same by default on what the role running this (the owner, which runs
  migrations and `db partition`) creates later. No CREATE, TRUNCATE, REFERENCES or TRIGGER,
  no ownership, no superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS.
- two login roles in it, `floyo_app_a` and `floyo_app_b`, taking turns
  (`app_password_generation` odd: a, even: b): a rotation sets the other one's password, so
  the deployment still running keeps connecting with its own until the next one replaces it.

A second run with the same password changes nothing that matters (the statements are
idempotent). The password is never printed: `--dry-run` shows it as `'***'`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..catalog.facts import APP_DATABASE_ROLE, APP_LOGIN_ROLES, app_login_role
from ..errors import UsageError
from ..progress import Reporter, Step, ignore
from .connect import Shard, connect, database_error
from .sql import ident, render

DEFAULT_SCHEMAS = ("public",)
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")
HIDDEN = "'***'"


login_role = app_login_role  # generation -> floyo_app_a, floyo_app_b, floyo_app_a...


@dataclass(frozen=True)
class ShardResult:
    shard: str
    login: str
    statements: list[str] = field(default_factory=list)  # the SQL run (password hidden)


def statements(
    database: str, login: str, password: str, schemas: Sequence[str] = DEFAULT_SCHEMAS
) -> list[tuple[sql.Composed, sql.Composed]]:
    """(the statement, the same with the password hidden) for each step, in order."""
    _check_login(login)
    group, user = ident(APP_DATABASE_ROLE), ident(login)
    tables = sql.SQL(", ").join(sql.SQL(p) for p in TABLE_PRIVILEGES)
    sequences = sql.SQL(", ").join(sql.SQL(p) for p in SEQUENCE_PRIVILEGES)
    limits = sql.SQL("NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
    out: list[tuple[sql.Composed, sql.Composed]] = []

    def both(statement: sql.Composed) -> None:
        out.append((statement, statement))

    # roles are created only if missing (CREATE ROLE has no IF NOT EXISTS)
    for name, kind in ((APP_DATABASE_ROLE, "NOLOGIN"), (login, "LOGIN INHERIT")):
        both(
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN "
                "CREATE ROLE {role} {kind} {limits}; END IF; END $$"
            ).format(name=sql.Literal(name), role=ident(name), kind=sql.SQL(kind), limits=limits)
        )
    both(sql.SQL("ALTER ROLE {} NOLOGIN {}").format(group, limits))
    # INHERIT: the login role uses the group's grants without SET ROLE
    alter = sql.SQL("ALTER ROLE {} LOGIN INHERIT {} PASSWORD ").format(user, limits)
    out.append((alter + sql.Literal(password), alter + sql.SQL(HIDDEN)))
    both(sql.SQL("GRANT {} TO {}").format(group, user))
    both(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(ident(database), group))
    for schema_name in schemas:
        schema = ident(schema_name)
        both(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, group))
        both(sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(tables, schema, group))
        both(
            sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}").format(sequences, schema, group)
        )
        both(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON TABLES TO {}").format(
                schema, tables, group
            )
        )
        both(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON SEQUENCES TO {}").format(
                schema, sequences, group
            )
        )
    return out


def ensure_app_role(
    shards: Sequence[Shard],
    login: str,
    password: str,
    *,
    schemas: Sequence[str] = DEFAULT_SCHEMAS,
    dry_run: bool = False,
    report: Reporter = ignore,
) -> list[ShardResult]:
    """Create (or update) the app's roles and grants on every shard, in one transaction per
    shard; `dry_run`: only say what would be run."""
    _check_login(login)
    if not password:
        raise UsageError(
            "the app's database password is empty",
            "run `floyo-scale up` first: the program generates it (output app_database_password)",
        )
    results = []
    for shard in shards:
        report(Step(shard.label, "app role", login))
        with connect(shard, autocommit=False) as conn:
            database = _database(conn)
            steps = statements(database, login, password, schemas)
            shown = [render(hidden, conn) for _, hidden in steps]
            if not dry_run:
                try:
                    for statement, _ in steps:
                        conn.execute(statement)
                    conn.commit()
                except psycopg.Error as exc:
                    raise database_error(
                        shard,
                        "setting up the app's role",
                        exc,
                        "the role running this must be able to create roles and grant on the "
                        "schemas (the database's owner: postgres on Supabase, the RDS master)",
                    ) from None
        results.append(ShardResult(shard.label, login, shown))
        report(Step(shard.label, "app role", login, done=True))
    return results


def _check_login(login: str) -> None:
    if login not in APP_LOGIN_ROLES:
        raise UsageError(
            f"{login!r} is not one of the app's login roles",
            "the program names them: " + ", ".join(APP_LOGIN_ROLES),
        )


def _database(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])
