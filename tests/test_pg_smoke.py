import psycopg
def test_pg(pg_database, pg_server, pg_server2):
    with psycopg.connect(pg_database) as c:
        assert c.execute("show wal_level").fetchone()[0] == "logical"
    assert pg_server.uri != pg_server2.uri
