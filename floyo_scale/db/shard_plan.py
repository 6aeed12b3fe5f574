"""Reading the shards and planning a move: the recorded layout, which keys live where, and what `db
shards plan` says moves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import sql

from ..errors import FloyoError, UsageError
from ..sharding import ALGORITHM, shard_for
from .connect import Shard, connect
from .pgtools import Table, fk_order, foreign_keys, tables

SCHEMAS = ("public",)

ROWS_PER_SECOND = 12_000  # the plan's estimate: bench/db_move.py --shards measured ~14,000

Unkeyed = Literal["every_shard", "shard0"]


@dataclass(frozen=True)
class Layout:
    """Which tables are keyed (by which column) and in which order rows move."""

    key: str
    keyed: dict[str, tuple[Table, str]]  # name -> (table, key column)
    unkeyed: dict[str, Table]
    order: list[str]  # every table, parents first
    unkeyed_mode: Unkeyed
    # keyed tables whose rows `hash_record_extended` cannot hash (a column of a type without
    # a hash function, such as json): their checksum hashes each row's text instead
    text_hashed: set[str] = field(default_factory=set)

    @property
    def keyed_order(self) -> list[str]:
        return [n for n in self.order if n in self.keyed]


@dataclass(frozen=True)
class Move:
    source: int
    target: int
    keys: int
    rows: int


@dataclass(frozen=True)
class ShardPlan:
    from_shards: int
    to_shards: int
    new_shards: list[int]
    keyed: dict[str, str]  # table -> key column
    unkeyed: list[str]
    unkeyed_mode: Unkeyed
    order: list[str]
    moves: list[Move]
    keys_total: int
    unkeyed_rows: int
    resuming: str | None  # the journal's step when an earlier run stopped part-way
    seconds: float

    @property
    def keys_moving(self) -> int:
        return sum(m.keys for m in self.moves)

    @property
    def rows_moving(self) -> int:
        return sum(m.rows for m in self.moves)

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "from_shards": self.from_shards,
            "to_shards": self.to_shards,
            "new_shards": self.new_shards,
            "keyed_tables": self.keyed,
            "unkeyed_tables": self.unkeyed,
            "unkeyed_mode": self.unkeyed_mode,
            "order": self.order,
            "keys_total": self.keys_total,
            "keys_moving": self.keys_moving,
            "rows_moving": self.rows_moving,
            "unkeyed_rows_copied": self.unkeyed_rows,
            "moves": [m.__dict__ for m in self.moves],
            "resuming": self.resuming,
            "estimated_seconds": round(self.seconds, 1),
        }


# -- reading the shards ------------------------------------------------------------------------


def read_layout(conn: Any, key: str, key_columns: dict[str, str], unkeyed_mode: Unkeyed) -> Layout:
    found = tables(conn, SCHEMAS)
    keyed: dict[str, tuple[Table, str]] = {}
    unkeyed: dict[str, Table] = {}
    for name, table in found.items():
        column = key_columns.get(name) or key_columns.get(table.name)
        if column is None and key in table.columns:
            column = key
        if column is not None:
            if column not in table.columns:
                raise UsageError(
                    f"sharding.key_columns names {name}.{column}, which does not exist",
                    f"the columns of {name} are: {', '.join(table.columns)}",
                )
            keyed[name] = (table, column)
        else:
            unkeyed[name] = table
    fks = foreign_keys(conn, SCHEMAS)
    for child, parent in fks:
        if child in unkeyed and parent in keyed:
            raise UsageError(
                f"{child} has a foreign key to {parent}, which is sharded by {key}, but has "
                f"no {key} column of its own",
                f"add {key} to {child} (and fill it), or name its key column in "
                "database.sharding.key_columns",
            )
        if unkeyed_mode == "shard0" and child in keyed and parent in unkeyed:
            raise UsageError(
                f"{child} (sharded) has a foreign key to {parent}, which stays on shard 0 "
                "only (unkeyed_tables: shard0)",
                "set database.sharding.unkeyed_tables: every_shard, or drop the constraint",
            )
    return Layout(key, keyed, unkeyed, fk_order(list(found), fks), unkeyed_mode)


def _recorded_layout(conn: Any) -> tuple[int, int] | None:
    """(shards, shard) from `_floyo.layout`, or None where it was never set up."""
    if not _has_floyo(conn):
        return None
    row = conn.execute("SELECT shards, shard FROM _floyo.layout").fetchone()
    return (int(row[0]), int(row[1])) if row else None


def _has_floyo(conn: Any) -> bool:
    row = conn.execute("SELECT to_regclass('_floyo.layout') IS NOT NULL").fetchone()
    return bool(row and row[0])


def open_move(conn: Any) -> tuple[int, int, int, str] | None:
    if not _has_floyo(conn):
        return None
    row = conn.execute(
        "SELECT id, from_shards, to_shards, step FROM _floyo.shard_move "
        "WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return (int(row[0]), int(row[1]), int(row[2]), str(row[3])) if row else None


def read_from_shards(conn0: Any, to: int) -> tuple[int, str | None]:
    """How many shards the data is laid out over now (1 for a database never sharded), and
    the step an unfinished move stopped at."""
    move = open_move(conn0)
    if move is not None:
        _, from_shards, to_shards, step = move
        if to_shards != to:
            raise UsageError(
                f"a move from {from_shards} to {to_shards} shards is unfinished, but the "
                f"stack now has {to} shards",
                f"deploy the stack with {to_shards} shards again and rerun `db shards apply` "
                "to finish that move first",
            )
        return from_shards, step
    recorded = _recorded_layout(conn0)
    return (recorded[0] if recorded else 1), None


def key_filter(column: str, table: Table, conn: Any) -> sql.Composed:
    """`column = ANY(%s::<its type>[])`, so the column's index is used."""
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = %s",
        (sql.Identifier(table.schema, table.name).as_string(conn), column),
    ).fetchone()
    return sql.SQL("{} = ANY(%s::{}[])").format(sql.Identifier(column), sql.SQL(row[0]))


