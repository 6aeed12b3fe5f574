"""`db archive` and `db restore` on a real PostgreSQL and moto's S3 on loopback: exactly one
verified copy whatever step a crash interrupts, restore round-trips equal rows, dry runs
change nothing."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import boto3
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from floyo_scale.db import archive as arc
from floyo_scale.db import partition as part
from floyo_scale.db.connect import DatabaseError, Shard
from floyo_scale.db.convert import Options
from floyo_scale.db.export import ArchiveError, ArchiveOptions
from floyo_scale.db.restore import restore
from floyo_scale.db.s3 import s3_client
from floyo_scale.db.shape import TableSpec
from floyo_scale.errors import UsageError
from floyo_scale.progress import Step

TODAY = date(2026, 11, 28)
BUCKET = "floyo-test-archive"
SPEC = TableSpec("events", "created_at", "month", 200, "archive")
OLD = "events_p20251101"  # one of the partitions wholly older than 200 days


@pytest.fixture
def s3(moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """boto3's standard configuration, pointed at moto by AWS_ENDPOINT_URL; a fresh,
    versioned bucket (as the archive bucket is)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "aws").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFLOYOTESTKEY0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "floyo-test-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = s3_client()
    for bucket in client.list_buckets().get("Buckets", []):
        _empty(client, bucket["Name"])
        client.delete_bucket(Bucket=bucket["Name"])
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def _empty(client, bucket: str) -> None:
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            client.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def _partitioned(url: str, rows: int = 4000) -> Shard:
    """A partitioned events table with rows from 400 days back to yesterday, some awkward
    values (NULL vs empty text, quotes, newlines, numeric, jsonb)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE events (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                created_at timestamptz NOT NULL,
                note text,
                amount numeric(12, 3),
                ok boolean,
                day date,
                data jsonb,
                twice bigint GENERATED ALWAYS AS (id * 2) STORED
            )
            """
        )
        conn.execute(
            "INSERT INTO events (created_at, note, amount, ok, day, data) "
            "SELECT timestamptz '2026-11-27 12:34:56.789+00' - (g %% 400) * interval '1 day', "
            "CASE g %% 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'say \"hi\", ok' "
            "WHEN 3 THEN E'two\\nlines' ELSE 'plain ' || g END, "
            "g / 7.0, CASE WHEN g %% 3 = 0 THEN NULL ELSE g %% 2 = 0 END, "
            "date '2026-01-01' + g %% 300, jsonb_build_object('g', g) "
            "FROM generate_series(1, %s) g",
            (rows,),
        )
    shard = Shard(0, url, "test")
    part.partition([shard], [SPEC], options=Options(today=TODAY))
    return shard


def _snapshot(url: str, where: str = "true") -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT e::text FROM events e WHERE {where} ORDER BY id").fetchall()


def _versions(client, prefix: str) -> list[str]:
    page = client.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    assert not page.get("DeleteMarkers")
    return sorted(v["Key"] for v in page.get("Versions", []))


def _archive(shard: Shard, client, *, bucket: str = BUCKET, dry_run: bool = False, **options):
    return arc.archive(
        [shard],
        [SPEC],
        {"events": bucket},
        s3=client,
        dry_run=dry_run,
        options=ArchiveOptions(today=TODAY, **options),
    )


class _Killed(BaseException):
    """Like a killed process: not an Exception, so nothing tidies up."""


def _killed_at(shard: Shard, client, point: str, times: int = 1, **options) -> None:
    """The archive run, killed the `times`-th time it reaches checkpoint `point`."""
    reached: list[str] = []

    def kill(name: str) -> None:
        if name == point:
            reached.append(name)
            if len(reached) == times:
                raise _Killed(name)

    with pytest.raises(_Killed):
        _archive(shard, client, checkpoint=kill, **options)


def test_archive_moves_old_partitions_and_restore_brings_one_back(pg_database: str, s3) -> None:
    shard = _partitioned(pg_database)
    before = _snapshot(pg_database)
    old_rows = _snapshot(
        pg_database,
        "created_at >= '2025-11-01' AND created_at < '2025-12-01'",
    )
    from floyo_scale.db.connect import connect

    with connect(shard) as conn:  # the tool's session: UTC, ISO
        span = conn.execute(f"SELECT min(created_at)::text, max(created_at)::text FROM {OLD}")
        lowest, highest = span.fetchone() or (None, None)
    events: list[object] = []
    done = arc.archive(
        [shard],
        [SPEC],
        {"events": BUCKET},
        s3=s3,
        options=ArchiveOptions(today=TODAY),
        report=events.append,
    )
    archived = [p.partition for p in done.partitions]
    # 200 days before 2026-11-28 is 2026-05-12: every month ending by then
    assert archived == [
        f"events_p{m}01"
        for m in ("202510", "202511", "202512", "202601", "202602", "202603", "202604")
    ]
    assert done.cutoffs == {"events": "2026-05-12"}
    assert sum(p.rows for p in done.partitions) + len(_snapshot(pg_database)) == len(before)
    steps = [e.step for e in events if isinstance(e, Step) and e.done][:4]
    assert steps == ["upload", "verify", "detach", "drop"]  # detached once verified

    item = next(p for p in done.partitions if p.partition == OLD)
    database = pg_database.split("?")[0].rsplit("/", 1)[1]
    assert item.key == f"shard-0/{database}/public/events/{OLD}/data.parquet"
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=item.key.replace("data.parquet", "manifest.json"))[
            "Body"
        ].read()
    )
    assert manifest["rows"] == len(old_rows) == item.rows
    # the column's span, from the row groups' statistics, as PostgreSQL writes it
    assert (manifest["min_value"], manifest["max_value"]) == (lowest, highest)
    assert lowest == "2025-11-01 12:34:56.789+00"
    assert manifest["lower"].startswith("2025-11-01") and manifest["upper"].startswith("2025-12-01")
    assert {c["name"]: c["postgres"] for c in manifest["columns"]}["amount"] == "numeric(12,3)"
    assert len(manifest["sha256"]) == 64
    # a second run finds nothing more to do
    assert _archive(shard, s3).partitions == []

    result = restore(shard, SPEC, OLD, BUCKET, s3=s3)
    assert (result.action, result.rows) == ("restored", len(old_rows))
    assert (
        _snapshot(pg_database, "created_at >= '2025-11-01' AND created_at < '2025-12-01'")
        == old_rows
    )
    assert restore(shard, SPEC, OLD, BUCKET, s3=s3).action == "unchanged"
    with psycopg.connect(pg_database) as conn:
        parent = conn.execute(
            "SELECT i.inhparent::regclass::text FROM pg_inherits i "
            "WHERE i.inhrelid = 'events_p20251101'::regclass"
        ).fetchone()
        assert parent == ("events",)


