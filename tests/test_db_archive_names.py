"""Names and types `db partition`, `db archive` and `db restore` must take as they come: names
that need quoting, names of the full 63 bytes (multi-byte UTF-8 too), timestamps with a
precision, partition keys that belong to no period; and manifests that lie or are not
manifests at all."""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest
import test_db_archive
from hypothesis import given
from hypothesis import strategies as st

from floyo_scale.db import archive as arc
from floyo_scale.db import introspect
from floyo_scale.db import manifest as manifests
from floyo_scale.db import partition as part
from floyo_scale.db.connect import Shard
from floyo_scale.db.convert import Options
from floyo_scale.db.export import ArchiveOptions, arrow_type
from floyo_scale.db.periods import MAX_IDENT, default_name, partition_name, short_name
from floyo_scale.db.restore import restore
from floyo_scale.db.shape import TableSpec
from floyo_scale.errors import ExitCode, UsageError

# a fresh versioned bucket on moto's S3, as the archive tests have it
s3 = test_db_archive.s3
BUCKET, TODAY = test_db_archive.BUCKET, test_db_archive.TODAY

SUFFIXES = ["__floyo_new", "__floyo_old", "__floyo_sync", "_default", "_p20261101", "_range"]

# identifiers PostgreSQL accepts: any characters but NUL, at most 63 bytes of UTF-8
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=63,
).filter(lambda n: len(n.encode()) <= MAX_IDENT)


@given(name=names, suffix=st.sampled_from(SUFFIXES))
def test_a_derived_name_fits_in_63_bytes_and_keeps_its_suffix(name: str, suffix: str) -> None:
    derived = short_name(name, suffix)
    assert len(derived.encode()) <= MAX_IDENT
    assert derived.endswith(suffix)
    assert derived.encode().decode() == derived  # never cut inside a character
    assert short_name(name, suffix) == derived  # the same on every run: a rerun finds it
    if len((name + suffix).encode()) <= MAX_IDENT:
        assert derived == name + suffix  # short names are left as they are
    else:
        head = derived[: -(len(suffix) + 9)]  # before "_" and 8 hex digits of hash
        assert name.startswith(head) and head


@given(
    a=names,
    b=names,
    suffix=st.sampled_from(SUFFIXES),
)
def test_two_names_never_derive_one(a: str, b: str, suffix: str) -> None:
    if a != b:
        assert short_name(a, suffix) != short_name(b, suffix)


@given(
    stem=st.text(alphabet="é€𝄞a", min_size=20, max_size=20),
    tails=st.lists(st.text(alphabet="xyzé", min_size=1, max_size=8), min_size=2, unique=True),
)
def test_long_names_sharing_their_first_bytes_stay_apart(stem: str, tails: list[str]) -> None:
    """What PostgreSQL would cut to one name (the first 63 bytes are the same) stays many."""
    long_names = [(stem + tail)[:63] for tail in tails]
    long_names = [n for n in long_names if len(n.encode()) <= MAX_IDENT]
    derived = {short_name(n, "__floyo_new") for n in set(long_names)}
    assert len(derived) == len(set(long_names))


def test_partition_names_of_a_63_byte_table_fit() -> None:
    table = "é" * 31 + "x"  # 63 bytes
    name = partition_name(table, date(2026, 11, 1))
    assert len(name.encode()) <= MAX_IDENT and name.endswith("_p20261101")
    assert name != partition_name(table[:-1] + "y", date(2026, 11, 1))
    assert partition_name("events", date(2026, 11, 1)) == "events_p20261101"
    assert default_name("events") == "events_default"


@pytest.mark.parametrize(
    ("shown", "plain"),
    [
        ("timestamp(0) with time zone", "timestamp with time zone"),
        ("timestamp(3) without time zone", "timestamp without time zone"),
        ("timestamp(6) with time zone", "timestamp with time zone"),
        ("timestamp with time zone", "timestamp with time zone"),
        ("date", "date"),
        ("time(3) with time zone", None),
        ("text", None),
    ],
)
def test_timestamps_with_a_precision_are_timestamps(shown: str, plain: str | None) -> None:
    assert introspect.time_type(shown) == plain
    if plain and plain != "date":
        assert str(arrow_type(shown)).startswith("timestamp[us")


# --- a table whose names need quoting and fill 63 bytes -------------------------------------

