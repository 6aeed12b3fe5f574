"""The readings `status --record` keeps, per stack, beside the stack's Pulumi state, and the
forecast made from them (`status --history`, and `status` when it records).

Where: the stack's own state backend. A file backend (the default `.floyo/state`, or
`PULUMI_BACKEND_URL=file://DIR`) keeps `DIR/.floyo-history/<stack>.jsonl`; an S3 backend
(`s3://BUCKET[/PREFIX]`) keeps the object `PREFIX/.floyo-history/<stack>.jsonl` in the same
bucket. One JSON line per run: when, the phase, and each measured figure (estimates and
figures without a value are not kept).

Forecast: the Theil–Sen estimator (the median of the slopes between every pair of points,
robust to a third of the points being outliers) over the last FORECAST_DAYS days, once
MIN_POINTS days have a reading. The date a figure crosses its warning threshold (the limit ×
the alert percentage) is where that line reaches it. Month-to-date figures (bandwidth,
function hours) restart every month, so their trend is taken on the month's projection
(value / share of the month gone), the figure the limit is for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any, Protocol

from ..cost.currency import usd
from ..errors import ExitCode, FloyoError, UsageError
from .thresholds import Kind, Reading

FORECAST_DAYS = 30  # the fit looks back this far
MIN_POINTS = 7  # days with a reading before a forecast is made
HORIZON_DAYS = 365  # a crossing further away than this is "not within a year"
MONTHLY = ("vercel.bandwidth", "vercel.function_gb_hours")  # month to date: projected
FOLDER = ".floyo-history"


class HistoryError(FloyoError):
    """The history could not be read or written (exit 4)."""

    exit_code = ExitCode.ENGINE


# -- records ---------------------------------------------------------------------------------


def record_of(
    stack: str, phase: str, at: datetime, readings: Sequence[Reading], month_fraction: float
) -> dict[str, Any]:
    """One run as a JSON-able record: each measured figure (no estimate, no empty one)."""
    metrics: dict[str, Any] = {}
    for r in readings:
        if r.value is None or r.estimate or r.key in metrics:
            continue
        entry: dict[str, Any] = {"value": round(r.value, 6), "unit": r.unit}
        if r.key in MONTHLY and month_fraction > 0:
            entry["projected"] = round(r.value / month_fraction, 6)
        metrics[r.key] = entry
    return {
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stack": stack,
        "phase": phase,
        "metrics": metrics,
    }


def _at(record: Mapping[str, Any]) -> datetime:
    return datetime.strptime(str(record["at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def series(records: Sequence[Mapping[str, Any]], key: str) -> list[tuple[datetime, float]]:
    """(when, value) of one figure, oldest first: the month's projection for month-to-date
    figures, the value otherwise."""
    out = []
    for rec in records:
        entry = (rec.get("metrics") or {}).get(key)
        if not isinstance(entry, Mapping):
            continue
        value = entry.get("projected", entry.get("value"))
        if isinstance(value, int | float):
            out.append((_at(rec), float(value)))
    return sorted(out)


def within(records: Sequence[Mapping[str, Any]], now: datetime, days: int) -> list[Any]:
    since = now - timedelta(days=days)
    return [r for r in records if since <= _at(r) <= now]


# -- forecast --------------------------------------------------------------------------------


def theil_sen(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the Theil–Sen line through (x, y) points: the median of the
    pairwise slopes, and the median of y − slope·x."""
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    if not slopes:
        raise ValueError("at least two points with different x are needed")
    slope = median(slopes)
    return slope, median(y - slope * x for x, y in points)


