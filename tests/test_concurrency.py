"""Interleaved transactions on the real server: a delete and an older image of the same
key, committed at the same moment by two processors (two Lambda invocations of two
shards, or a backfill racing the stream), must end as the delete says whatever order the
server runs their statements in: the row gone (or marked deleted) and the tombstone kept.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.sink import SqlSink
from ddbproj.core import Projector, ProjectorRegistry, column, plan_batch
from ddbproj.core.dynamodb_json import encode_image
from ddbproj.core.events import StreamEventBuilder
from ddbproj.core.records import ParsedBatch, scanned_item
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql

ROUNDS = 100
REMOVED_AT = datetime.datetime(2024, 6, 1, 8, 0, 0, tzinfo=datetime.UTC)


@attrs.frozen
class Ticket:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    text: str


class HardTicketProjector(Projector[Ticket]):
    entity_type = "Ticket"
    model = Ticket
    table = "race_tickets"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "text": "Text"}
    key_prefixes = {"PK": "T#"}


class SoftTicketProjector(Projector[Ticket]):
    entity_type = "SoftTicket"
    model = Ticket
    table = "race_soft_tickets"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "text": "Text"}
    key_prefixes = {"PK": "S#"}
    soft_delete = True


@pytest.fixture
def projection_registry() -> ProjectorRegistry:
    registry = ProjectorRegistry()
    registry.register(HardTicketProjector)
    registry.register(SoftTicketProjector)
    return registry


@pytest.fixture
def two_sinks(projection_db: SqlSink, mysql_url: str) -> Iterator[tuple[SqlSink, SqlSink]]:
    """Two sinks, each with its own engine (connections) and writer thread."""
    engines = [make_engine(mysql_url) for _ in range(2)]
    sinks = tuple(SqlSink(e, projection_db.registry, attempts=5, backoff_seconds=0.01)
                  for e in engines)
    yield sinks  # type: ignore[misc]
    for engine in engines:
        engine.dispose()


def race(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run both at the same moment in two threads; their results (or raise their error)."""
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    def run(slot: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[slot] = work()
        except BaseException as error:  # re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a transaction hung"
    if errors:
        raise errors[0]
    return results[0], results[1]


def rows(engine: sa.Engine, sql: str, *params: Any) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql, params).all()]


@pytest.mark.parametrize("older", ["stream insert", "scanned item"])
@pytest.mark.parametrize("remove_kind", ["old image", "keys only"])
@pytest.mark.parametrize("soft", [False, True], ids=["hard delete", "soft delete"])
def test_a_delete_racing_an_older_image_wins(two_sinks, soft, remove_kind, older):
    sink_a, sink_b = two_sinks
    projector = SoftTicketProjector if soft else HardTicketProjector
    table = projector.table
    prefix = projector.key_prefixes["PK"]
    processor_a = BatchProcessor(sink_a.registry, sink_a)
    processor_b = BatchProcessor(sink_b.registry, sink_b)

    for round_ in range(ROUNDS):
        key = {"PK": f"{prefix}{round_}", "SK": "A"}
        created = {**key, "entity_type": projector.entity_type, "Text": "created"}
        last = {**key, "entity_type": projector.entity_type, "Text": "last"}
        removes = StreamEventBuilder(start_sequence=10, created_at=REMOVED_AT)
        remove = removes.remove(key if remove_kind == "keys only" else last)
        assert ("OldImage" in remove["dynamodb"]) == (remove_kind == "old image")

        def delete(remove: dict[str, Any] = remove, events: StreamEventBuilder = removes
                   ) -> Any:
            return processor_a.process_event(events.event([remove]))

        if older == "stream insert":
            inserts = StreamEventBuilder(start_sequence=5)
            insert = inserts.insert(created)

            def write_older(insert: dict[str, Any] = insert,
                            events: StreamEventBuilder = inserts) -> Any:
                return processor_b.process_event(events.event([insert]))
        else:
            scanned = scanned_item(encode_image(created), ("PK", "SK"))

            def write_older(scanned: Any = scanned) -> Any:
                return sink_b.commit(plan_batch(ParsedBatch([scanned], []), sink_b.registry))

        removed, written = race(delete, write_older)

        assert removed.ok, removed.error
        assert removed.dead_lettered == 0
        if older == "stream insert":
            assert written.ok, written.error
            assert written.dead_lettered == 0
        else:
            assert written.dead_letters == []
        where = f"round {round_}"
        tombstones = rows(sink_a.engine,
                          f"SELECT ddbproj_seq FROM ddbproj_tomb_{table} WHERE pk = %s",
                          key["PK"])
        assert tombstones == [(10,)], where
        found = rows(sink_a.engine,
                     f"SELECT text{', deleted_at' if soft else ''} FROM {table} WHERE pk = %s",
                     key["PK"])
        if not soft:
            assert found == [], where
        elif remove_kind == "old image":
            # the delete's OldImage, kept at rank 9: newer than the racing image
            assert found == [("last", REMOVED_AT.replace(tzinfo=None))], where
        else:
            # only the older image was ever written: kept, and marked deleted
            assert found == [("created", REMOVED_AT.replace(tzinfo=None))], where
