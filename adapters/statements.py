"""SQL text per dialect: the one place that knows how MySQL, MariaDB, PostgreSQL and SQLite
spell a guarded upsert, a purge and a locking read. A new dialect goes here.

A projected table is written with four statements, all guarded by the rank column
(``ddbproj_seq``) so that chunks and batches may arrive in any order:

- the row upsert replaces a row only with a higher rank;
- the tombstone upsert does the same for deletes;
- the purge removes rows no newer than their tombstone (with soft delete: marks them);
- the clear removes tombstones older than their row (the item was created again).

Values travel as parameters, or, for MySQL-family upserts, in VALUES text that
``adapters.literals`` renders exactly as PyMySQL binds parameters.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ddbproj.adapters.engine import is_mysql
from ddbproj.core.columns import ColumnKind
from ddbproj.core.names import SEQ_COLUMN, SEQ_DIGITS, tombstone_table_name
from ddbproj.core.plan import TableChanges
from ddbproj.core.projector import SOFT_DELETE_COLUMN, CompiledProjector

__all__ = ["TableStatements", "Upsert", "bookkeeping_upsert", "decimal_text", "rank_value",
           "row_alias", "utc_wall_time"]


def row_alias(dialect: sa.Dialect) -> bool:
    """MySQL 8.0.19 and later (Aurora MySQL 3) name the inserted row ``AS new``;
    ``VALUES(col)`` there is deprecated (warning 1287). MariaDB knows only ``VALUES()``."""
    if not is_mysql(dialect) or getattr(dialect, "is_mariadb", False):
        return False
    version = getattr(dialect, "server_version_info", None) or ()
    return tuple(version[:3]) >= (8, 0, 19)


def rank_value(dialect: sa.Dialect, rank: int | None) -> Any:
    """A rank as the rank column stores it: DECIMAL(40, 0), or on SQLite (64-bit numbers)
    zero-padded text, which sorts the same way."""
    if rank is None:
        return None
    return str(rank).zfill(SEQ_DIGITS) if dialect.name == "sqlite" else rank


def utc_wall_time(moment: datetime.datetime | None = None) -> datetime.datetime:
    """``moment`` (default: now) as naive UTC: DATETIME columns have no zone."""
    if moment is None:
        moment = datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def decimal_text(value: Any) -> str:
    """A decimal as plain digits (SQLite stores DECIMAL columns as text)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


@attrs.frozen
class Upsert:
    """A multi-row guarded upsert: ``head`` + one placeholder group per row + ``tail``."""

    head: str
    placeholders: str
    tail: str

    @property
    def sql(self) -> str:
        """The statement for one row of parameters (``executemany`` repeats the group)."""
        return self.head + self.placeholders + self.tail


