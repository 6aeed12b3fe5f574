"""Partition periods: month, week or day boundaries, names and bounds of a table's partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from psycopg import sql

if TYPE_CHECKING:
    pass


MAX_IDENT = 63

MAX_PARTITIONS = 1000  # more than this many periods of data: refuse rather than flood the catalog

# --- periods ----------------------------------------------------------------------------------


def period_start(day: date, interval: str) -> date:
    """The first day of the period holding `day` (weeks start on Monday, as ISO weeks do)."""
    if interval == "month":
        return day.replace(day=1)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day


def next_start(start: date, interval: str) -> date:
    if interval == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if interval == "week":
        return start + timedelta(days=7)
    return start + timedelta(days=1)


def periods(first: date, last: date, interval: str) -> list[tuple[date, date]]:
    """[(start, end)] covering `first` .. `last` (inclusive), whole periods."""
    out: list[tuple[date, date]] = []
    start = period_start(first, interval)
    while start <= last:
        end = next_start(start, interval)
        out.append((start, end))
        start = end
        if len(out) > MAX_PARTITIONS:
            break
    return out


def partition_name(table: str, start: date) -> str:
    """`events_p20261101`: the table and the first day of the range it holds."""
    return f"{table}_p{start:%Y%m%d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _short(name: str, suffix: str) -> str:
    return name[: MAX_IDENT - len(suffix)] + suffix


def _bound(value: date, column_type: str) -> sql.Literal:
    if column_type == "date":
        return sql.Literal(value.isoformat())
    if column_type == "timestamp with time zone":
        return sql.Literal(f"{value.isoformat()} 00:00:00+00")
    return sql.Literal(f"{value.isoformat()} 00:00:00")


def _as_dt(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
