"""The price catalog: list prices as data (prices.yaml beside this module), typed.

    >>> from floyo_scale.catalog.prices import load_prices
    >>> catalog = load_prices()
    >>> catalog.get("supabase.compute.small").price
    15.0
    >>> sorted(catalog.group("supabase.pitr"))
    ['pitr_14', 'pitr_28', 'pitr_7']

A mapping in the YAML with a `price` key (or `unit`, `source`, `read`) is a priced entry;
any other mapping is a group. An entry's key is the dotted path of names leading to it.
Names may themselves contain dots (`aws.elasticache.node_hour.cache.t4g.micro`): keys
are built by joining, never split, so look them up whole.

This module sits on the `cost` command's hot path: it imports only the standard
library at import time and PyYAML when the catalog is first loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("prices.yaml")

# Keys that make a mapping an entry rather than a group.
_ENTRY_MARKERS = frozenset({"price", "unit", "source", "read"})
# Keys an entry keeps as typed fields; all others go to PriceEntry.extra.
_ENTRY_FIELDS = frozenset({"price", "unit", "source", "read", "note"})
# Scalar keys a group may carry; `region` is inherited by the entries below it.
_GROUP_SCALARS = frozenset({"note", "region"})
_INHERITED = ("region",)
# Top-level keys that are catalog metadata, not providers.
_TOP_LEVEL_META = frozenset({"currency", "caveats"})


class PriceCatalogError(ValueError):
    """The packaged price catalog is malformed (a bug in prices.yaml, not in a spec). Carries
    a message and a hint like a FloyoError; cost.estimate turns it into one (the catalog
    imports nothing of ours)."""

    def __init__(self, problems: list[str], path: Path | str = CATALOG_PATH) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        self.message = (
            f"{count} problem{'s' if count != 1 else ''} in the price catalog {path}:\n{listing}"
        )
        self.hint = (
            "fix prices.yaml (every entry needs price, unit, an https source and a read "
            "date), then run `pytest tests/test_prices.py`"
        )
        super().__init__(self.message)


class PriceKeyError(KeyError):
    """No priced entry under that dotted key; the message lists the closest keys."""

    def __init__(self, key: str, suggestions: list[str], reason: str = "no price entry") -> None:
        super().__init__(key)
        self.key = key
        self.suggestions = suggestions
        self.reason = reason

    def __str__(self) -> str:
        text = f"{self.reason} {self.key!r} in the price catalog"
        if self.suggestions:
            text += "; closest keys: " + ", ".join(self.suggestions)
        return text


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One figure: `price` (USD, None when there is no list price) per `unit`."""

    key: str
    price: float | None
    unit: str
    source: str
    read: date
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the last name as written in the YAML: "small", "cache.t4g.micro"

    @property
    def is_custom(self) -> bool:
        """True when there is no list figure (enterprise contracts, rules)."""
        return self.price is None


class PriceCatalog:
    """Every priced entry by dotted key, in file order."""

    def __init__(
        self,
        entries: Mapping[str, PriceEntry],
        currency: str = "USD",
        caveats: tuple[str, ...] = (),
    ) -> None:
        self._entries: dict[str, PriceEntry] = dict(entries)
        self.currency = currency
        self.caveats = caveats

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return list(self._entries)

    def entries(self, prefix: str | None = None) -> Iterator[PriceEntry]:
        """Every priced entry (each knows its dotted `key`), optionally under `prefix`."""
        if prefix is None:
            yield from self._entries.values()
            return
        stem = prefix.rstrip(".") + "."
        for key, entry in self._entries.items():
            if key.startswith(stem):
                yield entry

    def get(self, key: str) -> PriceEntry:
        """The entry at `key`; PriceKeyError (a KeyError) naming the closest keys if none."""
        try:
            return self._entries[key]
        except KeyError:
            pass
        children = [e.key for e in self.entries(key)]
        if children:
            raise PriceKeyError(key, children[:12], "a group, not a priced entry:") from None
        raise PriceKeyError(key, self._closest(key)) from None

    def price(self, key: str) -> float | None:
        return self.get(key).price

    def group(self, prefix: str) -> dict[str, PriceEntry]:
        """Entries under `prefix`, keyed by the rest of their key.

        `group("aws.elasticache.node_hour")` -> {"cache.t4g.micro": ..., ...}.
        """
        stem = prefix.rstrip(".") + "."
        found = {e.key[len(stem) :]: e for e in self.entries(prefix)}
        if not found:
            raise PriceKeyError(prefix, self._closest(prefix), "no entries under")
        return found

    def _closest(self, key: str) -> list[str]:
        import difflib  # deferred: only an error path needs it

        keys = list(self._entries)
        close = difflib.get_close_matches(key, keys, n=5, cutoff=0.6)
        # Also offer the siblings under the longest prefix that exists.
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            stem = ".".join(parts[:cut]) + "."
            siblings = [k for k in keys if k.startswith(stem)]
            if siblings:
                close += [k for k in siblings if k not in close]
                break
        return close[:12]


# --- validation -----------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None  # a timestamp, not a day: refuse rather than truncate
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _is_entry(node: Mapping[str, Any]) -> bool:
    return any(k in node for k in _ENTRY_MARKERS)