class TableStatements:
    """The SQL text of one table's guarded statements, built once, in the driver's
    paramstyle, and the parameters of a chunk's changes in the order they expect."""

    def __init__(self, projector: CompiledProjector, dialect: sa.Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.dialect = dialect
        self.sqlite = dialect.name == "sqlite"
        mysql_family = is_mysql(dialect)
        columns = projector.columns
        table = quote(projector.table)
        tomb = quote(tombstone_table_name(projector.table))
        seq = quote(SEQ_COLUMN)
        self.soft_delete = projector.soft_delete
        mark_column = [quote(SOFT_DELETE_COLUMN)] if self.soft_delete else []
        names = [quote(c.name) for c in columns]
        keys = [quote(columns[i].name) for i in projector.key_indexes]
        self._decimal_indexes = tuple(
            i for i, c in enumerate(columns) if c.kind is ColumnKind.DECIMAL
        ) if self.sqlite else ()
        self._key_decimal_positions = tuple(
            n for n, i in enumerate(projector.key_indexes) if i in self._decimal_indexes)
        style = "alias" if row_alias(dialect) else "values" if mysql_family else "excluded"
        self.row_upsert = _guarded_upsert(table, [*names, *mark_column, seq], keys, seq, mark,
                                          style)
        self.tombstone_upsert = _guarded_upsert(tomb, [*keys, *mark_column, seq], keys, seq,
                                                mark, style)

        def match(left: str, right: str) -> str:
            return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)

        key_list = keys[0] if len(keys) == 1 else "(" + ", ".join(keys) + ")"
        self._one_key = mark if len(keys) == 1 else "(" + ", ".join([mark] * len(keys)) + ")"
        where_keys = f"{key_list} IN ({{marks}})"
        newer_tomb = (f"EXISTS (SELECT 1 FROM {tomb} b WHERE {match('b', table)} "
                      f"AND b.{seq} >= {table}.{seq})")
        if not self.soft_delete:
            # rows no newer than their tombstone go (a delete, or an old image after one)
            self._purge = f"DELETE FROM {table} WHERE {where_keys} AND {newer_tomb}"
        else:
            # the row keeps its last image and its rank; the mark is the newest later
            # tombstone's (NULL when the item was created again after it)
            deleted = quote(SOFT_DELETE_COLUMN)
            self._purge = (
                f"UPDATE {table} SET {deleted} = (SELECT b.{deleted} FROM {tomb} b WHERE "
                f"{match('b', table)} AND b.{seq} > {table}.{seq}) WHERE {where_keys}")
        # tombstones older than a live row go: the item was created again after the delete
        self._clear = (
            f"DELETE FROM {tomb} WHERE {where_keys} AND EXISTS "
            f"(SELECT 1 FROM {table} r WHERE {match('r', tomb)} AND r.{seq} > {tomb}.{seq})")
        # locking reads: a delete committing meanwhile is waited for and then seen, so an
        # older image written beside it cannot outlive its tombstone
        share = (" LOCK IN SHARE MODE" if mysql_family
                 else " FOR SHARE" if dialect.name == "postgresql" else "")
        exclusive = "" if self.sqlite else " FOR UPDATE"
        self.any_tombstone = f"SELECT 1 FROM {tomb} LIMIT 1{share}"
        self._probe = f"SELECT {', '.join(keys)} FROM {tomb} WHERE {where_keys}{share}"
        self._lock_rows = f"SELECT 1 FROM {table} WHERE {where_keys}{exclusive}"

    def purge(self, count: int) -> str:
        return self._purge.replace("{marks}", self._marks(count))

    def clear(self, count: int) -> str:
        return self._clear.replace("{marks}", self._marks(count))

    def probe(self, count: int) -> str:
        return self._probe.replace("{marks}", self._marks(count))

    def lock_rows(self, count: int) -> str:
        """Lock the rows of these keys (waiting for writers of them) before a purge: an
        UPDATE under READ COMMITTED skips a row another transaction is inserting."""
        return self._lock_rows.replace("{marks}", self._marks(count))

    def _marks(self, count: int) -> str:
        return ", ".join([self._one_key] * count)

    def seq(self, rank: int) -> Any:
        return str(rank).zfill(SEQ_DIGITS) if self.sqlite else rank

    def tombstone_params(self, changes: TableChanges) -> list[tuple[Any, ...]]:
        """One parameter tuple per tombstone: its key, [when removed,] its rank."""
        if self.soft_delete:
            return [(*self.key_params(key), utc_wall_time(removed), self.seq(rank))
                    for key, (rank, removed) in changes.tombstones.items()]
        return [(*self.key_params(key), self.seq(rank))
                for key, (rank, _) in changes.tombstones.items()]

    def upsert_params(self, changes: TableChanges) -> list[tuple[Any, ...]]:
        """One parameter tuple per upserted row: its values, [no mark,] its rank."""
        if self.soft_delete:
            return [(*self.row_params(row), None, self.seq(rank))
                    for rank, row in changes.rows.values()]
        if self._decimal_indexes or self.sqlite:
            return [(*self.row_params(row), self.seq(rank)) for rank, row in changes.rows.values()]
        return [(*row, rank) for rank, row in changes.rows.values()]

    def row_params(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._decimal_indexes:
            return row
        values = list(row)
        for index in self._decimal_indexes:
            if values[index] is not None:
                values[index] = decimal_text(values[index])
        return tuple(values)

    def key_params(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._key_decimal_positions:
            return key
        values = list(key)
        for index in self._key_decimal_positions:
            values[index] = decimal_text(values[index])
        return tuple(values)


def _guarded_upsert(
    table: str, columns: list[str], keys: list[str], seq: str, mark: str, style: str
) -> Upsert:
    """INSERT that, on a key conflict, replaces the row only when its rank is higher.

    MySQL runs the assignments of ``ON DUPLICATE KEY UPDATE`` left to right, each seeing
    the columns already assigned, so the rank column is assigned last: every comparison
    before it still sees the stored rank.
    """
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    placeholders = f"({', '.join([mark] * len(columns))})"
    values = [c for c in columns if c not in keys]
    if style in ("alias", "values"):
        def new(column: str) -> str:
            return f"new.{column}" if style == "alias" else f"VALUES({column})"

        newer = f"{new(seq)} > {seq}"
        sets = [f"{c} = IF({newer}, {new(c)}, {c})" for c in values if c != seq]
        sets.append(f"{seq} = IF({newer}, {new(seq)}, {seq})")
        alias = " AS new" if style == "alias" else ""
        return Upsert(head, placeholders, f"{alias} ON DUPLICATE KEY UPDATE {', '.join(sets)}")
    sets = [f"{c} = excluded.{c}" for c in values]
    return Upsert(head, placeholders,
                  f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)} "
                  f"WHERE excluded.{seq} > {table}.{seq}")


def bookkeeping_upsert(
    dialect: sa.Dialect,
    table: sa.Table,
    index: list[str],
    *,
    updates: list[str],
    increment: str | None = None,
) -> Any:
    """INSERT ... ON DUPLICATE KEY / ON CONFLICT DO UPDATE for ddbproj's own rows
    (SQLAlchemy renders MySQL 8's row alias itself)."""
    if is_mysql(dialect):
        stmt = mysql.insert(table)
        values: dict[str, Any] = {name: stmt.inserted[name] for name in updates}
        if increment:
            values[increment] = table.c[increment] + sa.literal_column("1")
        return stmt.on_duplicate_key_update(values)
    # imported here: a MySQL batch never needs them (PostgreSQL's costs ~70 ms at cold start)
    from sqlalchemy.dialects import postgresql, sqlite

    stmt_pg: Any = (postgresql.insert(table) if dialect.name == "postgresql"
                    else sqlite.insert(table))
    values = {name: stmt_pg.excluded[name] for name in updates}
    if increment:
        values[increment] = table.c[increment] + sa.literal_column("1")
    return stmt_pg.on_conflict_do_update(index_elements=index, set_=values)
