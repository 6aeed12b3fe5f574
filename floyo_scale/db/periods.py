"""Partition periods: month, week or day boundaries, names and bounds of a table's partitions."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from psycopg import sql

if TYPE_CHECKING:
    pass


MAX_IDENT = 63  # bytes: PostgreSQL's NAMEDATALEN - 1 (longer names are cut, silently)

_TAG_HEX = 8  # the hash that keeps a shortened name apart from its neighbours

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
    return short_name(table, f"_p{start:%Y%m%d}")


def default_name(table: str) -> str:
    return short_name(table, "_default")


def short_name(name: str, suffix: str) -> str:
    """`name` + `suffix` as one identifier PostgreSQL keeps whole: at most 63 BYTES of UTF-8.

    When it does not fit, `name` is cut at a character boundary (never inside a multi-byte
    character) and a hash of the whole `name` goes before the suffix, so two long names that
    share their first bytes still derive two names (PostgreSQL would cut both to one). Short
    enough names are left as they are: `events` + `__floyo_new` is `events__floyo_new`."""
    whole = name + suffix
    if len(whole.encode()) <= MAX_IDENT:
        return whole
    tag = "_" + hashlib.sha256(name.encode()).hexdigest()[:_TAG_HEX]
    room = MAX_IDENT - len((tag + suffix).encode())
    head = name.encode()[: max(room, 0)].decode("utf-8", "ignore")
    return head + tag + suffix


def bound_literal(value: date, column_type: str) -> sql.Literal:
    if column_type == "date":
        return sql.Literal(value.isoformat())
    if column_type == "timestamp with time zone":
        return sql.Literal(f"{value.isoformat()} 00:00:00+00")
    return sql.Literal(f"{value.isoformat()} 00:00:00")


def as_datetime(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