# 63 bytes each: the conversion's temporary names must be cut by bytes and stay apart
TABLE = "Évènements du jour " + "é" * 21  # 21 + 42 = 63 bytes
COLUMN = "créé à"
INDEX_A = "idx " + "ü" * 29 + "a"  # 63 bytes
INDEX_B = "idx " + "ü" * 29 + "b"
SPEC = TableSpec(TABLE, COLUMN, "month", 200, "archive")


def _awkward(url: str, rows: int = 600) -> Shard:
    assert len(TABLE.encode()) == 63 and len(INDEX_A.encode()) == 63
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL(
                "CREATE TABLE {t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                '{c} timestamp(3) with time zone NOT NULL, "the note" text); '
                'CREATE INDEX {a} ON {t} ("the note"); CREATE UNIQUE INDEX {b} ON {t} (id, {c})'
            ).format(
                t=psycopg.sql.Identifier(TABLE),
                c=psycopg.sql.Identifier(COLUMN),
                a=psycopg.sql.Identifier(INDEX_A),
                b=psycopg.sql.Identifier(INDEX_B),
            )
        )
        conn.execute(
            psycopg.sql.SQL(
                'INSERT INTO {t} ({c}, "the note") '
                "SELECT timestamptz '2026-11-27 12:34:56.789+00' - (g %% 400) * interval '1 day', "
                "'note ' || g FROM generate_series(1, %s) g"
            ).format(t=psycopg.sql.Identifier(TABLE), c=psycopg.sql.Identifier(COLUMN)),
            (rows,),
        )
    return Shard(0, url, "test")


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            psycopg.sql.SQL("SELECT t::text FROM {} t ORDER BY id").format(
                psycopg.sql.Identifier(TABLE)
            )
        ).fetchall()


def test_quoted_63_byte_names_and_timestamp3_partition_archive_and_restore(
    pg_database: str, s3
) -> None:
    shard = _awkward(pg_database)
    before = _rows(pg_database)
    result = part.partition([shard], [SPEC], options=Options(today=TODAY))
    assert result.tables[0].action == "converted"
    assert _rows(pg_database) == before
    with psycopg.connect(pg_database) as conn:
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass(%s)",
                (psycopg.sql.Identifier(TABLE).as_string(conn),),
            )
        }
        leftovers = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE '%floyo%'")
        assert not leftovers.fetchall()
    assert {i.strip('"') for i in indexes} >= {INDEX_A, INDEX_B}
    again = part.partition([shard], [SPEC], options=Options(today=TODAY))
    assert again.tables[0].action == "unchanged"

    done = arc.archive([shard], [SPEC], {TABLE: BUCKET}, s3=s3, options=ArchiveOptions(today=TODAY))
    archived = [p for p in done.partitions if p.action == "archived"]
    assert archived
    one = archived[0]
    assert len(one.partition.encode()) <= MAX_IDENT
    manifest = manifests.read_manifest(s3, BUCKET, one.key.rsplit("/", 1)[0] + "/manifest.json")
    assert manifest.columns[1].arrow.startswith("timestamp[us")
    restore(shard, SPEC, one.partition, BUCKET, s3=s3)
    kept = _rows(pg_database)
    assert set(kept) <= set(before)
    assert len(kept) == len(before) - sum(p.rows for p in archived) + one.rows


@pytest.mark.parametrize("value", ["NULL", "'infinity'", "'-infinity'"])
def test_a_key_in_no_period_is_named_by_its_row_before_any_change(
    pg_database: str, value: str
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, created_at timestamptz); "
            "INSERT INTO events SELECT g, timestamptz '2026-11-01' FROM generate_series(1, 50) g"
        )
        conn.execute(f"UPDATE events SET created_at = {value} WHERE id = 37")
    spec = TableSpec("events", "created_at", "month", 200, None)
    with pytest.raises(UsageError) as caught:
        part.partition([Shard(0, pg_database, "test")], [spec], options=Options(today=TODAY))
    text = f"{caught.value.message} {caught.value.hint}"
    assert "(id) = (37)" in text and "nothing was changed" in text
    assert ("NULL" if value == "NULL" else value.strip("'")) in caught.value.message
    with psycopg.connect(pg_database) as conn:
        kinds = conn.execute("SELECT relname, relkind FROM pg_class WHERE relname LIKE 'events%'")
        assert dict(kinds.fetchall()) == {"events": "r", "events_pkey": "i"}


