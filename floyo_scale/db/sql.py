"""SQL composed with psycopg.sql: identifiers are always quoted by psycopg, never formatted in.

`ident("public", "events")` -> `"public"."events"`; `text(composed, conn)` renders a statement
for `--dry-run` output.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql


def ident(*names: str) -> sql.Identifier:
    """A (possibly schema-qualified) identifier."""
    return sql.Identifier(*names)


def render(statement: sql.Composable | str, conn: Any) -> str:
    """The statement as PostgreSQL will receive it (for dry runs and messages)."""
    if isinstance(statement, str):
        return statement
    return statement.as_string(conn)


def split_name(name: str, default_schema: str = "public") -> tuple[str, str]:
    """`events` -> ("public", "events"); `app.events` -> ("app", "events")."""
    if "." in name:
        schema, _, table = name.partition(".")
        return schema, table
    return default_schema, name
