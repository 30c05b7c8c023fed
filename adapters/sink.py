"""The SQL sink: applies a batch plan in one transaction with guarded bulk statements.

Per table and chunk of a batch: one multi-row upsert of tombstones (deletes), one
multi-row upsert of rows, both guarded so that only a higher sequence number replaces
what is stored (so chunks may arrive in any order); then, for every key written, rows
older than their tombstone are removed and tombstones older than their row are cleared.
Dead letters and the consumer's checkpoint go into the same transaction. On servers
other than SQLite a writer thread runs a chunk's upserts while the next chunk is planned.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from adapters import literals
from adapters.engine import is_mysql
from adapters.errors import DatabaseUnavailable, StatementFailed, is_transient
from adapters.schema import (
    CHECKPOINTS,
    DEAD_LETTERS,
    SEQ_COLUMN,
    SEQ_WIDTH,
    build_metadata,
    key_collation,
    tombstone_table_name,
)
from core import jsontext
from core.columns import ColumnKind
from core.plan import BatchPlan, DeadLetter, TableChanges
from core.projector import SOFT_DELETE_COLUMN, CompiledProjector
from core.registry import ProjectorRegistry

__all__ = ["Checkpoint", "SqlSink"]

#: Keys per IN (...) list: well under every server's placeholder limit.
KEY_CHUNK = 500
#: Statements whose text holds their values (rendered by ``adapters.literals``).
_NO_PARAMETERS = {"no_parameters": True}
#: Keys per tombstone lookup: a read, so larger lists pay (fewer round trips).
PROBE_CHUNK = 2000


@attrs.frozen
class Checkpoint:
    """Where a stream consumer is on one shard, written with the rows it produced."""

    stream_arn: str
    shard_id: str
    sequence_number: str | None
    finished: bool = False


class SqlSink:
    """Writes batch plans to one SQL database (MySQL/MariaDB/Aurora, SQLite, PostgreSQL).

    ``pipelined=False`` keeps every statement in the caller's thread.
    """

    def __init__(
        self,
        engine: sa.Engine,
        registry: ProjectorRegistry,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.1,
        pipelined: bool = True,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.pipelined = pipelined
        self._metadata: sa.MetaData | None = None
        self._statements: dict[str, _TableStatements] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # -- schema ---------------------------------------------------------------------

    @property
    def metadata(self) -> sa.MetaData:
        if self._metadata is None:
            self._metadata = build_metadata(self.registry, collation=self._collation())
        return self._metadata

    def _collation(self) -> str | None:
        if not is_mysql(self.engine.dialect):
            return None
        with self.engine.connect() as conn:
            return key_collation(conn)

    def create_schema(self) -> list[str]:
        """Create the tables that do not exist yet; returns their names."""
        with self.engine.begin() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            self.metadata.create_all(conn)
        return [name for name in self.metadata.tables if name not in existing]

    def table(self, name: str) -> sa.Table:
        return self.metadata.tables[name]

    # -- applying a plan ---------------------------------------------------------------

    def apply(self, plan: BatchPlan, *, checkpoint: Checkpoint | None = None) -> None:
        """Commit ``plan`` (and ``checkpoint``) atomically, retrying transient failures.

        Raises ``DatabaseUnavailable`` or ``StatementFailed`` with nothing committed.
        """
        self.run_in_transaction(lambda conn: self.write(conn, plan, checkpoint=checkpoint))

    def apply_planning(
        self,
        planning: Callable[[Callable[[Mapping[str, TableChanges]], None]], BatchPlan],
        *,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """Plan and write a batch in one transaction, as ``apply`` commits a plan.

        ``planning(write_chunk)`` plans the batch, handing the table changes of each chunk
        of records to ``write_chunk`` as it goes. Except on SQLite, a writer thread runs a
        chunk's statements while the next chunk is planned, so the server works while
        Python does. A retry plans again (planning touches no database).
        """
        def work(conn: sa.Connection) -> None:
            writer = _BatchWriter(self, conn, self._pipeline())
            try:
                plan = planning(writer.add)
            finally:
                writer.settle()
            writer.finish(plan.dead_letters, checkpoint)

        self.run_in_transaction(work)

    def run_in_transaction(self, work: Callable[[sa.Connection], None]) -> None:
        """Run ``work`` in one transaction, again on a fresh connection after a transient
        failure (deadlock, lost connection, failover), at most ``attempts`` times."""
        for attempt in range(1, self.attempts + 1):
            try:
                with self.engine.begin() as conn:
                    work(conn)
                return
            except sa.exc.DBAPIError as error:
                if not is_transient(error):
                    raise StatementFailed(_safe_text(error)) from error
                if attempt == self.attempts:
                    raise DatabaseUnavailable(_safe_text(error)) from error
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1) * (1 + random.random()))

    def write(
        self, conn: sa.Connection, plan: BatchPlan, *, checkpoint: Checkpoint | None = None
    ) -> None:
        """Write ``plan`` inside the caller's transaction (``run_in_transaction``), so that
        other bookkeeping (backfill progress) commits with it."""
        writer = _BatchWriter(self, conn, None)
        writer.add(plan.tables)
        writer.finish(plan.dead_letters, checkpoint)

    def _pipeline(self) -> concurrent.futures.Executor | None:
        """The writer thread, started on first use; none for SQLite, whose connections
        belong to the thread that opened them."""
        if not self.pipelined or self.engine.dialect.name == "sqlite":
            return None
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ddbproj-sql-writer")
        return self._executor

    def _statements_for(self, projector: CompiledProjector) -> _TableStatements:
        stmts = self._statements.get(projector.table)
        if stmts is None:
            stmts = _TableStatements(projector, self.engine.dialect)
            self._statements[projector.table] = stmts
        return stmts

    # -- dead letters and checkpoints ----------------------------------------------

    def _store_dead_letters(self, conn: sa.Connection, letters: Sequence[DeadLetter]) -> None:
        table = self.table(DEAD_LETTERS)
        now = _utcnow()
        rows = [
            {
                "record_id": letter.record_id,
                "projector": letter.projector,
                "entity_type": letter.entity_type,
                "table_name": letter.table,
                "item_key": jsontext.dumps(letter.keys) if letter.keys is not None else None,
                "sequence_number": _seq_value(self.engine.dialect, letter.sequence_number),
                "event_kind": letter.event_kind,
                "raw_record": _raw_text(letter.raw_record),
                "error": letter.error,
                "first_seen": now,
                "last_seen": now,
                "attempts": 1,
            }
            for letter in {letter.record_id: letter for letter in letters}.values()
        ]
        conn.execute(
            _upsert(self.engine.dialect, table, ["record_id"],
                    updates=["error", "raw_record", "last_seen", "projector", "entity_type",
                             "table_name"],
                    increment="attempts"),
            rows,
        )

    def _store_checkpoint(self, conn: sa.Connection, checkpoint: Checkpoint) -> None:
        table = self.table(CHECKPOINTS)
        row = {
            "stream_arn": checkpoint.stream_arn,
            "shard_id": checkpoint.shard_id,
            "sequence_number": _seq_value(
                self.engine.dialect,
                int(checkpoint.sequence_number) if checkpoint.sequence_number else None,
            ),
            "finished": checkpoint.finished,
            "updated_at": _utcnow(),
        }
        conn.execute(
            _upsert(self.engine.dialect, table, ["stream_arn", "shard_id"],
                    updates=["sequence_number", "finished", "updated_at"]),
            [row],
        )

    def checkpoints(self, stream_arn: str) -> dict[str, Checkpoint]:
        """Shard id -> checkpoint, as committed."""
        table = self.table(CHECKPOINTS)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.stream_arn == stream_arn)).all()
        return {
            row.shard_id: Checkpoint(
                row.stream_arn, row.shard_id,
                str(int(row.sequence_number)) if row.sequence_number is not None else None,
                bool(row.finished),
            )
            for row in rows
        }


class _BatchWriter:
    """One transaction's writes. ``add`` sends each table's guarded upserts of tombstones
    and rows at once (to the writer thread, when there is one); ``finish`` waits for them,
    then removes rows older than their tombstone and clears tombstones older than their row
    for every key written, and stores dead letters and the checkpoint."""

    def __init__(
        self, sink: SqlSink, conn: sa.Connection, executor: concurrent.futures.Executor | None
    ) -> None:
        self.sink = sink
        self.conn = conn
        self.executor = executor
        driver = conn.connection.driver_connection if is_mysql(conn.dialect) else None
        # the VALUES text is rendered here (``adapters.literals``, the text PyMySQL would
        # build, faster) unless the session reads no backslash escapes
        self.driver = driver if driver is not None and literals.backslash_escapes(driver) else None
        self.pending: list[concurrent.futures.Future[Any]] = []
        self.written: dict[str, list[TableChanges]] = {}
        self.deleted: set[str] = set()

    def add(self, tables: Mapping[str, TableChanges]) -> None:
        for table, changes in tables.items():
            stmts = self.sink._statements_for(changes.projector)
            deletes, upserts = stmts.parameters(changes)
            if deletes:
                self._upsert(stmts.tombstone_upsert, deletes)
                self.deleted.add(table)
            if upserts:
                self._upsert(stmts.row_upsert, upserts)
            self.written.setdefault(table, []).append(changes)

    def _upsert(self, upsert: _Upsert, rows: list[tuple[Any, ...]]) -> None:
        if self.driver is None:
            self._run(functools.partial(self.conn.exec_driver_sql, upsert.sql, rows))
            return
        for statement in literals.statements(upsert.head, rows, upsert.tail, self.driver.escape):
            self._run(functools.partial(self.conn.exec_driver_sql, statement,
                                        execution_options=_NO_PARAMETERS))

    def _run(self, statement: Callable[[], Any]) -> None:
        if self.executor is None:
            statement()
        else:
            self.pending.append(self.executor.submit(statement))

    def settle(self) -> None:
        """Wait until every statement handed to the writer thread has run: after this, the
        connection is idle, whatever happened."""
        concurrent.futures.wait(self.pending)

    def finish(self, dead_letters: Sequence[DeadLetter], checkpoint: Checkpoint | None) -> None:
        self.settle()
        for done in self.pending:
            done.result()  # the first failure, as the driver raised it
        self.pending = []
        run = self.conn.exec_driver_sql
        for table, written in self.written.items():
            stmts = self.sink._statements_for(written[0].projector)
            # only keys that have a tombstone can need a purge or a clear; looked up after
            # the upserts, so a delete committed meanwhile by another transaction is seen
            for chunk in _chunks(self._tombstoned(stmts, written, table in self.deleted),
                                 KEY_CHUNK):
                run(stmts.purge(len(chunk)), tuple(_flatten(chunk)))
                run(stmts.clear(len(chunk)), tuple(_flatten(chunk)))
        if dead_letters:
            self.sink._store_dead_letters(self.conn, dead_letters)
        if checkpoint is not None:
            self.sink._store_checkpoint(self.conn, checkpoint)

    def _tombstoned(
        self, stmts: _TableStatements, written: list[TableChanges], deleted: bool
    ) -> list[tuple[Any, ...]]:
        """The written keys that have a tombstone (as stored): usually none at all."""
        run = self.conn.exec_driver_sql
        if not deleted and run(stmts.any_tombstone).first() is None:
            return []
        keys = [stmts.key_params(key)
                for key in dict.fromkeys(key for changes in written for key in changes.changes)]
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(keys, PROBE_CHUNK):
            found.extend(tuple(row) for row in run(stmts.probe(len(chunk)),
                                                   tuple(_flatten(chunk))))
        return found


class _TableStatements:
    """The SQL text of one table's guarded statements, built once, in the driver's
    paramstyle. Values travel as parameters, or, for MySQL upserts, in VALUES text that
    ``adapters.literals`` renders exactly as PyMySQL binds parameters."""

    def __init__(self, projector: CompiledProjector, dialect: sa.Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.mysql = is_mysql(dialect)
        self.sqlite = dialect.name == "sqlite"
        columns = projector.columns
        table = quote(projector.table)
        tomb = quote(tombstone_table_name(projector.table))
        seq = quote(SEQ_COLUMN)
        self.soft_delete = projector.soft_delete
        mark_column = [quote(SOFT_DELETE_COLUMN)] if self.soft_delete else []
        names = [quote(c.name) for c in columns]
        keys = [quote(columns[i].name) for i in projector.key_indexes]
        self._key_indexes = projector.key_indexes
        self._decimal_indexes = tuple(
            i for i, c in enumerate(columns) if c.kind is ColumnKind.DECIMAL
        ) if self.sqlite else ()
        key_decimals = {i for i in self._decimal_indexes if i in projector.key_indexes}
        self._key_decimal_positions = tuple(
            n for n, i in enumerate(projector.key_indexes) if i in key_decimals
        )
        self.row_upsert = _guarded_upsert(table, [*names, *mark_column, seq], keys, seq, mark,
                                          self.mysql)
        self.tombstone_upsert = _guarded_upsert(tomb, [*keys, *mark_column, seq], keys, seq, mark,
                                                self.mysql)
        def match(left: str, right: str) -> str:
            return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)

        key_list = keys[0] if len(keys) == 1 else "(" + ", ".join(keys) + ")"
        one_key = mark if len(keys) == 1 else "(" + ", ".join([mark] * len(keys)) + ")"
        newer_tomb = (f"EXISTS (SELECT 1 FROM {tomb} b WHERE {match('b', table)} "
                      f"AND b.{seq} >= {table}.{seq})")
        if not self.soft_delete:
            # rows no newer than their tombstone go (a delete, or an old image after one)
            self._purge = f"DELETE FROM {table} WHERE {key_list} IN ({{marks}}) AND {newer_tomb}"
        else:
            # ... or, with soft delete, take the tombstone's mark and rank
            def from_tomb(col: str) -> str:
                return f"(SELECT b.{col} FROM {tomb} b WHERE {match('b', table)})"

            deleted = quote(SOFT_DELETE_COLUMN)
            self._purge = (
                f"UPDATE {table} SET {deleted} = {from_tomb(deleted)}, {seq} = {from_tomb(seq)} "
                f"WHERE {key_list} IN ({{marks}}) AND {newer_tomb}"
            )
        # tombstones older than a live row go (the item was created again); with soft
        # delete the row itself carries a delete of the same rank, so that one goes too
        newer_row = ">=" if self.soft_delete else ">"
        self._clear = (
            f"DELETE FROM {tomb} WHERE {key_list} IN ({{marks}}) AND EXISTS "
            f"(SELECT 1 FROM {table} r WHERE {match('r', tomb)} "
            f"AND r.{seq} {newer_row} {tomb}.{seq})"
        )
        self.any_tombstone = f"SELECT 1 FROM {tomb} LIMIT 1"
        self._probe = f"SELECT {', '.join(keys)} FROM {tomb} WHERE {key_list} IN ({{marks}})"
        self._one_key = one_key

    def purge(self, count: int) -> str:
        return self._purge.replace("{marks}", ", ".join([self._one_key] * count))

    def clear(self, count: int) -> str:
        return self._clear.replace("{marks}", ", ".join([self._one_key] * count))

    def probe(self, count: int) -> str:
        return self._probe.replace("{marks}", ", ".join([self._one_key] * count))

    def seq(self, sequence_number: int) -> Any:
        return str(sequence_number).zfill(SEQ_WIDTH) if self.sqlite else sequence_number

    def parameters(
        self, changes: TableChanges
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Parameter tuples of the tombstone upsert (deletes) and of the row upsert."""
        if self.soft_delete:
            marks = changes.deleted_at
            deletes = [(*self.key_params(key), _deleted_at(marks.get(key), deleted=True),
                        self.seq(seq)) for key, (seq, row) in changes.changes.items()
                       if row is None]
            upserts = [(*self.row_params(row), _deleted_at(marks.get(key), deleted=False),
                        self.seq(seq)) for key, (seq, row) in changes.changes.items()
                       if row is not None]
            return deletes, upserts
        deletes = [(*self.key_params(key), self.seq(seq)) for key, seq in changes.deletes()]
        return deletes, self.upsert_params(changes)

    def upsert_params(self, changes: TableChanges) -> list[tuple[Any, ...]]:
        """One parameter tuple per upserted row: its values, then its sequence number."""
        if self._decimal_indexes or self.sqlite:
            return [(*self.row_params(row), self.seq(seq)) for seq, row in changes.upserts()]
        return [(*row, seq) for seq, row in changes.changes.values() if row is not None]

    def row_params(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._decimal_indexes:
            return row
        values = list(row)
        for index in self._decimal_indexes:
            if values[index] is not None:
                values[index] = _decimal_text(values[index])
        return tuple(values)

    def key_params(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._key_decimal_positions:
            return key
        values = list(key)
        for index in self._key_decimal_positions:
            values[index] = _decimal_text(values[index])
        return tuple(values)


@attrs.frozen
class _Upsert:
    """A multi-row guarded upsert: ``head`` + one placeholder group per row + ``tail``."""

    head: str
    placeholders: str
    tail: str

    @property
    def sql(self) -> str:
        """The statement for one row of parameters (``executemany`` repeats the group)."""
        return self.head + self.placeholders + self.tail


def _guarded_upsert(
    table: str, columns: list[str], keys: list[str], seq: str, mark: str, mysql_style: bool
) -> _Upsert:
    """INSERT that, on a key conflict, replaces the row only when its sequence is higher.

    On MySQL the assignments run left to right and see already-updated columns, so the
    sequence column is assigned last (see DESIGN.md, known pitfalls).
    """
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    placeholders = f"({', '.join([mark] * len(columns))})"
    values = [c for c in columns if c not in keys]
    if mysql_style:
        newer = f"VALUES({seq}) > {seq}"
        sets = [f"{c} = IF({newer}, VALUES({c}), {c})" for c in values if c != seq]
        sets.append(f"{seq} = IF({newer}, VALUES({seq}), {seq})")
        return _Upsert(head, placeholders, f" ON DUPLICATE KEY UPDATE {', '.join(sets)}")
    sets = [f"{c} = excluded.{c}" for c in values]
    return _Upsert(head, placeholders,
                   f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)} "
                   f"WHERE excluded.{seq} > {table}.{seq}")


