"""Which databases a `db` command works on, and connecting to them without leaking a password.

One `Shard` per Supabase project of the stack (one when the phase does not shard), found in
this order:

1. `--database-url` (repeatable, once per shard, in shard order). Each value is a libpq URL or
   a secret reference `${env:NAME}`, so a password need not be on the command line (where `ps`
   and CI logs see it).
2. The stack's outputs: the program exports `database_direct_urls` (secret), each shard's
   direct connection (`postgresql://postgres:...@db.<ref>.supabase.co:5432/postgres`), which is
   what DDL, `DETACH ... CONCURRENTLY` and long COPYs need (the transaction pooler is not).

Every message that names a database shows `redact_url(url)`: user, host, port and database,
never the password; any error text from libpq is scrubbed of the password as well.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import conninfo

from ..errors import EngineError, ExitCode, FloyoError, UsageError
from ..transport import Redactor, mask

OUTPUT_NAME = "database_direct_urls"
APPLICATION_NAME = "floyo-scale"

# Every session the tool opens shows values the same way on every server, whatever the
# server's or the database's settings: row text (checksums compared across two servers,
# partition bounds, archived values) is then equal for equal data. And it sees every row or
# none: with row_security off (as pg_dump sets it), a query that a row-level security policy
# would filter (a role that is neither superuser nor BYPASSRLS, on a table whose policies
# apply to it: FORCE ROW LEVEL SECURITY for its owner) fails instead of reading a subset, so
# no archive, copy or count is made of some of the rows while the rest are dropped.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "row_security": "off",
}


class DatabaseError(EngineError):
    """PostgreSQL refused, failed or could not be reached (exit 4). The message names the
    database by its redacted URL."""


class DatabaseBusy(FloyoError):
    """Another floyo-scale run holds the database's maintenance lock (exit 5)."""

    exit_code = ExitCode.LOCKED


@dataclass(frozen=True)
class Shard:
    """One database a command works on. `url` holds the password: show `label`, not `url`."""

    index: int
    url: str = field(repr=False)
    source: str  # where the URL came from, for messages ("--database-url", "stack output ...")

    @property
    def label(self) -> str:
        return f"shard {self.index} ({redact_url(self.url)})"

    def secrets(self) -> tuple[str, ...]:
        """The strings that must never appear in output (the password, raw and URL-decoded)."""
        return _passwords(self.url)

    def scrub(self, text: str) -> str:
        """`text` with this shard's password (and its URL) replaced."""
        return _scrub(text, self.url)


def redact_url(url: str) -> str:
    """`postgresql://user:secret@host:5432/db?sslmode=require` ->
    `postgresql://user:[secret]@host:5432/db?sslmode=require`; key=value strings likewise
    (the one redactor's `mask`)."""
    return mask(url)


_USERINFO_PASSWORD = re.compile(r"://[^:/@\s]*:(\S*)@")


def _passwords(url: str) -> tuple[str, ...]:
    found: list[str] = []
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        params = {}
    password = params.get("password")
    if isinstance(password, str) and password:
        found.append(password)
    # read without a URL parser: a malformed URL (an unclosed IPv6 bracket, a bad port) must
    # still give up its password, or the message about it would show it
    match = _USERINFO_PASSWORD.search(url)
    if match:
        raw = match.group(1)
        found.extend([raw, unquote(raw)])
    # longest first, so a password that contains another is replaced whole
    return tuple(sorted({p for p in found if p}, key=len, reverse=True))


def _expand(value: str, env: Mapping[str, str], what: str) -> tuple[str, str]:
    """A URL, or `${env:NAME}` read from `env`; returns (url, source)."""
    from ..spec.refs import SECRET_REF  # the one pattern of a secret reference (spec.refs)

    match = SECRET_REF.match(value.strip())
    if match:
        name = match.group(1)
        url = env.get(name)
        if not url:
            raise UsageError(
                f"{what} refers to ${{env:{name}}}, which is not set",
                f"export {name}=postgresql://... (the database's direct connection)",
            )
        return url, f"{what} (${{env:{name}}})"
    if "://" not in value and "=" not in value:
        raise UsageError(
            f"{what} is not a PostgreSQL connection string (the value is not shown: it may "
            "be a secret)",
            "give a URL such as postgresql://user:password@host:5432/postgres, or a secret "
            "reference such as ${env:DATABASE_URL}",
        )
    try:
        conninfo.conninfo_to_dict(value)
    except psycopg.ProgrammingError as exc:
        raise UsageError(
            f"{what} is not a valid connection string: {_scrub(str(exc), value)}",
            "give a URL such as postgresql://user:password@host:5432/postgres",
        ) from None
    return value, what


