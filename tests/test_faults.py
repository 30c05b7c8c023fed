"""Database faults against the real server: a connection killed in the middle of a batch,
and a real deadlock. Nothing is half-applied, a failed batch is reported whole, transient
failures are retried a bounded number of times inside the invocation, and the retry
converges."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.sink import SqlSink
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql


def user(i: int, **changes: Any) -> dict[str, Any]:
    item = {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"name {i}", "Age": 30, "Height": 170, "Weight": 60}
    item.update(changes)
    return item


class ConnectionKiller:
    """Before the ``at``-th statement of a transaction, kills that transaction's connection
    with ``KILL`` from a second connection, for the first ``times`` transactions."""

    def __init__(self, engine: sa.Engine, admin: sa.Engine, *, at: int, times: int) -> None:
        self.admin = admin
        self.at = at
        self.times = times
        self.transactions = 0
        self.kills = 0
        self.statement = 0
        sa.event.listen(engine, "begin", self._begin)
        sa.event.listen(engine, "before_cursor_execute", self._before)

    def _begin(self, conn: sa.Connection) -> None:
        self.transactions += 1
        self.statement = 0

    def _before(self, conn: sa.Connection, *_: Any) -> None:
        self.statement += 1
        if self.statement == self.at and self.kills < self.times:
            thread_id = conn.connection.dbapi_connection.thread_id()  # type: ignore[union-attr]
            with self.admin.connect() as other:
                other.exec_driver_sql(f"KILL {int(thread_id)}")
            self.kills += 1


@pytest.fixture
def admin(mysql_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def own_sink(projection_db: SqlSink, mysql_url: str) -> Iterator[SqlSink]:
    """A sink with its own engine, so the fault hooks touch no other test's connections."""
    engine = make_engine(mysql_url)
    sink = SqlSink(engine, projection_db.registry, attempts=3, backoff_seconds=0.01)
    sink.create_schema()
    yield sink
    engine.dispose()


def snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Everything the sink writes, to compare before and after a failed batch."""
    with engine.connect() as conn:
        return {
            table: [tuple(r) for r in conn.exec_driver_sql(
                f"SELECT * FROM {table} ORDER BY 1").all()]
            for table in ("users", "ddbproj_tomb_users", "ddbproj_checkpoints")
        } | {"ddbproj_dead_letters": [tuple(r) for r in conn.exec_driver_sql(
            "SELECT record_id, error, attempts FROM ddbproj_dead_letters ORDER BY 1").all()]}


def seeded(sink: SqlSink, events: StreamEventBuilder) -> None:
    result = BatchProcessor(sink.registry, sink).process_event(events.event(
        [events.insert(user(1)), events.insert(user(3))]))
    assert result.ok


def a_batch(events: StreamEventBuilder) -> list[dict[str, Any]]:
    """Touches every statement the sink runs: tombstones, upserts, purge, dead letters."""
    return [
        events.modify(user(1), user(1, Age=31)),
        events.insert(user(2)),
        events.remove(user(3)),
        events.insert(user(4, Age="forty")),  # poison: a dead letter
    ]


@pytest.mark.parametrize("chunk_records", [1000, 1], ids=["one chunk", "a chunk per record"])
def test_connection_killed_mid_batch_commits_nothing_and_reports_every_record(
        own_sink, admin, chunk_records):
    events = StreamEventBuilder()
    seeded(own_sink, events)
    before = snapshot(admin)
    records = a_batch(events)
    # the third statement: after the tombstone and row upserts have run (with a chunk per
    # record: while the writer thread still has statements of later chunks to run)
    killer = ConnectionKiller(own_sink.engine, admin, at=3, times=10)

    result = BatchProcessor(own_sink.registry, own_sink, chunk_records=chunk_records
                            ).process_event(events.event(records))

    assert killer.kills == 3
    assert killer.transactions == 3  # bounded: the sink's attempts, then it gives up
    assert result.error is not None
    assert result.error == ("DatabaseUnavailable: OperationalError: "
                            "(2013, 'Lost connection to MySQL server during query')")
    assert result.response == {"batchItemFailures": [
        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]}
    assert (result.applied, result.dead_lettered) == (0, 0)
    assert snapshot(admin) == before  # nothing half-applied

    killer.times = 0  # the database is back: Lambda retries the same batch
    retry = BatchProcessor(own_sink.registry, own_sink).process_event(events.event(records))

    assert retry.response == {"batchItemFailures": []}
    assert (retry.applied, retry.dead_lettered) == (3, 1)
    with admin.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, age FROM users ORDER BY id").all()
        letters = conn.exec_driver_sql("SELECT error FROM ddbproj_dead_letters").scalars().all()
    assert [tuple(r) for r in rows] == [(1, 31), (2, 30)]
    poison_seq = records[3]["dynamodb"]["SequenceNumber"]
    assert letters == [f"User (PK=USER#4, SK=PROFILE, seq {poison_seq}): "
                       "attribute 'Age': expected a number, got S \"forty\""]


def test_a_lost_connection_is_retried_inside_the_invocation(own_sink, admin):
    events = StreamEventBuilder()
    seeded(own_sink, events)
    records = a_batch(events)
    killer = ConnectionKiller(own_sink.engine, admin, at=2, times=1)

    result = BatchProcessor(own_sink.registry, own_sink).process_event(events.event(records))

    assert (killer.kills, killer.transactions) == (1, 2)
    assert result.response == {"batchItemFailures": []}
    assert (result.applied, result.dead_lettered) == (3, 1)
    with admin.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, age FROM users ORDER BY id").all()
        attempts = conn.exec_driver_sql("SELECT attempts FROM ddbproj_dead_letters").scalar_one()
    assert [tuple(r) for r in rows] == [(1, 31), (2, 30)]
    assert attempts == 1  # the killed attempt left no trace


def test_a_deadlock_is_retried_and_the_batch_commits(own_sink, admin):
    """A real InnoDB deadlock: another transaction holds user 2 and then asks for user 1,
    which the batch's upsert holds while it waits for user 2. InnoDB rolls back the
    lighter transaction (the batch: the other has inserted many rows); the sink retries."""
    events = StreamEventBuilder()
    seeded(own_sink, events)
    BatchProcessor(own_sink.registry, own_sink).process_event(
        events.event([events.insert(user(2))]))
    transactions = []
    sa.event.listen(own_sink.engine, "begin", lambda conn: transactions.append(1))
    records = [events.modify(user(1), user(1, Age=41)), events.modify(user(2), user(2, Age=42))]

    other = admin.connect()
    other.begin()
    other.exec_driver_sql(
        "INSERT INTO users (id, name, age, height, weight, ddbproj_seq) VALUES "
        + ", ".join(f"({1000 + i}, 'heavy', 1, 1, 1, 1)" for i in range(300)))
    other.exec_driver_sql("UPDATE users SET age = 99 WHERE id = 2")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        batch = pool.submit(BatchProcessor(own_sink.registry, own_sink).process_event,
                            events.event(records))
        wait_for_lock_wait(admin)
        other.exec_driver_sql("UPDATE users SET age = 98 WHERE id = 1")  # closes the cycle
        other.rollback()  # the other transaction goes away; the batch's retry proceeds
        result = batch.result()
    other.close()

    assert len(transactions) == 2
    assert result.response == {"batchItemFailures": []}
    with admin.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, age FROM users ORDER BY id").all()
    assert [tuple(r) for r in rows] == [(1, 41), (2, 42), (3, 30)]


def wait_for_lock_wait(admin: sa.Engine) -> None:
    """Until a transaction waits for a row lock (the batch, blocked on user 2)."""
    for _ in range(2000):
        with admin.connect() as conn:
            waiting = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.innodb_trx "
                "WHERE trx_state = 'LOCK WAIT'").scalar_one()
        if waiting:
            return
        time.sleep(0.005)
    raise AssertionError("the batch never waited for the other transaction's lock")