def _upsert(
    dialect: sa.Dialect,
    table: sa.Table,
    index: list[str],
    *,
    updates: list[str],
    increment: str | None = None,
) -> Any:
    """A dialect's INSERT ... ON DUPLICATE KEY / ON CONFLICT DO UPDATE for bookkeeping rows."""
    if is_mysql(dialect):
        stmt = mysql.insert(table)
        values: dict[str, Any] = {name: stmt.inserted[name] for name in updates}
        if increment:
            values[increment] = table.c[increment] + sa.literal_column("1")
        return stmt.on_duplicate_key_update(values)
    stmt_pg: Any = (postgresql.insert(table) if dialect.name == "postgresql"
                    else sqlite.insert(table))
    values = {name: stmt_pg.excluded[name] for name in updates}
    if increment:
        values[increment] = table.c[increment] + sa.literal_column("1")
    return stmt_pg.on_conflict_do_update(index_elements=index, set_=values)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _flatten(keys: list[tuple[Any, ...]]) -> list[Any]:
    return [value for key in keys for value in key]


def _decimal_text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _deleted_at(moment: datetime.datetime | None, *, deleted: bool) -> datetime.datetime | None:
    """The soft-delete mark as UTC wall time (DATETIME has no zone); NULL for a live row."""
    if moment is None:
        return _utcnow() if deleted else None
    return moment.astimezone(datetime.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _seq_value(dialect: sa.Dialect, sequence_number: int | None) -> Any:
    if sequence_number is None:
        return None
    return str(sequence_number).zfill(SEQ_WIDTH) if dialect.name == "sqlite" else sequence_number


def _raw_text(raw: Any) -> str:
    try:
        return jsontext.dumps(raw)
    except (TypeError, ValueError):
        return repr(raw)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _safe_text(error: sa.exc.DBAPIError) -> str:
    """The driver's message without the SQL text and parameters (they may carry data)."""
    return f"{type(error.orig).__name__}: {error.orig}"