# --- manifests -------------------------------------------------------------------------------


def _good() -> dict:
    return {
        "version": 1,
        "database": "d",
        "schema": "public",
        "table": "events",
        "partition": "events_p20251101",
        "column": "created_at",
        "lower": "2025-11-01T00:00:00+00:00",
        "upper": "2025-12-01T00:00:00+00:00",
        "rows": 3,
        "min_value": None,
        "max_value": None,
        "columns": [{"name": "created_at", "postgres": "date", "arrow": "date32[day]"}],
        "sha256": "0" * 64,
        "size": 10,
        "created_at": "2026-11-28T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda m: "not json{", "is not JSON"),
        (lambda m: [1, 2], "not a JSON object"),
        (lambda m: {k: v for k, v in m.items() if k != "rows"}, "no 'rows'"),
        (lambda m: {**m, "rows": "3"}, "'rows' is '3'"),
        (lambda m: {**m, "rows": True}, "'rows' is True"),
        (lambda m: {**m, "lower": "yesterday"}, "not ISO 8601"),
        (lambda m: {**m, "upper": m["lower"]}, "is empty"),
        (lambda m: {**m, "sha256": "abc"}, "not 64 hex"),
        (lambda m: {**m, "version": 9}, "version 9"),
        (lambda m: {**m, "columns": [{"name": 1}]}, "is not {name, postgres, arrow}"),
        (lambda m: {**m, "column": "other"}, "not among the columns"),
    ],
)
def test_a_malformed_manifest_is_a_usage_error_naming_its_key(change, said: str) -> None:
    changed = change(_good())
    data = changed if isinstance(changed, str) else json.dumps(changed)
    with pytest.raises(manifests.ManifestError) as caught:
        manifests.Manifest.from_json(data.encode(), "s3://b/k/manifest.json")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "s3://b/k/manifest.json" in caught.value.message and said in caught.value.message
    assert "nothing was changed" in (caught.value.hint or "")
    assert manifests.Manifest.from_json(json.dumps(_good()).encode()).rows == 3
    # a later version's extra fields are not an error
    extra = {**_good(), "note": "x", "columns": [{**_good()["columns"][0], "comment": "y"}]}
    assert manifests.Manifest.from_json(json.dumps(extra).encode()).columns[0].name == "created_at"


def _events(url: str, s3) -> tuple[Shard, TableSpec, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, created_at timestamptz NOT NULL); "
            "INSERT INTO events SELECT g, timestamptz '2026-11-27 12:00+00' "
            "- (g % 400) * interval '1 day' FROM generate_series(1, 800) g"
        )
    spec = TableSpec("events", "created_at", "month", 200, "archive")
    shard = Shard(0, url, "test")
    part.partition([shard], [spec], options=Options(today=TODAY))
    done = arc.archive(
        [shard], [spec], {"events": BUCKET}, s3=s3, options=ArchiveOptions(today=TODAY)
    )
    key = done.partitions[0].key.rsplit("/", 1)[0] + "/manifest.json"
    return shard, spec, key


@pytest.mark.parametrize(
    ("edit", "said", "code"),
    [
        # the bounds moved a month on: the rows would be attached as another period
        (
            lambda m: {
                **m,
                "lower": "2026-01-01T00:00:00+00:00",
                "upper": "2026-02-01T00:00:00+00:00",
            },
            "does not describe its object",
            ExitCode.ENGINE,
        ),
        (lambda m: {**m, "rows": m["rows"] + 1}, "does not describe its object", ExitCode.ENGINE),
        (lambda m: {**m, "lower": "soon"}, "is malformed", ExitCode.USAGE),
    ],
)
def test_a_tampered_manifest_is_refused_before_any_change(
    pg_database: str, s3, edit, said: str, code: ExitCode
) -> None:
    shard, spec, key = _events(pg_database, s3)
    partition = key.rsplit("/", 2)[1]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(edit(manifest)).encode())
    with psycopg.connect(pg_database) as conn:
        before = conn.execute("SELECT relname FROM pg_class ORDER BY 1").fetchall()
    with pytest.raises(Exception) as caught:
        restore(shard, spec, partition, BUCKET, s3=s3)
    assert said in str(caught.value) and key in str(caught.value)
    assert caught.value.exit_code == code  # type: ignore[attr-defined]
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT relname FROM pg_class ORDER BY 1").fetchall() == before
