"""Rows the application writes into the default partition (dates no partition covered yet) are
moved into partitions of their own by `db partition`, so premake never stops on them and the
archive step can take the old ones."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
import test_db_archive

from floyo_scale.db import archive as arc
from floyo_scale.db import partition as part
from floyo_scale.db.connect import Shard
from floyo_scale.db.convert import Options
from floyo_scale.db.export import ArchiveOptions
from floyo_scale.db.shape import TableSpec
from floyo_scale.errors import UsageError

TODAY = date(2026, 11, 28)
# moto's S3 and a fresh versioned bucket, as the archive tests have them
s3 = test_db_archive.s3
SPEC = TableSpec("events", "created_at", "month", 200, None)


def _table(url: str) -> Shard:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE events (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                created_at timestamptz,
                note text,
                twice bigint GENERATED ALWAYS AS (id * 2) STORED
            );
            CREATE INDEX events_note_idx ON events (note);
            ALTER TABLE events ENABLE ROW LEVEL SECURITY;
            INSERT INTO events (created_at, note)
            SELECT timestamptz '2026-11-27 12:00+00' - (g % 90) * interval '1 day', 'n' || g
            FROM generate_series(1, 900) g;
            """
        )
    shard = Shard(0, url, "test")
    part.partition([shard], [SPEC], options=Options(today=TODAY, premake=1))
    return shard


def _default_ones(url: str) -> None:
    """What the application writes that no partition covers: far ahead and far back."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (created_at, note) SELECT ts + g * interval '1 minute', 'late' "
            "FROM unnest(ARRAY[timestamptz '2027-06-15 08:00+00', '2024-01-05 00:00+00', "
            "'2027-01-31 23:59:59.999+00']) ts, generate_series(1, 40) g"
        )
        got = conn.execute("SELECT count(*) FROM events_default").fetchone()
        assert got == (120,)


def _all(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT e::text FROM events e ORDER BY id").fetchall()


def _partitions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'events'::regclass"
            )
        ]
        return {
            n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]  # type: ignore[index]
            for n in names
        }


def test_rows_in_the_default_partition_move_into_their_own_partitions(pg_database: str) -> None:
    shard = _table(pg_database)
    _default_ones(pg_database)
    before = _all(pg_database)

    dry = part.partition([shard], [SPEC], dry_run=True, options=Options(today=TODAY))
    assert dry.tables[0].action == "would premake"
    assert any("DELETE FROM" in s for s in dry.tables[0].statements)
    assert _all(pg_database) == before and _partitions(pg_database)["events_default"] == 120

    # premake 3 would create 2027-02, whose rows are in the default: the move comes first
    result = part.partition([shard], [SPEC], options=Options(today=TODAY, premake=3))
    t = result.tables[0]
    assert t.rows_moved == 120 and t.default_rows == 0
    counts = _partitions(pg_database)
    assert counts["events_default"] == 0
    assert counts["events_p20270601"] == 40
    assert counts["events_p20240101"] == 40
    assert counts["events_p20270201"] == 40  # premake 3 reaches it: moved first, then premade
    assert counts["events_p20270101"] == 0  # premade
    assert _all(pg_database) == before  # the same rows, identity and generated values kept
    with psycopg.connect(pg_database) as conn:
        rls = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'events_p20270601'"
        ).fetchone()
        assert rls == (True,)
        indexed = conn.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'events_p20270601'::regclass"
        ).fetchone()
        assert indexed == (2,)  # the primary key's and the note's, attached from the parent
        leftovers = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conname LIKE '%\\_range'"
        ).fetchall()
        assert not leftovers

    again = part.partition([shard], [SPEC], options=Options(today=TODAY, premake=3))
    assert again.tables[0].action == "unchanged" and again.tables[0].rows_moved == 0


def test_a_default_row_in_no_period_is_named_before_any_move(pg_database: str) -> None:
    shard = _table(pg_database)
    _default_ones(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        # (the key includes created_at, so it is NOT NULL: infinity is what can land here)
        conn.execute("INSERT INTO events (created_at, note) VALUES ('infinity', 'no date')")
        (key,) = conn.execute("SELECT id FROM events WHERE note = 'no date'").fetchone()
    before = _partitions(pg_database)
    with pytest.raises(UsageError) as caught:
        part.partition([shard], [SPEC], options=Options(today=TODAY))
    assert f"(id, created_at) = ({key},infinity)" in caught.value.message
    assert _partitions(pg_database) == before


def test_a_locked_default_partition_is_waited_for_without_blocking(pg_database: str) -> None:
    """A long reader of the default partition: the move gives up after its lock_timeout
    tries, nothing changed; once the reader is gone a rerun moves the rows."""
    shard = _table(pg_database)
    _default_ones(pg_database)
    with psycopg.connect(pg_database) as reader:
        reader.execute("SELECT count(*) FROM events_default").fetchone()  # holds its lock
        with pytest.raises(Exception, match="stayed locked"):
            part.partition(
                [shard],
                [SPEC],
                options=Options(today=TODAY, lock_timeout_ms=50, swap_attempts=2),
            )
        reader.rollback()
    assert _partitions(pg_database)["events_default"] == 120
    result = part.partition([shard], [SPEC], options=Options(today=TODAY))
    assert result.tables[0].rows_moved == 120


def test_the_daily_job_moves_then_archives_what_is_past_retention(pg_database: str, s3) -> None:
    """The workflow's two steps: `db partition` moves the default's rows (2024-01 among them)
    into their own partitions, then `db archive` takes the ones past the retention."""
    shard = _table(pg_database)
    _default_ones(pg_database)
    part.partition([shard], [SPEC], options=Options(today=TODAY))
    spec = TableSpec("events", "created_at", "month", 200, "archive")
    done = arc.archive(
        [shard],
        [spec],
        {"events": test_db_archive.BUCKET},
        s3=s3,
        options=ArchiveOptions(today=TODAY),
    )
    archived = {p.partition: p.rows for p in done.partitions if p.action == "archived"}
    assert archived == {"events_p20240101": 40}
    assert "events_p20240101" not in _partitions(pg_database)