@pytest.mark.parametrize(
    "crash_at",
    ["uploading", "uploaded", "manifest", "verified", "detached", "checked", "dropped"],
)
def test_a_crash_at_any_step_then_a_rerun_leaves_exactly_one_copy(
    crash_at: str, pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = _partitioned(pg_database, rows=800)
    expected = _snapshot(pg_database, "created_at < '2025-11-01'")  # events_p20251001

    _killed_at(shard, s3, crash_at, older_than_days=365)
    # in between, the rows are in the application's view, or out of it only once their
    # archive is verified
    with psycopg.connect(pg_database) as conn:
        state = conn.execute(
            "SELECT state FROM floyo_scale.archive_journal WHERE partition_name = %s",
            ("events_p20251001",),
        ).fetchone()
    verified = (("verified",), ("detached",), ("dropped",))
    assert _attached(pg_database, "events_p20251001") or state in verified

    rerun = _archive(shard, s3, older_than_days=365)
    # (journalled `exporting` while it is read: even a crash before the first byte went to
    # the bucket is resumed, by exporting anew)
    assert [(p.partition, p.action) for p in rerun.partitions] == [("events_p20251001", "resumed")]
    keys = _versions(s3, "shard-0/")
    data = [k for k in keys if k.endswith("data.parquet")]
    manifests = [k for k in keys if k.endswith("manifest.json")]
    assert len(data) == 1 and len(manifests) == 1, keys  # one version of each object
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    with psycopg.connect(pg_database) as conn:
        states = conn.execute("SELECT DISTINCT state FROM floyo_scale.archive_journal").fetchall()
        assert states == [("dropped",)]
        assert conn.execute("SELECT to_regclass('events_p20251001')").fetchone() == (None,)
    key = next(k for k in data if "events_p20251001" in k)
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    import io

    assert pq.ParquetFile(io.BytesIO(body)).metadata.num_rows == len(expected)


def test_a_crash_after_the_first_part_then_a_rerun_aborts_the_upload(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed once parts are in the bucket: the entry was journalled before the first part
    went up, so the rerun resumes it, aborts the unfinished upload and uploads anew."""
    from floyo_scale.db import export
    from floyo_scale.db import s3 as s3mod

    shard = _partitioned(pg_database, rows=4000)
    expected = _snapshot(pg_database, "created_at < '2025-11-01'")  # events_p20251001
    sizes = (export.BATCH_BYTES, s3mod.PART_SIZE)
    monkeypatch.setattr(export, "BATCH_BYTES", 1024)
    monkeypatch.setattr(s3mod, "PART_SIZE", 1024)
    _killed_at(shard, s3, "uploading", times=6, older_than_days=365)
    assert len(s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])) == 1
    assert _journal(pg_database)["events_p20251001"] == ("exporting", BUCKET)
    # S3's parts are 5 MiB at least, but the last
    monkeypatch.setattr(export, "BATCH_BYTES", sizes[0])
    monkeypatch.setattr(s3mod, "PART_SIZE", sizes[1])
    rerun = _archive(shard, s3, older_than_days=365)
    assert [(p.partition, p.action, p.rows) for p in rerun.partitions] == [
        ("events_p20251001", "resumed", len(expected))
    ]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert len(_versions(s3, "shard-0/")) == 2


def test_a_partition_read_in_two_page_ranges_round_trips(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large partitions are read in two halves by ctid, by two connections: every row once,
    restored equal (here every partition of more than two pages is split)."""
    from floyo_scale.db import export

    monkeypatch.setattr(export, "SPLIT_PAGES", 2)
    splits: list[int] = []
    ranges = export.page_ranges

    def counted(*args: object) -> list[str]:
        queries = ranges(*args)  # type: ignore[arg-type]
        splits.append(len(queries))
        return queries

    monkeypatch.setattr(export, "page_ranges", counted)
    shard = _partitioned(pg_database, rows=4000)
    before = _snapshot(pg_database)
    done = _archive(shard, s3, older_than_days=360)
    assert 2 in splits
    assert sum(p.rows for p in done.partitions) + len(_snapshot(pg_database)) == len(before)
    for item in done.partitions:
        restore(shard, SPEC, item.partition, BUCKET, s3=s3)
    assert _snapshot(pg_database) == before


def test_the_page_ranges_are_read_in_one_snapshot(pg_database: str) -> None:
    """The second range's transaction imports the first's snapshot (pg_export_snapshot): with
    transactions committing all the while, both read the same snapshot, the one handed back."""
    import threading

    from floyo_scale.db import export

    running = threading.Event()
    running.set()

    def commit_all_the_while() -> None:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            while running.is_set():
                conn.execute("SELECT pg_current_xact_id()")

    writer = threading.Thread(target=commit_all_the_while, daemon=True)
    writer.start()
    schema = pa.schema([("s", pa.string())])
    query = "SELECT pg_current_snapshot()::text AS s"
    try:
        for _ in range(5):
            with export.read_batches(Shard(0, pg_database, "test"), [query, query], schema) as r:
                seen = [row["s"] for batch in r.batches for row in batch.to_pylist()]
            assert seen == [r.snapshot, r.snapshot], seen
    finally:
        running.clear()
        writer.join()


def test_batches_come_in_the_schema_s_types_the_driver_s_when_they_are_the_same(
    pg_database: str,
) -> None:
    """Each column is read as its Arrow twin's type, so the driver's batches are handed on as
    they are (a cast would start Arrow's compute registry, 50-80 ms; newer drivers add field
    metadata, which the writer ignores); one whose types differ from the schema's is cast."""
    from floyo_scale.db import export

    shard = Shard(0, pg_database, "test")
    same = pa.schema([("a", pa.int64()), ("t", pa.string())])
    query = "SELECT 1::bigint AS a, 'x'::text AS t"
    with export.read_batches(shard, [query], same) as r:
        batch = next(iter(r.batches))
    assert batch.schema.equals(same, check_metadata=False) and batch.to_pylist() == [
        {"a": 1, "t": "x"}
    ]
    # an integer, where the schema has a bigint: cast
    with export.read_batches(shard, ["SELECT 1::integer AS a, 'x'::text AS t"], same) as r:
        batch = next(iter(r.batches))
    assert batch.schema.field("a").type == pa.int64() and batch.to_pylist() == [{"a": 1, "t": "x"}]


def test_a_policy_that_hides_rows_fails_the_archive_instead_of_losing_them(
    pg_database: str, s3
) -> None:
    """The tool's role owns the table but is no superuser, and a partition forces row-level
    security on its owner with a policy that shows half the rows: reading half and dropping
    all would lose the rest. Every tool session has row_security off (as pg_dump does), so
    the read fails, naming the policy, and nothing is changed."""
    _partitioned(pg_database, rows=800)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        role = f"{database}_archiver"  # (roles are the server's: one per test database)
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"')
        conn.execute(
            "DO $$ DECLARE r record; BEGIN FOR r IN SELECT c.oid::regclass AS t FROM pg_class c "
            "WHERE c.relname LIKE 'events%' AND c.relkind IN ('r', 'p') LOOP "
            f"EXECUTE format('ALTER TABLE %s OWNER TO \"{role}\"', r.t); END LOOP; END $$"
        )
        conn.execute("ALTER TABLE events_p20251001 ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE events_p20251001 FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY half ON events_p20251001 USING (id % 2 = 0)")
    before = _snapshot(pg_database)
    owner = Shard(0, pg_database.replace("postgres:@", f"{role}:@"), "test")
    from floyo_scale.db.connect import DatabaseError

    with pytest.raises(DatabaseError, match="row-level security"):
        _archive(owner, s3, older_than_days=365)
    assert _attached(pg_database, "events_p20251001") and _snapshot(pg_database) == before
    assert [k for k in _versions(s3, "") if k.endswith("data.parquet")] == []

    # db advise's EXPLAINs read no row: they plan with the policy, as the app's queries do
    from floyo_scale.db import advise_scan
    from floyo_scale.db.connect import connect

    with connect(owner) as conn:
        version = conn.info.server_version
        plan = advise_scan._explain(conn, "SELECT * FROM events_p20251001 WHERE id = $1", version)
    assert plan is not None and "(id % '2'::bigint) = 0" in json.dumps(plan)


def test_dry_run_changes_nothing(pg_database: str, s3) -> None:
    shard = _partitioned(pg_database, rows=500)
    before = _snapshot(pg_database)
    dry = _archive_dry(shard, s3)
    assert len(dry.partitions) == 7 and dry.partitions[0].action == "would archive"
    read, detach, lock, check, drop = dry.partitions[0].statements
    # what the reader sends: each column as its Arrow twin's type or as text, a binary COPY,
    # while the partition is attached
    assert read.startswith('COPY (SELECT "id"::bigint AS "id", "created_at"::timestamp with ')
    assert '"amount"::text AS "amount"' in read and ") TO STDOUT (FORMAT binary)  --" in read
    # a default partition exists, so the detach cannot be CONCURRENTLY
    assert detach == 'ALTER TABLE "public"."events" DETACH PARTITION "public"."events_p20251001"'
    # the check and the drop in one transaction: nothing writes to it between them
    assert lock.startswith('LOCK TABLE "public"."events_p20251001" IN ACCESS EXCLUSIVE MODE')
    assert check.startswith("SELECT count(*), count(*) FILTER (WHERE age(xmin) <= ")
    assert drop == 'DROP TABLE "public"."events_p20251001"'
    assert _snapshot(pg_database) == before
    assert _versions(s3, "") == []


def test_detach_is_concurrent_without_a_default_partition(pg_database: str, s3) -> None:
    shard = _partitioned(pg_database, rows=300)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP TABLE events_default")
    dry = _archive_dry(shard, s3)
    assert dry.partitions[0].statements[1].endswith(" CONCURRENTLY")
    done = _archive(shard, s3)
    assert [p.partition for p in done.partitions] == [p.partition for p in dry.partitions]
    assert done.partitions and all(p.action == "archived" for p in done.partitions)


def _archive_dry(shard: Shard, client, bucket: str = BUCKET):
    return _archive(shard, client, bucket=bucket, dry_run=True)


def test_unpartitioned_or_missing_table_is_named(pg_database: str, s3) -> None:
    shard = Shard(0, pg_database, "test")
    with pytest.raises(UsageError, match="table events does not exist"):
        _archive(shard, s3)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id int, created_at timestamptz)")
    with pytest.raises(UsageError, match="is not partitioned"):
        _archive(shard, s3)
    with pytest.raises(UsageError, match="no archive at s3://"):
        conn2 = psycopg.connect(pg_database, autocommit=True)
        conn2.close()
        restore(shard, SPEC, "events_p20200101", BUCKET, s3=s3)
    assert boto3  # the standard client


def test_a_weekly_table_by_date_column_round_trips(pg_database: str, s3) -> None:
    """A `date` partition column, weekly: bounds are dates, weeks start on Monday."""
    spec = TableSpec("app.readings", "day", "week", 30, "archive")
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA app; CREATE TABLE app.readings (id serial PRIMARY KEY, day date NOT "
            "NULL, value real, at timestamp); INSERT INTO app.readings (day, value, at) "
            "SELECT date '2026-11-27' - g, g / 4.0, timestamp '2026-01-01 10:00' + g * "
            "interval '1 hour' FROM generate_series(0, 80) g"
        )
    shard = Shard(0, pg_database, "test")
    part.partition([shard], [spec], options=Options(today=TODAY))
    before = _rows(pg_database)
    done = arc.archive([shard], [spec], {spec.name: BUCKET}, s3=s3,
                       options=ArchiveOptions(today=TODAY))  # fmt: skip
    names = [p.partition for p in done.partitions]
    assert names and all(n.startswith("readings_p2026") for n in names)
    assert names[0] == "readings_p20260907"  # a Monday: 80 days before 2026-11-27 is in it
    for name in names:
        assert restore(shard, spec, name, BUCKET, s3=s3).action == "restored"
    assert _rows(pg_database) == before


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT r::text FROM app.readings r ORDER BY id").fetchall()


def test_every_shard_is_partitioned_and_archived_under_its_own_keys(
    pg_database: str, pg_server: object, s3
) -> None:
    second = pg_server.create_database()  # type: ignore[attr-defined]
    shards = [_partitioned(pg_database, rows=450), _partitioned(second, rows=450)]
    shards = [Shard(i, s.url, "test") for i, s in enumerate(shards)]
    done = arc.archive(
        shards, [SPEC], {"events": BUCKET}, s3=s3, options=ArchiveOptions(today=TODAY)
    )
    by_shard = {p.shard for p in done.partitions}
    assert by_shard == {0, 1}
    keys = _versions(s3, "")
    assert {k.split("/")[0] for k in keys} == {"shard-0", "shard-1"}
    assert len(keys) == 2 * len(done.partitions)  # one object and one manifest each


def test_an_unknown_aws_profile_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "aws").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws"))
    with pytest.raises(UsageError, match="cannot set up S3: The config profile"):
        s3_client("no-such-profile")


