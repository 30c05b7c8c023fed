"""The SQL sink: commits a batch plan in one transaction, or nothing at all.

``commit`` is the unit of work every entry point uses (the Lambda handler, ``replay``,
``run``, backfill, dead-letter replay): the plan's chunks are written by a
``Transaction`` (adapters.transaction) with its writer thread, the bookkeeping goes into
the same transaction, and transient failures (deadlock, lost connection, failover) are
retried on a fresh connection. When the server refuses a record's values (too long, out
of range, invalid), the batch is written again record by record, each under a savepoint,
and the refused records become dead letters carrying the server's message: one bad
record never stops a shard.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import random
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from ddbproj.adapters.checkpoints import Checkpoint, CheckpointStore
from ddbproj.adapters.engine import is_mysql
from ddbproj.adapters.errors import (
    DatabaseUnavailable,
    StatementFailed,
    is_refused_value,
    is_transient,
    safe_text,
)
from ddbproj.adapters.schema import build_metadata, key_collation
from ddbproj.adapters.statements import TableStatements
from ddbproj.adapters.transaction import Transaction, quick_thread_switches
from ddbproj.core.plan import BatchPlan, TableChanges, Tally, dead_letter
from ddbproj.core.registry import ProjectorRegistry

__all__ = ["Checkpoint", "SqlSink"]

#: Bookkeeping of the caller's that commits with the batch (backfill progress, the
#: removal of replayed dead letters); it sees what the batch came to.
Also = Callable[[sa.Connection, Tally], None]


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
        self._statements: dict[str, TableStatements] = {}
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

    def row_counts(self) -> dict[str, int | None]:
        """Projected table -> rows (None: the table was never created)."""
        counts: dict[str, int | None] = {}
        with self.engine.connect() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            for name in sorted(self.registry.tables()):
                counts[name] = (conn.execute(sa.select(sa.func.count()).select_from(
                    sa.table(name))).scalar_one() if name in existing else None)
        return counts

    def checkpoints(self, stream_arn: str) -> dict[str, Checkpoint]:
        """Shard id -> checkpoint, as committed."""
        return CheckpointStore(self.engine).of_stream(stream_arn)

    # -- the unit of work -----------------------------------------------------------

    def commit(
        self,
        plan: BatchPlan,
        *,
        checkpoint: Checkpoint | None = None,
        also: Also | None = None,
    ) -> Tally:
        """Write ``plan``, its dead letters, ``checkpoint`` and ``also`` in one transaction;
        returns what was committed. Raises ``DatabaseUnavailable`` or ``StatementFailed``
        with nothing committed."""
        try:
            return self._retrying(lambda: self._commit_chunks(plan, checkpoint, also))
        except StatementFailed as failure:
            if not failure.refused_value:
                raise
        return self._retrying(lambda: self._commit_records(plan, checkpoint, also))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One attempt: a transaction with the writer thread, committed when the block
        ends without an error (``Transaction.finish`` must have run)."""
        with self.engine.begin() as conn, quick_thread_switches():
            tx = Transaction(conn, self._statements_for, self._pipeline())
            try:
                yield tx
            finally:
                with contextlib.suppress(Exception):
                    tx.settle()  # the connection must be idle before it rolls back

    def _commit_chunks(
        self, plan: BatchPlan, checkpoint: Checkpoint | None, also: Also | None
    ) -> Tally:
        tally = Tally()
        with self.transaction() as tx:
            for chunk in plan.chunks():
                tx.write(chunk.tables)
                tally.add(chunk)
            tx.settle()
            if also is not None:
                also(tx.conn, tally)
            tx.finish(tally.dead_letters, checkpoint)
        return tally

    def _commit_records(
        self, plan: BatchPlan, checkpoint: Checkpoint | None, also: Also | None
    ) -> Tally:
        """The batch again, one record per savepoint: a record whose values the server
        refuses is rolled back to its savepoint and becomes a dead letter."""
        tally = Tally()
        with self.engine.begin() as conn:
            tx = Transaction(conn, self._statements_for, None)
            for chunk in plan.chunks(1):
                if chunk.tables:
                    try:
                        with conn.begin_nested():
                            tx.write(chunk.tables)
                            tx.finish()
                    except sa.exc.DBAPIError as error:
                        if not is_refused_value(error):
                            raise
                        (record,) = chunk.records
                        chunk.applied = 0
                        chunk.dead_letters.append(dead_letter(
                            record, self.registry,
                            f"the database refused the values: {safe_text(error)}"))
                tally.add(chunk)
            if also is not None:
                also(conn, tally)
            tx.finish(tally.dead_letters, checkpoint)
        return tally

    def _retrying(self, attempt: Callable[[], Tally]) -> Tally:
        """``attempt`` again on a fresh connection after a transient failure, at most
        ``attempts`` times; other database errors become ``StatementFailed``."""
        for number in range(1, self.attempts + 1):
            try:
                return attempt()
            except sa.exc.DBAPIError as error:
                if not is_transient(error):
                    raise StatementFailed(safe_text(error),
                                          refused_value=is_refused_value(error)) from error
                if number == self.attempts:
                    raise DatabaseUnavailable(safe_text(error)) from error
                time.sleep(self.backoff_seconds * 2 ** (number - 1) * (1 + random.random()))
        raise AssertionError("unreachable: attempts must be at least 1")

    def _pipeline(self) -> concurrent.futures.Executor | None:
        """The writer thread, started on first use; none for SQLite, whose connections
        belong to the thread that opened them."""
        if not self.pipelined or self.engine.dialect.name == "sqlite":
            return None
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ddbproj-sql-writer")
        return self._executor

    def _statements_for(self, changes: TableChanges) -> TableStatements:
        projector = changes.projector
        stmts = self._statements.get(projector.table)
        if stmts is None:
            stmts = TableStatements(projector, self.engine.dialect)
            self._statements[projector.table] = stmts
        return stmts