def _entry_problems(key: str, node: Mapping[str, Any], not_after: date | None) -> list[str]:
    problems: list[str] = []
    if "price" not in node:
        problems.append(f"{key}: no price (give a number, or null with a note)")
    else:
        price = node["price"]
        if price is None:
            if not isinstance(node.get("note"), str) or not node["note"].strip():
                problems.append(f"{key}: price is null but there is no note saying why")
        elif not _is_number(price):
            problems.append(f"{key}: price {price!r} is not a number")
        elif not math.isfinite(price) or price < 0:
            problems.append(f"{key}: price {price!r} is negative or not finite")
    unit = node.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        problems.append(f"{key}: no unit")
    source = node.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.append(f"{key}: no source")
    elif not source.startswith("https://"):
        problems.append(f"{key}: source {source!r} is not an https URL")
    via = node.get("via")
    if via is not None and (not isinstance(via, str) or not via.startswith("https://")):
        problems.append(f"{key}: via {via!r} is not an https URL")
    if "read" not in node or node["read"] is None:
        problems.append(f"{key}: no read date")
    else:
        read = _as_date(node["read"])
        if read is None:
            problems.append(f"{key}: read {node['read']!r} is not an ISO date (YYYY-MM-DD)")
        elif not_after is not None and read > not_after:
            problems.append(f"{key}: read {read.isoformat()} is in the future")
    note = node.get("note")
    if note is not None and not isinstance(note, str):
        problems.append(f"{key}: note is not text")
    return problems


def _walk(
    node: Mapping[str, Any],
    path: tuple[str, ...],
    inherited: dict[str, Any],
    not_after: date | None,
    found: dict[str, tuple[tuple[str, ...], Mapping[str, Any], dict[str, Any]]],
    problems: list[str],
) -> None:
    here = dict(inherited)
    for name in _INHERITED:
        if name in node:
            here[name] = node[name]
    for name, child in node.items():
        if not isinstance(name, str):
            problems.append(f"{'.'.join(path) or '<top>'}: key {name!r} is not text")
            continue
        child_path = (*path, name)
        key = ".".join(child_path)
        if isinstance(child, Mapping):
            if _is_entry(child):
                problems.extend(_entry_problems(key, child, not_after))
                if key in found:
                    other = ".".join(found[key][0])
                    problems.append(f"{key}: key collides with another entry ({other})")
                found[key] = (child_path, child, here)
            elif not child:
                problems.append(f"{key}: empty group")
            else:
                _walk(child, child_path, here, not_after, found, problems)
        elif name in _GROUP_SCALARS and path:
            if not isinstance(child, str):
                problems.append(f"{key}: expected text, got {type(child).__name__}")
        else:
            problems.append(
                f"{key}: {child!r} is neither a priced entry nor a group "
                "(an entry is a mapping with price, unit, source and read)"
            )


def check_catalog(data: Any, *, not_after: date | None = None) -> list[str]:
    """Every problem in a parsed catalog document; [] when it is sound.

    `not_after`: when given, a `read` date later than it is a problem (the tests pass
    today's date; loading does not, so a wrong clock cannot break the CLI).
    """
    return _check(data, not_after)[0]


def _check(
    data: Any, not_after: date | None
) -> tuple[list[str], dict[str, tuple[tuple[str, ...], Mapping[str, Any], dict[str, Any]]]]:
    problems: list[str] = []
    found: dict[str, tuple[tuple[str, ...], Mapping[str, Any], dict[str, Any]]] = {}
    if not isinstance(data, Mapping):
        return ["the catalog is not a mapping"], found
    currency = data.get("currency")
    if currency != "USD":
        problems.append(f"currency: expected USD, got {currency!r}")
    caveats = data.get("caveats", [])
    if not isinstance(caveats, list) or not all(isinstance(c, str) for c in caveats):
        problems.append("caveats: expected a list of text")
    body = {k: v for k, v in data.items() if k not in _TOP_LEVEL_META}
    _walk(body, (), {}, not_after, found, problems)
    if not found:
        problems.append("the catalog has no priced entries")
    return problems, found


def parse_catalog(
    data: Any, *, not_after: date | None = None, origin: Path | str = CATALOG_PATH
) -> PriceCatalog:
    """A PriceCatalog from a parsed document; PriceCatalogError lists every problem."""
    problems, found = _check(data, not_after)
    if problems:
        raise PriceCatalogError(problems, origin)
    entries: dict[str, PriceEntry] = {}
    for key, (path, node, inherited) in found.items():
        extra = {k: v for k, v in node.items() if k not in _ENTRY_FIELDS}
        for name, value in inherited.items():
            extra.setdefault(name, value)
        price = node["price"]
        read = _as_date(node["read"])
        assert read is not None  # checked above
        entries[key] = PriceEntry(
            key=key,
            price=None if price is None else float(price),
            unit=node["unit"],
            source=node["source"],
            read=read,
            note=node.get("note"),
            extra=extra,
            name=path[-1],
        )
    return PriceCatalog(entries, currency=data["currency"], caveats=tuple(data.get("caveats", [])))


def read_catalog_document(path: Path | str = CATALOG_PATH) -> Any:
    """The raw YAML document (PyYAML's C loader when available)."""
    import yaml  # deferred: keeps `import floyo_scale.catalog.prices` cheap

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # CSafeLoader or SafeLoader


@lru_cache(maxsize=1)
def load_prices() -> PriceCatalog:
    """The packaged catalog, parsed and checked once per process."""
    return parse_catalog(read_catalog_document(CATALOG_PATH), origin=CATALOG_PATH)