def _attached(url: str, name: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s)", (name,)
        ).fetchone()
    return row is not None


def _journal(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('floyo_scale.archive_journal')").fetchone() == (None,):
            return {}
        rows = conn.execute(
            "SELECT partition_name, state, bucket FROM floyo_scale.archive_journal"
        ).fetchall()
    return {p: (s, b) for p, s, b in rows}


def test_checks_before_anything_is_written_and_failures_leave_the_rows_in_view(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket that does not exist, a date Parquet cannot hold: refused before anything is
    read or written, every partition attached and no journal. An upload that fails leaves
    the partition attached (it is detached only once its copy is verified). A journal left
    with one bucket before anything was verified follows the --bucket of the rerun. An empty
    partition and a domain named like a one-line type (its values hold line breaks) archive."""
    shard = _partitioned(pg_database, rows=800)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE DOMAIN timestamp_note AS text")
        conn.execute("ALTER TABLE events ADD COLUMN remark timestamp_note")
        conn.execute("UPDATE events SET remark = E'line one\\nline two' WHERE id % 3 = 0")
        conn.execute("DELETE FROM events_p20251001")  # an empty partition
        conn.execute(
            "UPDATE events SET day = 'infinity' WHERE id = (SELECT min(id) FROM events_p20251101)"
        )
    old = {"events_p20251001", "events_p20251101"}

    with pytest.raises(ArchiveError, match="infinity") as refused:
        _archive(shard, s3, older_than_days=360)
    assert "still attached" in (refused.value.hint or "")
    assert all(_attached(pg_database, p) for p in old) and _journal(pg_database) == {}
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE events SET day = NULL WHERE day = 'infinity'")
    with pytest.raises(ArchiveError, match="no-such-bucket cannot be read") as wrong:
        _archive(shard, s3, bucket="no-such-bucket", older_than_days=360)
    assert "nothing was changed" in (wrong.value.hint or "")
    assert all(_attached(pg_database, p) for p in old) and _journal(pg_database) == {}
    expected = _snapshot(pg_database, "created_at < '2025-12-01'")

    # S3 fails during the upload (an Exception, not a kill): the partition never left
    def fail(point: str) -> None:
        if point == "uploading":
            raise ArchiveError("injected S3 failure", "run again")

    with pytest.raises(ArchiveError, match="injected"):
        _archive(shard, s3, older_than_days=360, checkpoint=fail)
    assert _attached(pg_database, "events_p20251101")  # the empty one was archived before
    # (journalled `exporting` while it was read, before anything went to the bucket: nothing
    # was verified, so the rerun exports it anew)
    assert _journal(pg_database) == {
        "events_p20251001": ("dropped", BUCKET),
        "events_p20251101": ("exporting", BUCKET),
    }
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert _snapshot(pg_database, "created_at < '2025-12-01'") == expected

    # a kill during the upload, then a rerun with another bucket: it wins
    _killed_at(shard, s3, "uploading", older_than_days=360)
    assert _attached(pg_database, "events_p20251101")
    other = "floyo-test-archive-2"
    s3.create_bucket(Bucket=other)
    done = _archive(shard, s3, bucket=other, older_than_days=360)
    assert {p.partition: p.rows for p in done.partitions} == {"events_p20251101": len(expected)}
    assert _journal(pg_database) == {
        "events_p20251001": ("dropped", BUCKET),
        "events_p20251101": ("dropped", other),
    }
    back = restore(shard, SPEC, "events_p20251101", bucket=other, s3=s3)
    assert back.rows == len(expected)
    assert _snapshot(pg_database, "created_at < '2025-12-01'") == expected


def test_a_wrong_bucket_found_mid_export_changes_nothing(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are read while the S3 client is built; the bucket is checked before the first
    byte goes to it. With parts so small that the check falls inside the Parquet writer, a
    bucket that does not exist is still that error, nothing journalled, the rows in view."""
    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 1024)
    shard = _partitioned(pg_database, rows=4000)
    before = _snapshot(pg_database)
    with pytest.raises(ArchiveError, match="s3://no-such-bucket cannot be read") as caught:
        _archive(shard, s3mod.PendingClient(), bucket="no-such-bucket", older_than_days=360)
    assert "nothing was changed" in (caught.value.hint or "")
    assert _journal(pg_database) == {} and _snapshot(pg_database) == before
    assert _attached(pg_database, "events_p20251001")


def test_the_rows_stay_in_view_until_their_archive_is_verified(pg_database: str, s3) -> None:
    """While the partition is read, uploaded, its manifest written and read back, the
    application reads its rows through the table; they leave only once the copy verifies."""
    shard = _partitioned(pg_database, rows=800)
    where = "created_at < '2025-11-01'"  # events_p20251001, the one partition to archive
    expected = _snapshot(pg_database, where)
    seen: dict[str, int] = {}

    def look(point: str) -> None:
        seen.setdefault(point, len(_snapshot(pg_database, where)))

    done = _archive(shard, s3, older_than_days=365, checkpoint=look)
    assert [p.partition for p in done.partitions] == ["events_p20251001"]
    assert seen == {
        "uploading": len(expected),
        "uploaded": len(expected),
        "manifest": len(expected),
        "verified": len(expected),
        "detached": 0,
        "checked": 0,
        "dropped": 0,
    }


@pytest.mark.parametrize(
    "write",
    [
        "INSERT INTO events (created_at, note) VALUES ('2025-11-15 10:00+00', 'late')",
        "UPDATE events SET note = 'changed' WHERE id = (SELECT min(id) FROM events_p20251101)",
        "DELETE FROM events WHERE id = (SELECT max(id) FROM events_p20251101)",
    ],
    ids=["insert", "update", "delete"],
)
@pytest.mark.parametrize("at", ["uploading", "verified"])
def test_a_write_during_the_archive_is_never_dropped(
    write: str, at: str, pg_database: str, s3
) -> None:
    """The application may still write to a partition being archived (it is in its view).
    A write after the export's snapshot, during the read or after it, is found by the check
    before the drop (a count, and no row the snapshot could not see): the partition is
    attached again with the write in it, and the rerun archives it anew."""
    shard = _partitioned(pg_database, rows=800)
    where = "created_at >= '2025-11-01' AND created_at < '2025-12-01'"

    def app_writes(point: str) -> None:
        if point == at:
            with psycopg.connect(pg_database, autocommit=True) as conn:
                conn.execute(write)

    with pytest.raises(ArchiveError, match="was written to while it was archived") as caught:
        _archive(shard, s3, older_than_days=360, checkpoint=app_writes)
    assert "nothing was dropped" in (caught.value.hint or "")
    assert "attached again" in (caught.value.hint or "")
    assert _attached(pg_database, "events_p20251101")
    assert _journal(pg_database)["events_p20251101"] == ("reattached", BUCKET)
    expected = _snapshot(pg_database, where)

    rerun = _archive(shard, s3, older_than_days=360)
    assert {p.partition: p.rows for p in rerun.partitions} == {"events_p20251101": len(expected)}
    # one version of the object and of its manifest
    assert len([k for k in _versions(s3, "shard-0/") if "events_p20251101" in k]) == 2
    assert restore(shard, SPEC, "events_p20251101", bucket=BUCKET, s3=s3).rows == len(expected)
    assert _snapshot(pg_database, where) == expected


def test_a_write_begun_before_the_export_and_committed_during_it_is_found(
    pg_database: str, s3
) -> None:
    """A transaction that had written to the partition but not committed when the export's
    snapshot was taken (its xid is below the snapshot's xmax, among those it saw running),
    committing during the export: its row is found by the check, nothing is dropped."""
    shard = _partitioned(pg_database, rows=800)
    with psycopg.connect(pg_database) as writer:
        writer.execute("INSERT INTO events (created_at, note) VALUES ('2025-10-20+00', 'slow')")

        def commit(point: str) -> None:
            if point == "uploading" and not writer.closed:
                writer.commit()

        with pytest.raises(ArchiveError, match="1 written after the export"):
            _archive(shard, s3, older_than_days=365, checkpoint=commit)  # events_p20251001
    assert _attached(pg_database, "events_p20251001")
    assert _snapshot(pg_database, "note = 'slow'") != []


def test_nothing_writes_to_the_detached_partition_between_its_check_and_its_drop(
    pg_database: str, s3
) -> None:
    """Once detached, the partition can still be written by its own name. The check and the
    drop are one transaction that locks it first, so such a write waits for the drop (then
    fails: the table is gone) instead of landing between them and being dropped unseen."""
    shard = _partitioned(pg_database, rows=800)
    expected = _snapshot(pg_database, "created_at < '2025-11-01'")  # events_p20251001
    refused: list[str] = []

    def write_by_name(point: str) -> None:
        if point != "checked":
            return
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '100ms'")
            try:
                conn.execute(
                    "INSERT INTO events_p20251001 (created_at, note) "
                    "VALUES ('2025-10-20+00', 'by name')"
                )
            except psycopg.errors.LockNotAvailable as exc:
                refused.append(exc.sqlstate or "")

    done = _archive(shard, s3, older_than_days=365, checkpoint=write_by_name)
    assert refused == ["55P03"]
    assert {p.partition: p.rows for p in done.partitions} == {"events_p20251001": len(expected)}
    assert _journal(pg_database)["events_p20251001"] == ("dropped", BUCKET)


def test_a_detached_partition_that_stays_locked_is_not_dropped(pg_database: str, s3) -> None:
    """A session holding the detached partition: the check waits for its lock with
    lock_timeout, a few times, then gives up with nothing dropped; the rerun finishes."""
    shard = _partitioned(pg_database, rows=800)
    expected = _snapshot(pg_database, "created_at < '2025-11-01'")  # events_p20251001
    holder = psycopg.connect(pg_database)

    def hold(point: str) -> None:
        if point == "detached":
            holder.execute("LOCK TABLE events_p20251001 IN ACCESS SHARE MODE")

    try:
        with pytest.raises(DatabaseError, match="could not lock the detached") as raised:
            _archive(
                shard, s3, older_than_days=365, attempts=2, lock_timeout_ms=50, checkpoint=hold
            )
        # (attaching it again needs that lock too: the hint says how the rerun finishes)
        assert "`db archive` again finishes it" in (raised.value.hint or "")
        with psycopg.connect(pg_database) as conn:
            kept = conn.execute("SELECT count(*) FROM events_p20251001").fetchone()
        assert kept == (len(expected),)  # nothing dropped
    finally:
        holder.close()
    done = _archive(shard, s3, older_than_days=365)
    assert {p.partition: p.rows for p in done.partitions} == {"events_p20251001": len(expected)}
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT to_regclass('events_p20251001')").fetchone() == (None,)


def test_an_entry_an_earlier_version_left_detached_is_attached_and_archived_anew(
    pg_database: str, s3
) -> None:
    """An earlier version detached the partition before it exported it and kept no snapshot:
    its entry cannot be checked, so the partition goes back into view and is archived anew."""
    shard = _partitioned(pg_database, rows=800)
    where = "created_at >= '2025-11-01' AND created_at < '2025-12-01'"
    expected = _snapshot(pg_database, where)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA floyo_scale; CREATE TABLE floyo_scale.archive_journal ("
            "schema_name text NOT NULL, table_name text NOT NULL, partition_name text NOT "
            "NULL, lower_bound text NOT NULL, upper_bound text NOT NULL, state text NOT NULL, "
            "bucket text NOT NULL, data_key text NOT NULL, rows bigint, sha256 text, bytes "
            "bigint, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (schema_name, partition_name))"
        )
        conn.execute("ALTER TABLE events DETACH PARTITION events_p20251101")
        conn.execute(
            "INSERT INTO floyo_scale.archive_journal VALUES ('public', 'events', "
            "'events_p20251101', '2025-11-01 00:00:00+00:00', '2025-12-01 00:00:00+00:00', "
            "'detached', %s, 'shard-0/x/public/events/events_p20251101/data.parquet')",
            (BUCKET,),
        )
        # and one that version dropped after verifying it: journalled so, nothing more done
        conn.execute("DROP TABLE events_p20251001")
        conn.execute(
            "INSERT INTO floyo_scale.archive_journal VALUES ('public', 'events', "
            "'events_p20251001', '2025-10-01 00:00:00+00:00', '2025-11-01 00:00:00+00:00', "
            "'verified', %s, 'shard-0/x/public/events/events_p20251001/data.parquet', 16)",
            (BUCKET,),
        )
    done = _archive(shard, s3, older_than_days=360)
    rows = {p.partition: p.rows for p in done.partitions}
    assert rows == {"events_p20251001": 16, "events_p20251101": len(expected)}
    assert _journal(pg_database)["events_p20251001"] == ("dropped", BUCKET)
    assert [k for k in _versions(s3, "") if "events_p20251001" in k] == []
    assert restore(shard, SPEC, "events_p20251101", bucket=BUCKET, s3=s3).rows == len(expected)
    assert _snapshot(pg_database, where) == expected


def test_a_partition_attached_by_hand_after_its_detach_is_detached_checked_and_dropped(
    pg_database: str, s3
) -> None:
    """Killed once the partition was detached and journalled so; someone attaches it again by
    hand: the rerun detaches it (with its lock_timeout) before the check and the drop."""
    shard = _partitioned(pg_database, rows=800)
    expected = _snapshot(pg_database, "created_at < '2025-11-01'")  # events_p20251001

    _killed_at(shard, s3, "detached", older_than_days=365)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE floyo_scale.archive_journal SET state = 'detached'")
        conn.execute(
            "ALTER TABLE events ATTACH PARTITION events_p20251001 "
            "FOR VALUES FROM ('2025-10-01 00:00+00') TO ('2025-11-01 00:00+00')"
        )
    done = _archive(shard, s3, older_than_days=365)
    assert [(p.partition, p.rows) for p in done.partitions] == [("events_p20251001", len(expected))]
    assert not _attached(pg_database, "events_p20251001")
    assert _journal(pg_database)["events_p20251001"] == ("dropped", BUCKET)


def test_an_s3_endpoint_that_hangs_fails_before_any_change(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint that accepts connections and never answers: every S3 call has a read
    timeout (shortened here), so the run ends with an error, every partition attached."""
    import socket

    from floyo_scale.db import s3 as s3mod

    shard = _partitioned(pg_database, rows=800)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepted by the kernel, never read nor answered
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(s3mod, "READ_TIMEOUT", 1)
    monkeypatch.setattr(s3mod, "ATTEMPTS", 1)
    try:
        with pytest.raises(ArchiveError, match="cannot be read"):
            _archive(shard, s3mod.s3_client(), older_than_days=360)
    finally:
        listener.close()
    assert _attached(pg_database, "events_p20251101") and _journal(pg_database) == {}


def test_restore_waits_for_a_long_reader_without_holding_the_others(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a long transaction reads the table, `db restore`'s ATTACH waits with a short
    lock_timeout and tries again: another reader's query is answered in the meantime (it is
    not queued behind the ATTACH), and the restore finishes once the long reader ends."""
    import threading

    shard = _partitioned(pg_database, rows=800)
    expected = _snapshot(pg_database, "created_at >= '2025-11-01' AND created_at < '2025-12-01'")
    _archive(shard, s3, older_than_days=360)
    done: dict[str, object] = {}
    answered = threading.Event()
    with psycopg.connect(pg_database) as long, psycopg.connect(pg_database) as watch:
        long.execute("SELECT count(*) FROM events")  # holds every partition until it ends

        def run() -> None:
            try:
                done["result"] = restore(shard, SPEC, "events_p20251101", bucket=BUCKET, s3=s3)
            except BaseException as exc:  # noqa: BLE001 - reported below
                done["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        for _ in range(1000):  # until the restore waits for the long reader's lock
            row = watch.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.application_name = 'floyo-scale'"
            ).fetchone()
            watch.commit()
            if row and row[0]:
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the restore never waited for the reader")

        def other_reader() -> None:
            with psycopg.connect(pg_database) as conn:
                conn.execute("SELECT count(*) FROM events")
            answered.set()

        threading.Thread(target=other_reader, daemon=True).start()
        assert answered.wait(30), "another reader was queued behind the restore"
        assert "result" not in done  # the long reader still holds the table
        long.commit()
        thread.join(timeout=60)
    assert "error" not in done, done.get("error")
    assert (
        _snapshot(pg_database, "created_at >= '2025-11-01' AND created_at < '2025-12-01'")
        == expected
    )


def test_a_dry_run_reads_the_bucket_too(pg_database: str, s3) -> None:
    """`db archive --dry-run` says a missing bucket (or credentials that cannot read it) as
    the real run would, without writing anything anywhere."""
    shard = _partitioned(pg_database, rows=300)
    before = _snapshot(pg_database)
    with pytest.raises(ArchiveError, match="s3://no-such-bucket cannot be read") as caught:
        _archive_dry(shard, s3, bucket="no-such-bucket")
    assert "nothing was changed" in (caught.value.hint or "")
    assert _snapshot(pg_database) == before and _versions(s3, "") == []


def test_every_s3_call_is_bounded() -> None:
    """The client every command uses: connect and read timeouts, a bounded number of tries."""
    from floyo_scale.db import s3 as s3mod

    config = s3mod.s3_client()._client_config
    assert config.connect_timeout == s3mod.CONNECT_TIMEOUT <= 10
    assert config.read_timeout == s3mod.READ_TIMEOUT <= 60
    assert config.retries["total_max_attempts"] == s3mod.ATTEMPTS <= 3  # tries, the first too


class _FakeS3:
    """Records the multipart calls; `fail_at` makes that part's upload fail."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.parts: dict[int, bytes] = {}
        self.completed: list[dict] | None = None
        self.aborted = False

        self.created = 0
        self.put: bytes | None = None

    def create_multipart_upload(self, **_: object) -> dict:
        self.created += 1
        return {"UploadId": "u1"}

    def put_object(self, Body: bytes, **_: object) -> None:  # noqa: N803
        self.put = Body

    def upload_part(self, PartNumber: int, Body: bytes, **_: object) -> dict:  # noqa: N803
        time.sleep(0.001)  # the writer goes on meanwhile
        if PartNumber == self.fail_at:
            raise OSError("connection reset")
        self.parts[PartNumber] = Body
        return {"ETag": f"e{PartNumber}"}

    def complete_multipart_upload(self, MultipartUpload: dict, **_: object) -> None:  # noqa: N803
        self.completed = MultipartUpload["Parts"]

    def abort_multipart_upload(self, **_: object) -> None:
        self.aborted = True


def _write_in_pieces(sink, data: bytes) -> None:
    """`data` written as a Parquet writer would, in small pieces that straddle the parts."""
    for i in range(0, len(data), 7):
        sink.write(data[i : i + 7])
    sink.finish()


def test_parts_upload_in_order_while_the_writer_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 10)
    fake = _FakeS3()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None)
    data = bytes(range(256)) * 3
    _write_in_pieces(sink, data)
    assert fake.completed == [{"PartNumber": n, "ETag": f"e{n}"} for n in range(1, 78)]
    assert b"".join(fake.parts[n] for n in sorted(fake.parts)) == data
    assert sink.sha.hexdigest() == hashlib.sha256(data).hexdigest() and sink.size == len(data)


def test_a_part_is_cut_only_once_the_one_before_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory does not grow with the object: while a part uploads, the writer fills the next
    one and cuts it only once the one before is up, so at most one part uploading and one
    filling are held, however many parts there are."""
    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 10)
    events: list[tuple[str, int]] = []

    class Slow(_FakeS3):
        def upload_part(self, PartNumber: int, Body: bytes, **kw: object) -> dict:  # noqa: N803
            time.sleep(0.002)  # slower than the writer: it would cut the next meanwhile
            answer = super().upload_part(PartNumber=PartNumber, Body=Body, **kw)
            events.append(("up", PartNumber))
            return answer

    class Watched(s3mod.MultipartSink):
        def _cut(self, size: int) -> bytes:
            events.append(("cut", self.numbered + 1))
            return super()._cut(size)

    fake = Slow()
    sink = Watched(fake, "b", "k", lambda size: None)
    data = bytes(range(256)) * 2
    _write_in_pieces(sink, data)
    cuts = [n for kind, n in events if kind == "cut"]
    assert cuts == list(range(1, 53))
    for n in cuts[1:]:  # part n is cut after part n - 1 is up
        assert events.index(("cut", n)) > events.index(("up", n - 1))
    assert b"".join(fake.parts[n] for n in sorted(fake.parts)) == data


def test_a_failed_part_stops_the_writer_and_nothing_is_completed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 10)
    fake = _FakeS3(fail_at=3)
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None)
    with pytest.raises(OSError, match="connection reset"):
        for _ in range(1000):
            sink.write(b"x" * 10)
        sink.finish()
    sink.abort()
    assert fake.completed is None and fake.aborted


