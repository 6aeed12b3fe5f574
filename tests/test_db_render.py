"""What `db` commands print (golden snapshots), and the partition periods for any date."""

from __future__ import annotations

from datetime import date, timedelta

from golden import assert_golden
from hypothesis import given
from hypothesis import strategies as st

from floyo_scale.db import partition as part
from floyo_scale.db import periods as per
from floyo_scale.db.archive import ArchivedPartition, ArchiveReport
from floyo_scale.db.convert import TableResult
from floyo_scale.db.restore import RestoreReport
from floyo_scale.render import db as show


def _partition_report(dry_run: bool) -> part.PartitionReport:
    report = part.PartitionReport(dry_run=dry_run)
    report.tables.append(
        TableResult(
            0,
            "events",
            "would convert" if dry_run else "converted",
            statements=['CREATE TABLE "public"."events__floyo_new" (...)', "-- then:", "DROP ..."]
            if dry_run
            else [],
            rows_copied=0 if dry_run else 200_000,
            partitions_created=["events_p20261101", "events_default"],
            default_rows=0 if dry_run else 12,
            swap_seconds=0.0 if dry_run else 0.031,
            swap_attempts=0 if dry_run else 1,
        )
    )
    report.tables.append(TableResult(0, "telemetry_events", "unchanged"))
    return report


def _archive_report(dry_run: bool) -> ArchiveReport:
    report = ArchiveReport(dry_run=dry_run, cutoffs={"events": "2025-11-28"})
    report.partitions.append(
        ArchivedPartition(
            0,
            "events",
            "events_p20251001",
            "2025-10-01T00:00:00+00:00",
            "2025-11-01T00:00:00+00:00",
            "would archive" if dry_run else "archived",
            "floyo-production-archive",
            "shard-0/postgres/public/events/events_p20251001/data.parquet",
            rows=0 if dry_run else 1_234_567,
            bytes=0 if dry_run else 20_480_000,
            statements=['ALTER TABLE "public"."events" DETACH PARTITION ...'] if dry_run else [],
        )
    )
    return report


def test_reports() -> None:
    restored = RestoreReport(0, "events", "events_p20251001", "b", "k/data.parquet", 42, "restored")
    text = "\n".join(
        [
            "== partition, dry run",
            show.partition_text(_partition_report(True)),
            "== partition",
            show.partition_text(_partition_report(False)),
            "== archive, dry run",
            show.archive_text(_archive_report(True)),
            "== archive",
            show.archive_text(_archive_report(False)),
            "== archive, nothing due",
            show.archive_text(ArchiveReport(dry_run=False, cutoffs={"events": "2025-11-28"})),
            "== restore",
            show.restore_text(restored),
        ]
    )
    assert_golden("db/reports.txt", text)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.integers(min_value=0, max_value=400),
    st.sampled_from(["day", "week", "month"]),
)
def test_periods_cover_the_range_without_gaps(first: date, days: int, interval: str) -> None:
    last = first + timedelta(days=days)
    periods = per.periods(first, last, interval)
    assert periods[0][0] <= first < periods[0][1]
    assert periods[-1][0] <= last < periods[-1][1]
    for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
        assert end == start  # contiguous, no overlap
    for start, end in periods:
        assert per.period_start(start, interval) == start
        assert per.next_start(start, interval) == end
        assert per.period_start(end - timedelta(days=1), interval) == start
        if interval == "week":
            assert start.weekday() == 0
        if interval == "month":
            assert start.day == 1
    names = [per.partition_name("events", s) for s, _ in periods]
    assert names == sorted(names) and len(set(names)) == len(names)


def test_reports_fit_the_screen_and_cut_nothing() -> None:
    """At 80 columns every line of the db reports fits, or is one word that cannot be split
    (an S3 URI); at 80 as at 200 the same words, so nothing is cut; lines that fit keep their
    spacing. (SQL shown by a dry run is `Verbatim`: copied as it is, never wrapped.)"""
    from floyo_scale.render import text

    restored = RestoreReport(0, "events", "events_p20251001", "b", "k/data.parquet", 42, "restored")

    def reports() -> str:
        return "".join(
            [
                show.partition_text(_partition_report(False)),
                show.archive_text(_archive_report(False)),
                show.restore_text(restored),
            ]
        )

    saved = text.screen()
    try:
        shown = {}
        for width in (80, 100, 120, 200):
            text.use(text.Screen(width, False))
            shown[width] = reports()
    finally:
        text.use(saved)
    for width, out in shown.items():
        for line in out.splitlines():
            assert len(line) <= width or len(line.split()) == 1, (width, line)
        assert out.split() == shown[200].split()
    assert any(len(line) > 80 for line in shown[200].splitlines())  # the test wraps something


@given(st.integers(min_value=0, max_value=10**18))
def test_one_size_formatter_for_every_size(n: int) -> None:
    """`size_text` is the one way a size is shown (progress, the archive's report, `db
    advise`'s evidence): decimal units up to TB, three significant figures at most below
    1,000 of a unit, and never a wrong order of magnitude."""
    from floyo_scale.render.text import size_text

    number, unit = size_text(n).split()
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}[unit]
    assert abs(float(number) * scale - n) <= 0.05 * scale
    assert unit == "TB" or float(number) < 1000
    assert size_text(None) == "?" and size_text(512) == "512 B" and size_text(8_400_000) == "8.4 MB"
    assert (size_text(999_960), size_text(999_949)) == ("1.0 MB", "999.9 KB")
