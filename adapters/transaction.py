"""One transaction's writes: the chunks of a batch, then its bookkeeping, then commit.

``write`` sends each table's guarded upserts of tombstones and rows at once (to a writer
thread, when there is one, so the server works while the next chunk is planned);
``finish`` waits for them, then, for every key written that has a tombstone, removes (or
marks) rows no newer than it and clears tombstones older than their row, and stores dead
letters and the checkpoint.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ddbproj.adapters import literals
from ddbproj.adapters.checkpoints import Checkpoint, CheckpointStore
from ddbproj.adapters.dead_letters import DeadLetterStore
from ddbproj.adapters.engine import is_mysql
from ddbproj.adapters.statements import TableStatements
from ddbproj.core.plan import DeadLetter, TableChanges

__all__ = ["Transaction", "quick_thread_switches"]

#: Keys per IN (...) list: well under every server's placeholder limit.
KEY_CHUNK = 500
#: Keys per tombstone lookup: a read, so larger lists pay (fewer round trips).
PROBE_CHUNK = 2000
#: Statements whose text holds their values (rendered by ``adapters.literals``).
_NO_PARAMETERS = {"no_parameters": True}


_switches_lock = threading.Lock()
_switches_users = 0
_switches_previous = 0.005


@contextlib.contextmanager
def quick_thread_switches(interval: float = 0.0002) -> Iterator[None]:
    """The writer thread waits on the server while the caller's thread plans; when a
    statement is done it needs the interpreter lock back at once, not after the default
    5 ms switch interval, or the next chunk's statement waits behind planning. Counted,
    so that transactions of several threads (a backfill) restore the interval once."""
    global _switches_users, _switches_previous  # noqa: PLW0603 - one interpreter setting
    with _switches_lock:
        if _switches_users == 0:
            _switches_previous = sys.getswitchinterval()
            sys.setswitchinterval(interval)
        _switches_users += 1
    try:
        yield
    finally:
        with _switches_lock:
            _switches_users -= 1
            if _switches_users == 0:
                sys.setswitchinterval(_switches_previous)


class Transaction:
    """The writes of one open transaction on ``conn``; see the module docstring."""

    def __init__(
        self,
        conn: sa.Connection,
        statements: Callable[[TableChanges], TableStatements],
        executor: concurrent.futures.Executor | None,
    ) -> None:
        self.conn = conn
        self._statements = statements
        self._executor = executor
        driver = conn.connection.driver_connection if is_mysql(conn.dialect) else None
        # the VALUES text is rendered here (``adapters.literals``, the text PyMySQL would
        # build, faster) unless the session reads no backslash escapes
        self._driver = (driver if driver is not None and literals.backslash_escapes(driver)
                        else None)
        self._pending: list[concurrent.futures.Future[Any]] = []
        self._written: dict[str, list[TableChanges]] = {}
        self._deleted: set[str] = set()

    def write(self, tables: Mapping[str, TableChanges]) -> None:
        """Send one chunk's guarded upserts (they may still be running on return)."""
        for table, changes in tables.items():
            stmts = self._statements(changes)
            tombstones = stmts.tombstone_params(changes)
            if tombstones:
                self._upsert(stmts.tombstone_upsert.head, stmts.tombstone_upsert.sql,
                             stmts.tombstone_upsert.tail, tombstones)
                self._deleted.add(table)
            rows = stmts.upsert_params(changes)
            if rows:
                self._upsert(stmts.row_upsert.head, stmts.row_upsert.sql,
                             stmts.row_upsert.tail, rows)
            self._written.setdefault(table, []).append(changes)

    def _upsert(self, head: str, sql: str, tail: str, rows: list[tuple[Any, ...]]) -> None:
        if self._driver is None:
            self._run(functools.partial(self.conn.exec_driver_sql, sql, rows))
            return
        for statement in literals.statements(head, rows, tail, self._driver.escape):
            self._run(functools.partial(self.conn.exec_driver_sql, statement,
                                        execution_options=_NO_PARAMETERS))

    def _run(self, statement: Callable[[], Any]) -> None:
        if self._executor is None:
            statement()
        else:
            self._pending.append(self._executor.submit(statement))

    def settle(self) -> None:
        """Wait until every statement handed to the writer thread has run, and raise the
        first failure: after this, the connection is idle, whatever happened."""
        pending, self._pending = self._pending, []
        concurrent.futures.wait(pending)
        for done in pending:
            done.result()

    def finish(
        self,
        dead_letters: Sequence[DeadLetter] = (),
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """Settle the rows, reconcile rows and tombstones of every key written, store the
        dead letters and the checkpoint (the transaction commits after this)."""
        self.settle()
        run = self.conn.exec_driver_sql
        for table, written in self._written.items():
            stmts = self._statements(written[0])
            keys = self._tombstoned(stmts, written, table in self._deleted)
            for chunk in _chunks(keys, KEY_CHUNK):
                params = tuple(_flatten(chunk))
                if stmts.soft_delete:
                    run(stmts.lock_rows(len(chunk)), params).all()
                run(stmts.purge(len(chunk)), params)
                run(stmts.clear(len(chunk)), params)
        self._written = {}
        self._deleted = set()
        engine = self.conn.engine
        if dead_letters:
            DeadLetterStore(engine).store(self.conn, dead_letters)
        if checkpoint is not None:
            CheckpointStore(engine).store(self.conn, checkpoint)

    def _tombstoned(
        self, stmts: TableStatements, written: list[TableChanges], deleted: bool
    ) -> list[tuple[Any, ...]]:
        """The written keys that have a tombstone (as stored): usually none at all. The
        reads lock, so a delete of one of these keys committing meanwhile is waited for
        and seen."""
        run = self.conn.exec_driver_sql
        if not deleted and run(stmts.any_tombstone).first() is None:
            return []
        written_keys = (key for changes in written for key in changes.written_keys())
        keys = [stmts.key_params(key) for key in dict.fromkeys(written_keys)]
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(keys, PROBE_CHUNK):
            found.extend(tuple(row) for row in run(stmts.probe(len(chunk)),
                                                   tuple(_flatten(chunk))))
        return found


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _flatten(keys: list[tuple[Any, ...]]) -> list[Any]:
    return [value for key in keys for value in key]