def test_an_object_smaller_than_a_part_is_one_put_and_s3_waits_until_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No multipart upload for an object smaller than a part (1,000,000 of the benchmark's
    rows are 6.6 MB): one PutObject at finish(), and no S3 call before it; one a part long is
    a multipart upload of one part."""
    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 100)
    fake = _FakeS3()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None)
    for _ in range(9):
        sink.write(b"x" * 11)
    assert (fake.created, fake.put) == (0, None)
    sink.finish()
    assert (fake.created, fake.put, fake.completed) == (0, b"x" * 99, None)

    fake = _FakeS3()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None)
    _write_in_pieces(sink, b"y" * 100)
    assert (fake.created, fake.put) == (1, None) and fake.parts == {1: b"y" * 100}
    assert fake.completed == [{"PartNumber": 1, "ETag": "e1"}]


def test_parts_grow_so_s3_s_10000_hold_any_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 MiB parts (S3's smallest) for the first 1,000, then 10 MiB, ...: objects up to
    4.9 GiB go up in the smallest parts, and S3's 10,000 parts hold 268 GiB; the sink cuts
    each part at its size."""
    from floyo_scale.db import s3 as s3mod

    sizes = [s3mod.part_size(n) for n in range(1, 10_001)]
    assert sizes[0] == sizes[999] == 5 * 2**20 and sizes[1000] == 10 * 2**20
    assert sorted(sizes) == sizes and sum(sizes) >= 268 * 2**30
    monkeypatch.setattr(s3mod, "PART_SIZE", 10)
    monkeypatch.setattr(s3mod, "PARTS_PER_SIZE", 2)
    fake = _FakeS3()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None)
    data = bytes(range(256))
    _write_in_pieces(sink, data)
    lengths = [len(fake.parts[n]) for n in sorted(fake.parts)]
    assert lengths[:-1] == [s3mod.part_size(n) for n in range(1, len(lengths))]
    assert lengths[:6] == [10, 10, 20, 20, 30, 30] and lengths[-1] <= s3mod.part_size(len(lengths))
    assert b"".join(fake.parts[n] for n in sorted(fake.parts)) == data


