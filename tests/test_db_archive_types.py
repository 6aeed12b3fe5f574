"""Every kind of value PostgreSQL holds leaves for the archive and comes back exactly, whatever
the database's own session defaults: the archive's reader (a binary COPY decoded into Arrow by
the ADBC driver, db/export.py) fixes its session as every tool session does, reads the types
with an Arrow twin natively and every other type as PostgreSQL's own text."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import sys

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_db_archive

from floyo_scale.db import archive as arc
from floyo_scale.db import export
from floyo_scale.db import partition as part
from floyo_scale.db.connect import Shard, connect
from floyo_scale.db.convert import Options
from floyo_scale.db.export import ArchiveOptions
from floyo_scale.db.restore import restore
from floyo_scale.db.shape import TableSpec
from floyo_scale.errors import EngineError

s3 = test_db_archive.s3
BUCKET, TODAY = test_db_archive.BUCKET, test_db_archive.TODAY
SPEC = TableSpec("things", "created_at", "month", 200, "archive")

# column -> (type, an ordinary value, an awkward one); a third row is NULL in every column
COLUMNS = {
    "s": ("smallint", "1", "'-32768'"),
    "i": ("integer", "42", "2147483647"),
    "r": ("real", "0.1", "1.17549435e-38"),
    "r2": ("real", "'-0'", "'NaN'"),
    "d": ("double precision", "0.1", "4.9e-324"),
    "d2": ("double precision", "'-Infinity'", "'Infinity'"),
    "b": ("boolean", "true", "false"),
    "dt": ("date", "'2025-11-03'", "'0001-01-01'"),
    "dt2": ("date", "'2025-11-03'", "'9999-12-31'"),
    "ts": ("timestamp", "'2025-11-03 04:05:06.789012'", "'9999-12-31 23:59:59.999999'"),
    "ts0": ("timestamp(0) with time zone", "'2025-11-03 04:05:06+05:45'", "'0001-01-01 00:00+00'"),
    "tm": ("time", "'04:05:06.7'", "'24:00:00'"),
    "tz": ("timetz", "'04:05:06+05:45'", "'23:59:59.999999-15:59'"),
    "iv": ("interval", "'1 mon -1 day 02:00'", "'-178000000 years -1 us'"),
    "n": ("numeric", "'0.1'", "'NaN'"),
    "n2": ("numeric(30, 10)", "'12345678901234567890.0123456789'", "'-0.0000000001'"),
    "t": ("text", "''", "E'tab\\t back\\\\slash \"q\" ,comma\\nline\\r cr \u00fc\u20ac\U0001f600'"),
    "vc": ("varchar(8)", "'a,b'", "'\"\"'"),
    "ch": ("char(5)", "'ab'", "' '"),
    "by": ("bytea", "'\\x'", "'\\x00ff5c0a0d22'"),
    "u": (
        "uuid",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
        "'00000000-0000-0000-0000-0000000000ff'",
    ),
    "js": ("json", '\'{"b": 1,  "a": [1, 2 ], "a": 3}\'', "'\"\\u0000 \"'"),
    "jb": ("jsonb", '\'{"b": 1, "a": [1.50, null]}\'', "'[]'"),
    "ip": ("inet", "'192.168.1.1/24'", "'::1'"),
    "cd": ("cidr", "'10.0.0.0/8'", "'2001:db8::/32'"),
    "mac": ("macaddr", "'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'"),
    "bits": ("bit(4)", "B'1010'", "B'0000'"),
    "vb": ("varbit", "B''", "B'1'"),
    "ia": ("integer[]", "'{1,NULL,3}'", "'{{1,2},{3,4}}'"),
    "ta": ("text[]", '\'{"a,b","c\\"d",NULL,"NULL"}\'', "'{}'"),
    "fa": ("double precision[]", "'{0.1,1e-320}'", "'{NaN,-Infinity}'"),
    "tsa": ("timestamptz[]", "'{\"2025-11-03 04:05:06+05:45\"}'", "'{infinity}'"),
    "rg": ("tstzrange", "'[2025-11-03 00:00+00,2025-11-04 00:00+00)'", "'empty'"),
    "en": ("mood", "'ok'", "'sad ,\"'"),
    "co": ("pair", "'(1,\"x, y\")'", "'(,)'"),
    "dom": ("positive", "7", "2147483647"),
    "dts": ("moment", "'2025-11-03 04:05:06+00'", "'infinity'"),
    "pt": ("point", "'(1.5,-2)'", "'(1e-300,NaN)'"),
    "tsv": ("tsvector", "'a:1 b:2'", "''"),
    "o": ("oid", "1", "4294967295"),
    "c1": ('"char"', "'a'", "''"),
    "m": ("money", "'12.34'", "'-92233720368547758.08'"),
}


def _things(url: str) -> Shard:
    with psycopg.connect(url, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        # the database's own defaults are hostile: our sessions must not depend on them
        for setting, value in (
            ("TimeZone", "Asia/Kathmandu"),
            ("DateStyle", "SQL, DMY"),
            ("IntervalStyle", "sql_standard"),
            ("bytea_output", "escape"),
            ("extra_float_digits", "-2"),
        ):
            conn.execute(f"ALTER DATABASE \"{database}\" SET {setting} = '{value}'")
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'sad ,\"')")
        conn.execute("CREATE TYPE pair AS (a int, b text)")
        conn.execute("CREATE DOMAIN positive AS integer CHECK (VALUE > 0)")
        conn.execute("CREATE DOMAIN moment AS timestamptz")
        columns = ", ".join(f"{name} {kind}" for name, (kind, _, _) in COLUMNS.items())
        conn.execute(
            "CREATE TABLE things (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            f"created_at timestamptz NOT NULL, {columns})"
        )
        names = ", ".join(COLUMNS)
        for when, pick in (("2025-11-02", 1), ("2025-11-20", 2), ("2026-11-01", 1)):
            values = ", ".join(f"{v[pick]}::{v[0]}" for v in COLUMNS.values())
            conn.execute(f"INSERT INTO things (created_at, {names}) VALUES ('{when}', {values})")
        conn.execute("INSERT INTO things (created_at) VALUES ('2025-11-15')")  # NULL elsewhere
    shard = Shard(0, url, "test")
    part.partition([shard], [SPEC], options=Options(today=TODAY))
    return shard


def _rows(shard: Shard) -> list[tuple[str]]:
    """Every row's text in the tool's fixed session (exact floats, UTC, ISO)."""
    with connect(shard) as conn:
        return conn.execute("SELECT t::text FROM things t ORDER BY id").fetchall()


def test_every_type_round_trips_whatever_the_database_defaults(pg_database: str, s3) -> None:
    shard = _things(pg_database)
    before = _rows(shard)
    done = arc.archive(
        [shard], [SPEC], {"things": BUCKET}, s3=s3, options=ArchiveOptions(today=TODAY)
    )
    november = next(p for p in done.partitions if p.partition == "things_p20251101")
    assert november.rows == 3
    assert len(_rows(shard)) == 1  # only the row of 2026-11 stays

    body = s3.get_object(Bucket=BUCKET, Key=november.key)["Body"].read()
    table = pq.read_table(io.BytesIO(body)).sort_by("id")
    # the types with an Arrow twin are kept as it; all others as PostgreSQL's own text, in
    # the fixed session (not the database's Kathmandu time, SQL dates or escaped bytea)
    assert table.schema.field("ts0").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("dt").type == pa.date32()
    assert table.schema.field("dom").type == pa.string()  # a domain: its text
    first, awkward, empty = table.to_pylist()
    assert first["tsa"] == '{"2025-11-02 22:20:06+00"}'
    assert first["iv"] == "1 mon -1 days +02:00:00"
    assert awkward["by"] == "\\x00ff5c0a0d22"
    assert awkward["d"] == 5e-324 and awkward["r"] == pytest.approx(1.17549435e-38)
    assert math.isnan(awkward["r2"]) and math.copysign(1.0, first["r2"]) == -1.0
    assert awkward["dt"].isoformat() == "0001-01-01" and awkward["dt2"].year == 9999
    # char(n) as its cast to text gives it: without the padding, which the column restores
    assert (first["ch"], awkward["ch"]) == ("ab", "") and awkward["t"].endswith("\U0001f600")
    assert all(v is None for k, v in empty.items() if k not in ("id", "created_at"))
    assert (first["t"], empty["t"]) == ("", None)  # empty text is not NULL

    restore(shard, SPEC, "things_p20251101", BUCKET, s3=s3)
    assert _rows(shard) == before


def test_a_read_that_fails_is_a_database_error_with_the_password_scrubbed(
    pg_database: str, s3
) -> None:
    """The reader's own connection fails (a wrong password, here for a database that does
    not exist): an EngineError naming the database without its password; nothing dropped."""
    base, query = pg_database.split("?", 1)
    server = base.rsplit("/", 1)[0].replace("postgres:@", "postgres:hunter2-secret@")
    wrong = Shard(0, f"{server}/nope_db?{query}", "test")
    nothing = pa.schema([("x", pa.int32())])
    with (
        pytest.raises(EngineError) as caught,
        export.read_batches(wrong, ["SELECT 1"], nothing) as reading,
    ):
        list(reading.batches)
    assert "hunter2" not in str(caught.value) and "nope_db" in str(caught.value)


@pytest.mark.parametrize("readers", [1, 2])
def test_a_failed_read_ends_even_where_no_timeout_ever_expires(readers: int, tmp_path) -> None:
    """No wait of the readers ends by a timeout: under faketime (a year ahead, as the README's
    check runs the db tests) a timed wait may never wake. A reader whose connection fails,
    alone or while the second waits for the first's snapshot, ends the read with the error.
    (Before, a failed reader left the reading side polling a queue with a timeout: hung.)"""
    found = shutil.which("faketime")
    assert found, "faketime is not installed (apt-get install faketime; .ci/run does it)"
    code = (
        "import pyarrow as pa\n"
        "from floyo_scale.db import export\n"
        "from floyo_scale.db.connect import Shard\n"
        f"shard = Shard(0, 'postgresql://postgres@/db?host={tmp_path}&port=1', 'test')\n"
        "try:\n"
        f"    with export.read_batches(shard, ['SELECT 1'] * {readers}, "
        "pa.schema([('x', pa.int32())])) as r:\n"
        "        list(r.batches)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    done = subprocess.run(
        [found, "-f", "+400d", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "DatabaseError", done.stderr


@pytest.mark.parametrize("split", [False, True], ids=["one-reader", "two-readers"])
def test_a_reader_killed_mid_read_leaves_the_partition_in_view(
    split: bool, pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reading session's backend is terminated after the first batch (an administrator,
    a failover): a DatabaseError, the partition still attached with every row (it never
    left), no object and no unfinished upload left; the rerun archives it. Read in two page
    ranges, one of the two readers is killed: the other stops too."""
    from floyo_scale.db.connect import DatabaseError

    monkeypatch.setattr(export, "BATCH_BYTES", 64 * 1024)  # the kill lands mid-read
    monkeypatch.setattr(export, "SPLIT_PAGES", 2 if split else 10**9)
    shard = _things(pg_database)
    killed: list[int] = []

    def kill_the_reader(point: str) -> None:
        if point == "uploading" and not killed:
            with connect(shard) as conn:
                killed.extend(
                    r[0]
                    for r in conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'COPY (SELECT%%' AND pid <> pg_backend_pid() LIMIT 1"
                    )
                )

    with psycopg.connect(pg_database, autocommit=True) as conn:  # more than the socket holds
        conn.execute(
            "INSERT INTO things (created_at, t) SELECT '2025-11-10', repeat('x', 1000) "
            "FROM generate_series(1, 4000)"
        )
    before = _rows(shard)
    with pytest.raises(DatabaseError, match="reading the partition") as failed:
        arc.archive(
            [shard],
            [SPEC],
            {"things": BUCKET},
            s3=s3,
            options=ArchiveOptions(today=TODAY, checkpoint=kill_the_reader),
        )
    assert killed == [True]
    assert "still attached" in (failed.value.hint or "")
    assert _rows(shard) == before
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert not [o["Key"] for o in listed if "things_p20251101" in o["Key"]]

    done = arc.archive(
        [shard], [SPEC], {"things": BUCKET}, s3=s3, options=ArchiveOptions(today=TODAY)
    )
    assert {p.partition: p.rows for p in done.partitions}["things_p20251101"] == 4003