def resolve_shards(
    shards: int = 1,
    *,
    database_urls: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    outputs: Callable[[], Mapping[str, Any] | None] | None = None,
    stack_name: str = "the stack",
) -> list[Shard]:
    """The databases to work on, one per shard, shard 0 first.

    `shards` is how many the stack's phase has (`phase.database.sharding.shards`, else 1).
    `database_urls` (from `--database-url`) wins; else `outputs()` is called for the stack's
    outputs (a mapping of output name to value, as `floyo-scale outputs` reads them; None
    when the stack has no state yet: nothing was deployed).
    """
    env = os.environ if env is None else env
    if database_urls:
        if len(database_urls) != shards:
            raise UsageError(
                f"{stack_name} has {shards} shard{'s' if shards != 1 else ''} but "
                f"--database-url was given {len(database_urls)} time"
                f"{'s' if len(database_urls) != 1 else ''}",
                "give --database-url once per shard, shard 0 first (or leave it out to use "
                "the stack's outputs)",
            )
        found = []
        for i, value in enumerate(database_urls):
            what = "--database-url" if shards == 1 else f"--database-url #{i + 1} (shard {i})"
            url, source = _expand(value, env, what)
            found.append(Shard(i, url, source))
        return found
    if outputs is None:
        raise UsageError(
            f"no database connection for {stack_name}",
            "give --database-url (a URL or ${env:NAME}), or deploy the stack with "
            f"`floyo-scale up` so its `{OUTPUT_NAME}` output exists",
        )
    values = outputs()
    if values is None:
        raise UsageError(
            f"{stack_name} has no state yet, so no database to connect to",
            "pass --database-url (a URL or ${env:NAME}; once per shard), or deploy the stack "
            "with `floyo-scale up` first",
        )
    urls = values.get(OUTPUT_NAME)
    if not isinstance(urls, list | tuple) or not urls:
        raise UsageError(
            f"{stack_name} has no `{OUTPUT_NAME}` output",
            "run `floyo-scale up` (the program exports each shard's direct connection), or "
            "give --database-url",
        )
    if len(urls) != shards:
        raise UsageError(
            f"{stack_name}'s `{OUTPUT_NAME}` output has {len(urls)} database(s) but its "
            f"phase has {shards} shard(s)",
            "run `floyo-scale up` so the deployed stack matches its phase, or give "
            "--database-url once per shard",
        )
    return [Shard(i, str(url), f"stack output {OUTPUT_NAME}[{i}]") for i, url in enumerate(urls)]


def _scrub(text: str, url: str) -> str:
    return Redactor(*_passwords(url))(text.replace(url, redact_url(url)))


def session_conninfo(shard: Shard, *, connect_timeout: int = 10) -> str:
    """`shard`'s connection string with the tool's session fixed in the startup packet: its
    application_name, a connect timeout, and `SESSION_SETTINGS` after any `options` the URL
    gives. Every session the tool opens (psycopg's, and the archive's Arrow reader) uses it.
    Raises psycopg.ProgrammingError for a string libpq cannot parse."""
    given = conninfo.conninfo_to_dict(shard.url).get("options") or ""
    fixed = " ".join(f"-c {k}={v}" for k, v in SESSION_SETTINGS.items())
    return conninfo.make_conninfo(
        shard.url,
        application_name=APPLICATION_NAME,
        connect_timeout=connect_timeout,
        options=f"{given} {fixed}".strip(),
    )


def connect(
    shard: Shard,
    *,
    autocommit: bool = True,
    connect_timeout: int = 10,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """Open a connection to `shard` (`session_conninfo`); a failure is a DatabaseError naming
    the redacted URL."""
    try:
        return psycopg.connect(
            session_conninfo(shard, connect_timeout=connect_timeout),
            autocommit=autocommit,
            **kwargs,
        )
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to {shard.label}: {shard.scrub(str(exc).strip())}",
            f"check the connection string (from {shard.source}), the network, and that the "
            "database accepts connections",
        ) from None


def database_error(shard: Shard, doing: str, exc: BaseException, hint: str) -> DatabaseError:
    """A DatabaseError for `exc`, raised while `doing` on `shard`, password scrubbed."""
    detail = shard.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    return DatabaseError(f"{doing} on {shard.label} failed: {detail}", hint)


MAINTENANCE_LOCK = "floyo-scale db maintenance"
LOCK_GRACE_SECONDS = 2.0  # how long a lock held by a session that is ending is waited for


def hold_lock(conn: psycopg.Connection[Any], shard: Shard, name: str = MAINTENANCE_LOCK) -> None:
    """Take the session advisory lock `name` on `shard` (released when the connection closes),
    so two runs (a scheduled one and a manual one) never work on one database at once."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    # A run that has just finished may still hold it for a moment: the server ends a session
    # (and frees its locks) after the client has closed it, not before. Ask again briefly.
    deadline = time.monotonic() + LOCK_GRACE_SECONDS
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if (row and row[0]) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if not row or not row[0]:
        holder = conn.execute(
            "SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.objid = (%s::bigint & 4294967295)::oid AND l.pid <> pg_backend_pid() LIMIT 1",
            (key,),
        ).fetchone()
        who = ""
        if holder:
            since = f"{holder[2]:%Y-%m-%d %H:%M}"
            who = f" (backend {holder[0]}, {holder[1] or 'no name'}, since {since} UTC)"
        raise DatabaseBusy(
            f"another run holds the maintenance lock of {shard.label}{who}",
            "wait for it to finish (the daily workflow, or someone's manual run), then run "
            "the command again",
        )