@pytest.mark.parametrize("size", [99, 250], ids=["one-put", "multipart"])
def test_prepare_runs_while_the_writer_writes_and_ends_before_the_first_s3_call(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prepare` (the bucket checked, the entry journalled, stale objects cleared) goes on in
    a thread while the writer writes: writes do not wait for it, the first S3 call does."""
    import threading

    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 100)
    release, order = threading.Event(), []

    class Recording(_FakeS3):
        def create_multipart_upload(self, **kw: object) -> dict:
            order.append("s3")
            return super().create_multipart_upload(**kw)

        def put_object(self, **kw: object) -> None:
            order.append("s3")
            super().put_object(**kw)

    def prepare() -> None:
        release.wait()  # held until the writer has written everything it can
        order.append("prepared")

    fake = Recording()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None, prepare)
    sink.write(b"z" * 99)  # less than a part: no S3 call, so no wait for `prepare`
    order.append("written")
    release.set()
    sink.write(b"z" * (size - 99))
    sink.finish()
    assert order[:3] == ["written", "prepared", "s3"]

    # it runs on its own from the start, not when the first S3 call comes
    order.clear()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None, prepare)
    sink.settle()
    assert order == ["prepared"]


def test_prepare_s_error_is_the_first_s3_call_s_and_settle_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused bucket check (in the thread) is raised where S3 would first be called, or
    by the first write after it failed, and by every write after it; nothing goes to S3.
    settle() (what an export that stops early calls before it uses the connection again)
    returns once `prepare` has ended."""
    import threading

    from floyo_scale.db import s3 as s3mod

    monkeypatch.setattr(s3mod, "PART_SIZE", 10)
    release, ended = threading.Event(), threading.Event()

    def prepare() -> None:
        release.wait()
        ended.set()
        raise ArchiveError("s3://b cannot be read", "nothing was changed")

    fake = _FakeS3()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None, prepare)
    release.set()
    with pytest.raises(ArchiveError, match="cannot be read"):
        sink.write(b"x" * 25)  # the first part: S3's first call
    with pytest.raises(ArchiveError, match="cannot be read"):
        sink.write(b"x")
    assert (fake.created, fake.put, fake.parts) == (0, None, {})

    # once it has failed, the next write raises it, however little has been written
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None, prepare)
    sink.settle()
    with pytest.raises(ArchiveError, match="cannot be read"):
        sink.write(b"x")

    release.clear()
    ended.clear()
    sink = s3mod.MultipartSink(fake, "b", "k", lambda size: None, prepare)
    sink.write(b"x")
    threading.Thread(target=release.set).start()
    sink.settle()
    assert ended.is_set()
    sink.abort()  # (what an export that failed does next)
    assert (fake.created, fake.put, fake.parts) == (0, None, {})


def test_the_readers_database_opens_once_per_shard_and_not_for_a_dry_run(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ADBC database the readers connect through (its pg_type resolver: 40-50 ms) is
    opened once per shard, while the checks run, and serves every partition; a dry run,
    which reads no rows, opens none."""
    import adbc_driver_postgresql

    opened: list[str] = []
    real = adbc_driver_postgresql.connect

    def counted(uri: str, **kw: object):
        opened.append(uri)
        return real(uri, **kw)

    monkeypatch.setattr(adbc_driver_postgresql, "connect", counted)
    shard = _partitioned(pg_database, rows=800)
    _archive_dry(shard, s3)
    assert opened == []
    done = _archive(shard, s3)
    assert len(done.partitions) == 7 and len(opened) == 1


def test_readers_closed_before_their_database_opened_close_it_when_it_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """close() never waits (a shard that fails its checks is left at once); a database that
    opens after it is closed by the thread that opened it: no connection is left."""
    import threading

    import adbc_driver_postgresql

    from floyo_scale.db import export

    gate, closed = threading.Event(), []

    class Database:
        def close(self) -> None:
            closed.append(True)

    def slow(uri: str, **_: object) -> Database:
        gate.wait()  # the database opens only once the Readers are closed
        return Database()

    monkeypatch.setattr(adbc_driver_postgresql, "connect", slow)
    readers = export.Readers(Shard(0, "postgresql://u@localhost/db", "test"))
    readers.close()  # returns at once
    gate.set()
    readers._ready.wait()
    assert closed == [True] and readers._database is None

    # opened first: close() closes it; get() hands it out before
    readers = export.Readers(Shard(0, "postgresql://u@localhost/db", "test"))
    assert isinstance(readers.get(), Database)
    closed.clear()
    readers.close()
    assert closed == [True]


def test_ctrl_c_during_the_read_does_not_wait_for_a_hung_bucket_check(
    pg_database: str, s3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket check runs in a thread while the rows are read. Ctrl-C while it hangs (an
    S3 that does not answer: up to 3 x 70 s) ends the run at once, the rows in view; any
    other stop waits for it, so nothing it does lands after the run has ended."""
    shard = _partitioned(pg_database, rows=800)
    release, ended = [False], [False]

    def hung(*args: object, **kw: object) -> set[str]:
        for _ in range(20_000):  # (a poll, not a timed wait: those hang under faketime)
            if release[0]:
                break
            time.sleep(0.001)
        ended[0] = True
        return set()

    def interrupt(point: str) -> None:
        if point == "uploading":
            raise KeyboardInterrupt

    monkeypatch.setattr(arc, "check_bucket", hung)
    with pytest.raises(KeyboardInterrupt):
        _archive(shard, s3, older_than_days=365, checkpoint=interrupt)
    assert not ended[0]  # it was still hanging when the run ended
    release[0] = True
    assert _attached(pg_database, "events_p20251001")
    for _ in range(20_000):  # let it end before the next test
        if ended[0]:
            break
        time.sleep(0.001)
