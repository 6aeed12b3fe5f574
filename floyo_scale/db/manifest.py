"""The archive's manifest (`manifest.json` beside each Parquet object): what the object holds,
written by `db archive`, read and checked by `db archive`'s verify and by `db restore`."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..errors import UsageError
from .s3 import http_status

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ColumnType:
    name: str
    postgres: str
    arrow: str


@dataclass(frozen=True)
class Manifest:
    version: int
    database: str
    schema: str
    table: str
    partition: str
    column: str  # the partition column
    lower: str  # the partition's range, ISO 8601 (lower inclusive, upper exclusive)
    upper: str
    rows: int
    min_value: str | None  # the earliest and latest value of the column in the rows
    max_value: str | None
    columns: list[ColumnType]
    sha256: str  # of the Parquet object
    size: int  # bytes of the Parquet object
    created_at: str
    format: str = "parquet"
    compression: str = "zstd"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = "the manifest") -> Manifest:
        """The manifest in `data`, every field checked (types, bounds that parse and are in
        order, a sha256, the partition column among the columns); ManifestError (exit 2,
        naming `where`) otherwise."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{where} is not JSON: {exc}", _MANIFEST_HINT) from None
        if not isinstance(raw, dict):
            raise ManifestError(f"{where} is not a JSON object", _MANIFEST_HINT)
        problems = _manifest_problems(raw)
        if problems:
            raise ManifestError(f"{where} is malformed: {'; '.join(problems)}", _MANIFEST_HINT)
        raw["columns"] = [ColumnType(c["name"], c["postgres"], c["arrow"]) for c in raw["columns"]]
        return cls(**{k: v for k, v in raw.items() if k in _MANIFEST_FIELDS})

    def bounds(self) -> tuple[datetime | None, datetime]:
        """The range as aware datetimes (None: MINVALUE)."""
        return _manifest_time(self.lower), _manifest_time(self.upper)  # type: ignore[return-value]


class ManifestError(UsageError):
    """A manifest that cannot be read as one (exit 2: nothing was changed)."""


_MANIFEST_HINT = (
    "nothing was changed. The manifest was edited or damaged: restore it from the bucket's "
    "older versions (the bucket is versioned), or check --table, --partition and --bucket"
)

_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "database": str,
    "schema": str,
    "table": str,
    "partition": str,
    "column": str,
    "lower": str,
    "upper": str,
    "rows": int,
    "min_value": (str, type(None)),
    "max_value": (str, type(None)),
    "columns": list,
    "sha256": str,
    "size": int,
    "created_at": str,
    "format": str,
    "compression": str,
}
_MANIFEST_FIELDS = set(_MANIFEST_TYPES)


def _manifest_time(text: str) -> datetime | None:
    if text == "-infinity":
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _manifest_problems(raw: dict[str, Any]) -> list[str]:
    problems = []
    for name, kind in _MANIFEST_TYPES.items():
        if name in ("format", "compression") and name not in raw:
            continue
        if name not in raw:
            problems.append(f"no {name!r}")
        elif not isinstance(raw[name], kind) or isinstance(raw[name], bool):
            problems.append(f"{name!r} is {raw[name]!r}")
    if problems:
        return problems
    if raw["version"] != MANIFEST_VERSION:
        problems.append(f"version {raw['version']} (this floyo-scale reads {MANIFEST_VERSION})")
    if raw["rows"] < 0 or raw["size"] < 0:
        problems.append("a negative rows or size")
    if not re.fullmatch(r"[0-9a-f]{64}", raw["sha256"]):
        problems.append(f"sha256 {raw['sha256']!r} is not 64 hex digits")
    try:
        lower = _manifest_time(raw["lower"])
        upper = _manifest_time(raw["upper"])
        if upper is None or (lower is not None and lower >= upper):
            problems.append(f"the range {raw['lower']} .. {raw['upper']} is empty")
    except ValueError:
        problems.append(f"the range {raw['lower']!r} .. {raw['upper']!r} is not ISO 8601")
    names = []
    for c in raw["columns"]:
        if not (isinstance(c, dict) and {"name", "postgres", "arrow"} <= set(c)) or not all(
            isinstance(c[k], str) for k in ("name", "postgres", "arrow")
        ):
            problems.append(f"column {c!r} is not {{name, postgres, arrow}}")
            continue
        names.append(c["name"])
    if not problems and raw["column"] not in names:
        problems.append(f"the partition column {raw['column']!r} is not among the columns")
    return problems


def read_manifest(s3: Any, bucket: str, key: str) -> Manifest:
    """The manifest at `key`, checked (ManifestError naming the key when it is malformed)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return Manifest.from_json(body, f"s3://{bucket}/{key}")


def put_manifest(s3: Any, bucket: str, key: str, manifest: Manifest) -> None:
    """Write the manifest (beside an object just written: whatever an earlier run left at
    `key` was cleared before it, see archive._export)."""
    s3.put_object(Bucket=bucket, Key=key, Body=manifest.to_json(), ContentType="application/json")


def find_manifest(s3: Any, bucket: str, prefix: str) -> Manifest:
    key = prefix + "manifest.json"
    try:
        return read_manifest(s3, bucket, key)
    except ClientError as exc:
        if http_status(exc) == 404:
            raise UsageError(
                f"no archive at s3://{bucket}/{key}",
                "check --table, --partition and --bucket (`db archive --dry-run` lists keys)",
            ) from None
        raise