_LOST_BEFORE_COPY = """
import sys
import adbc_driver_manager
import psycopg
from floyo_scale.db import archive as arc, export
from floyo_scale.db.connect import Shard
from floyo_scale.db.export import ArchiveOptions
from floyo_scale.db.shape import TableSpec
from datetime import date

url, split = sys.argv[1], sys.argv[2] == "1"
export.SPLIT_PAGES = 2 if split else 10**9


class Statement(adbc_driver_manager.AdbcStatement):
    # the server ends this reader's session just before its transaction begins (a failover,
    # an administrator): the statement then fails with no SQLSTATE
    def set_sql_query(self, query):
        if query.startswith("BEGIN"):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = 'SET statement_timeout = 0' AND state = 'idle'"
                )
        super().set_sql_query(query)


adbc_driver_manager.AdbcStatement = Statement
try:
    arc.archive(
        [Shard(0, url, "test")],
        [TableSpec("things", "created_at", "month", 200, "archive")],
        {"things": "floyo-test-archive"},
        options=ArchiveOptions(today=date(2026, 11, 28)),
    )
except Exception as exc:
    print(type(exc).__name__, exc.hint)
"""


@pytest.mark.parametrize("split", [False, True], ids=["one-reader", "two-readers"])
def test_a_reader_s_connection_lost_before_its_copy_changes_nothing(
    split: bool, pg_database: str, s3
) -> None:
    """The server ends a reader's session after it connected and before its COPY began. The
    pinned driver (adbc-driver-postgresql 1.8, pyproject.toml) aborts the process there (a
    statement failing with no SQLSTATE; fixed in 1.11, whose wheels decode at half the
    speed); a later driver raises, and the run says the partition is still attached. Either
    way nothing changed: every row in view, nothing verified, and the rerun archives it."""
    shard = _things(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:  # two page ranges
        conn.execute(
            "INSERT INTO things (created_at, t) SELECT '2025-11-10', repeat('x', 1000) "
            "FROM generate_series(1, 4000)"
        )
    before = _rows(shard)
    done = subprocess.run(
        [sys.executable, "-c", _LOST_BEFORE_COPY, pg_database, "1" if split else "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    aborted = done.returncode == -6  # SIGABRT: std::logic_error from the driver
    assert aborted or done.stdout.startswith("DatabaseError"), (done.returncode, done.stderr)
    assert aborted or "still attached" in done.stdout
    assert _rows(shard) == before
    with psycopg.connect(pg_database) as conn:
        journal = conn.execute(
            "SELECT state FROM floyo_scale.archive_journal WHERE partition_name = %s",
            ("things_p20251101",),
        ).fetchall()
    assert journal in ([], [("exporting",)])  # nothing verified, nothing detached

    done_again = arc.archive(
        [shard], [SPEC], {"things": BUCKET}, s3=s3, options=ArchiveOptions(today=TODAY)
    )
    assert {p.partition: p.rows for p in done_again.partitions}["things_p20251101"] == 4003
