"""The time ranges `status` asks about: the month to date (what limits and bills count) and a
recent window (p95 and error rate, which the seed judges as they are now)."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Window:
    now: datetime  # aware, UTC
    hours: int = 24

    @classmethod
    def at(cls, now: datetime | None = None, hours: int = 24) -> Window:
        now = now or datetime.now(UTC)
        return cls(now.astimezone(UTC).replace(microsecond=0), hours)

    @property
    def month_start(self) -> datetime:
        return self.now.replace(day=1, hour=0, minute=0, second=0)

    @property
    def next_month_start(self) -> datetime:
        days = monthrange(self.now.year, self.now.month)[1]
        return self.month_start + timedelta(days=days)

    @property
    def recent_start(self) -> datetime:
        return self.now - timedelta(hours=self.hours)

    @property
    def month_fraction(self) -> float:
        """How much of the calendar month has gone (for projecting month-to-date figures)."""
        total = (self.next_month_start - self.month_start).total_seconds()
        gone = (self.now - self.month_start).total_seconds()
        return max(gone / total, 1 / (24 * 31))  # never divide by ~0 in the first minutes

    @property
    def recent_label(self) -> str:
        return f"last {self.hours}h"


def iso(moment: datetime) -> str:
    """`2026-11-28T17:00:00Z` (what Vercel and Sentry take)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