@dataclass(frozen=True)
class Forecast:
    key: str
    label: str
    unit: str
    threshold: float  # limit × alert percentage
    limit: float
    alert_percent: float
    slope_per_day: float
    points: int
    crosses: date | None  # None: not rising, or not within HORIZON_DAYS
    days: float | None  # from now to the crossing (0: already past the threshold)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "threshold": round(self.threshold, 4),
            "slope_per_day": round(self.slope_per_day, 6),
            "points": self.points,
            "crosses": self.crosses.isoformat() if self.crosses else None,
            "days": None if self.days is None else round(self.days, 1),
            "method": f"Theil-Sen over the last {FORECAST_DAYS} days",
        }

    @property
    def text(self) -> str:
        what = f"{self.alert_percent:g}% of {_amount(self.limit, self.unit)}"
        if self.days is None or self.crosses is None:
            return f"{self.label}: not heading for {what} within a year"
        if self.days <= 0:
            return f"{self.label}: past {what} on its trend"
        return (
            f"{self.label} reaches {what} in about {self.days:.0f} days "
            f"({self.crosses.isoformat()})"
        )


def _amount(value: float, unit: str) -> str:
    return usd(value) if unit == "USD" else f"{value:,.0f} {unit}"


def forecast_one(
    reading: Reading, points: Sequence[tuple[datetime, float]], now: datetime
) -> Forecast | None:
    """The date `reading`'s figure crosses its warning threshold at the recent trend; None
    without a threshold or without MIN_POINTS days of history in the last FORECAST_DAYS."""
    if reading.kind is not Kind.SHARE or not reading.limit or reading.estimate:
        return None
    recent = [(t, v) for t, v in points if now - timedelta(days=FORECAST_DAYS) <= t <= now]
    if len({t.date() for t, _ in recent}) < MIN_POINTS:
        return None
    alert = 100.0 if reading.alert_percent is None else reading.alert_percent
    threshold = reading.limit * alert / 100
    xy = [((t - now).total_seconds() / 86400, v) for t, v in recent]
    slope, intercept = theil_sen(xy)  # x in days from now: intercept is the value now
    if intercept >= threshold:
        days: float | None = 0.0
    elif slope <= 0:
        days = None
    else:
        days = (threshold - intercept) / slope
        if days > HORIZON_DAYS:
            days = None
    crosses = None if days is None else (now + timedelta(days=days)).date()
    return Forecast(
        reading.key,
        reading.label,
        reading.unit,
        threshold,
        reading.limit,
        alert,
        slope,
        len(recent),
        crosses,
        days,
    )


def forecasts(
    readings: Sequence[Reading], records: Sequence[Mapping[str, Any]], now: datetime
) -> tuple[Forecast, ...]:
    out = []
    for r in readings:
        found = forecast_one(r, series(records, r.key), now)
        if found is not None:
            out.append(found)
    return tuple(out)


# -- `status --history` ------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    key: str
    unit: str
    points: int
    first: tuple[datetime, float] | None
    last: tuple[datetime, float] | None
    forecast: Forecast | None


def trends(records: Sequence[Mapping[str, Any]], phase: Any, now: datetime) -> list[Trend]:
    """Each figure kept in `records` (oldest first), with its forecast where the phase gives
    it a limit (spec.models.Limits, through recommend.LIMIT_KEYS)."""
    from .recommend import LIMIT_KEYS

    alerts = {
        "database_gb": phase.alerts.database_size_percent,
        "bandwidth_gb_month": phase.alerts.bandwidth_percent,
        "function_gb_hours_month": phase.budget.alert_percent,
    }
    keys = sorted({k for rec in records for k in (rec.get("metrics") or {})})
    out = []
    for key in keys:
        points = series(records, key)
        unit = next(
            (str(rec["metrics"][key].get("unit", "")) for rec in records
             if key in (rec.get("metrics") or {})),
            "",
        )  # fmt: skip
        found = None
        field = LIMIT_KEYS.get(key)
        if field is not None:
            probe = Reading(
                "history", key, key, points[-1][1] if points else None, unit, Kind.SHARE,
                getattr(phase.limits, field), alerts[field],
            )  # fmt: skip
            found = forecast_one(probe, points, now)
        out.append(
            Trend(key, unit, len(points), points[0] if points else None,
                  points[-1] if points else None, found)
        )  # fmt: skip
    return out


# -- where it is kept ------------------------------------------------------------------------


class HistoryStore(Protocol):
    where: str

    def read(self, stack: str) -> list[dict[str, Any]]: ...

    def append(self, stack: str, record: Mapping[str, Any]) -> None: ...


