"""The session's PostgreSQL servers (tests/pg.py): real, separate, ready for logical replication."""

import psycopg


def test_servers_are_separate_and_ready_for_logical_replication(
    pg_database: str, pg_server: object, pg_server2: object
) -> None:
    with psycopg.connect(pg_database) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
        assert row is not None and row[0] == "logical"
        conn.execute("CREATE TABLE t (id int)")
    assert pg_server.uri != pg_server2.uri  # type: ignore[attr-defined]