def key_row_counts(conn: Any, layout: Layout) -> dict[str, int]:
    """Every key on this shard (as stored, as text) and its row count over all keyed tables."""
    counts: dict[str, int] = defaultdict(int)
    for name in layout.keyed_order:
        table, column = layout.keyed[name]
        query = sql.SQL("SELECT {col}::text, count(*) FROM {t} GROUP BY 1").format(
            col=sql.Identifier(column), t=sql.Identifier(table.schema, table.name)
        )
        for key, count in conn.execute(query):
            if key is not None:
                counts[key] += int(count)
    return counts


def _normal(key: str) -> str:
    from ..sharding import normalise

    return normalise(key)


@contextmanager
def connections(shards: Sequence[Shard]) -> Iterator[list[Any]]:
    with ExitStack() as stack:
        yield [stack.enter_context(connect(s)) for s in shards]


# -- plan ---------------------------------------------------------------------------------------


def plan(
    shards: Sequence[Shard],
    *,
    key: str,
    key_columns: dict[str, str] | None = None,
    unkeyed_tables: Unkeyed = "every_shard",
) -> ShardPlan:
    """What `apply` would do: which keys and rows move where, and roughly how long it takes.
    Reads only."""
    to = len(shards)
    with connections(shards) as conns:
        from_shards, step = read_from_shards(conns[0], to)
        if to < from_shards:
            raise UsageError(
                f"the data is laid out over {from_shards} shards and the phase has {to}",
                "removing shards is not supported: jump consistent hash only grows",
            )
        layout = read_layout(conns[0], key, key_columns or {}, unkeyed_tables)
        moves: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        keys_total = 0
        for index in range(from_shards):
            if not _tables_exist(conns[index], layout):
                continue
            for k, rows in key_row_counts(conns[index], layout).items():
                keys_total += 1
                target = shard_for(k, to)
                if target != index:
                    moves[(index, target)][0] += 1
                    moves[(index, target)][1] += rows
        unkeyed_rows = 0
        new = list(range(from_shards, to))
        if unkeyed_tables == "every_shard" and new:
            for name in layout.unkeyed:
                table = layout.unkeyed[name]
                row = (
                    conns[0]
                    .execute(
                        sql.SQL("SELECT count(*) FROM {}").format(
                            sql.Identifier(table.schema, table.name)
                        )
                    )
                    .fetchone()
                )
                unkeyed_rows += int(row[0]) * len(new)
    listed = [Move(s, t, k, r) for (s, t), (k, r) in sorted(moves.items())]
    rows = sum(m.rows for m in listed) + unkeyed_rows
    seconds = rows / ROWS_PER_SECOND + 2.0 * len(new) + 0.05 * sum(m.keys for m in listed) / 100
    return ShardPlan(
        from_shards=from_shards,
        to_shards=to,
        new_shards=new,
        keyed={n: c for n, (_, c) in layout.keyed.items()},
        unkeyed=sorted(layout.unkeyed),
        unkeyed_mode=unkeyed_tables,
        order=layout.order,
        moves=listed,
        keys_total=keys_total,
        unkeyed_rows=unkeyed_rows,
        resuming=step,
        seconds=seconds,
    )


def _tables_exist(conn: Any, layout: Layout) -> bool:
    present = tables(conn, SCHEMAS)
    return all(name in present for name in layout.keyed)


def locate(conns: Sequence[Any], key: object) -> int:
    """Where `key`'s rows are, by the rule the app follows (docs/sharding.md): its shard
    under the layout recorded on shard 0, then the moved-out list."""
    recorded = _recorded_layout(conns[0])
    index = shard_for(key, recorded[0] if recorded else 1)
    for _ in range(64):
        if not _has_floyo(conns[index]):
            return index
        moved = (
            conns[index]
            .execute("SELECT shard FROM _floyo.moved_out WHERE key = %s", (_normal(str(key)),))
            .fetchone()
        )
        if moved is None:
            return index
        index = int(moved[0])
    raise FloyoError(f"the moved-out lists for key {key} form a loop")