def _parse(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line cut short (a crash mid-write) costs that line only
        if isinstance(value, dict) and "at" in value:
            out.append(value)
    return out


class FileHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder / FOLDER
        self.where = str(self.folder / "<stack>.jsonl")

    def _path(self, stack: str) -> Path:
        return self.folder / f"{stack}.jsonl"

    def read(self, stack: str) -> list[dict[str, Any]]:
        path = self._path(stack)
        try:
            return _parse(path.read_text()) if path.is_file() else []
        except OSError as exc:
            raise HistoryError(f"could not read the history {path}: {exc.strerror}") from exc

    def append(self, stack: str, record: Mapping[str, Any]) -> None:
        path = self._path(stack)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as out:
                out.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError as exc:
            raise HistoryError(
                f"could not write the history {path}: {exc.strerror}",
                "make the state folder writable",
            ) from exc


def history_key(prefix: str, stack: str) -> str:
    """The object that keeps `stack`'s readings in an S3 backend `s3://BUCKET/PREFIX`."""
    return "/".join(p for p in (prefix.strip("/"), FOLDER, f"{stack}.jsonl") if p)


def s3_backend(url: str) -> tuple[str, str, dict[str, str]]:
    """`s3://BUCKET[/PREFIX][?region=...&profile=...]` -> (bucket, prefix, parameters)."""
    rest = url[len("s3://") :]
    location, _, query = rest.partition("?")
    bucket, _, prefix = location.partition("/")
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    return bucket, prefix.strip("/"), params


class S3History:
    """One object per stack; S3 has no append, so a run reads it and writes it back (the
    watch runs once a day, in one concurrency group)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix.strip("/"), client
        self.where = f"s3://{bucket}/{self._key('<stack>')}"

    def _key(self, stack: str) -> str:
        return history_key(self.prefix, stack)

    def _text(self, stack: str) -> str:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(stack))
        except self.client.exceptions.NoSuchKey:
            return ""
        except Exception as exc:
            raise HistoryError(
                f"could not read the history s3://{self.bucket}/{self._key(stack)}: {exc}",
                "check the AWS credentials and the state bucket (PULUMI_BACKEND_URL)",
            ) from exc
        return str(answer["Body"].read().decode())

    def read(self, stack: str) -> list[dict[str, Any]]:
        return _parse(self._text(stack))

    def append(self, stack: str, record: Mapping[str, Any]) -> None:
        text = self._text(stack)
        if text and not text.endswith("\n"):
            text += "\n"
        body = text + json.dumps(record, sort_keys=True) + "\n"
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(stack),
                Body=body.encode(),
                ContentType="application/x-ndjson",
            )
        except Exception as exc:
            raise HistoryError(
                f"could not write the history s3://{self.bucket}/{self._key(stack)}: {exc}",
                "the role needs s3:PutObject on the state bucket",
            ) from exc


def store_for(root: Path, env: Mapping[str, str]) -> HistoryStore:
    """The history beside the stack's state: PULUMI_BACKEND_URL's file:// folder or s3://
    bucket, else the default `.floyo/state`."""
    from .targets import STATE_DIR

    backend = env.get("PULUMI_BACKEND_URL") or f"file://{(root / STATE_DIR).resolve()}"
    if backend.startswith("file://"):
        return FileHistory(Path(backend[len("file://") :].split("?", 1)[0]))
    if backend.startswith("s3://"):
        import boto3

        bucket, prefix, params = s3_backend(backend)
        session = boto3.Session(profile_name=params["profile"]) if "profile" in params else None
        client = (session or boto3).client("s3", region_name=params.get("region"))
        return S3History(bucket, prefix, client)
    raise UsageError(
        f"the history is kept beside the state, and {backend.split('?')[0]} is neither a "
        "file:// nor an s3:// backend",
        "use a file or S3 state backend to --record or read --history",
    )


__all__ = [
    "FORECAST_DAYS",
    "MIN_POINTS",
    "FileHistory",
    "Forecast",
    "HistoryStore",
    "S3History",
    "forecast_one",
    "forecasts",
    "history_key",
    "record_of",
    "s3_backend",
    "series",
    "store_for",
    "theil_sen",
]
