"""The SQL sink contract, on MySQL and SQLite: exact values, guarded upserts, tombstones."""

import datetime
import gc
import sys
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ddbproj.core import jsontext
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql


def user(i, **changes):
    item = {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"name {i}", "Age": 30, "Height": 170, "Weight": 60}
    item.update(changes)
    return item


def rows(sink, table, order="id"):
    with sink.engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order}").mappings().all()
    return [dict(r) for r in result]


def seq(value):
    return int(value)


def test_insert_modify_remove_apply_with_exact_values(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    first = user(1, Name="山田 🎉 太郎", Age=17)
    result = processor.process_event(events.event([
        events.insert(first),
        events.insert(user(2)),
        events.insert(user(3)),
        events.modify(first, user(1, Name="山田 🎉 太郎", Age=18)),
        events.remove(user(3)),
        events.insert({"PK": "META", "SK": "counter", "value": 5}),
    ]))
    assert result.response == {"batchItemFailures": []}
    assert result.applied == 5
    assert result.skipped == {"no_entity_type": 1}
    got = rows(sink, "users")
    assert [(r["id"], r["name"], r["age"]) for r in got] == [
        (1, "山田 🎉 太郎", 18), (2, "name 2", 30)]
    assert seq(got[0]["ddbproj_seq"]) == 10_700_000_000_000_000_000_003


def test_older_image_never_overwrites_newer_row(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    old = events.insert(user(1, Age=20))
    new = events.modify(user(1, Age=20), user(1, Age=21))
    processor.process_event(events.event([new]))
    processor.process_event(events.event([old]))  # replayed out of order
    processor.process_event(events.event([new]))  # duplicate
    assert [r["age"] for r in rows(sink, "users")] == [21]


def test_tombstone_stops_a_late_insert_and_a_newer_insert_recreates(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    insert = events.insert(user(1))
    remove = events.remove(user(1))
    processor.process_event(events.event([remove]))
    processor.process_event(events.event([insert]))  # older than the delete
    assert rows(sink, "users") == []
    processor.process_event(events.event([events.insert(user(1, Age=40))]))
    assert [r["age"] for r in rows(sink, "users")] == [40]
    with sink.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT COUNT(*) FROM ddbproj_tomb_users").scalar_one()
    assert left == 0


def test_batch_coalesces_per_key_highest_sequence_wins(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    records = [events.insert(user(1, Age=a)) for a in range(10, 15)]
    processor.process_event(events.event(list(reversed(records))))
    assert [r["age"] for r in rows(sink, "users")] == [14]


def test_order_values_are_exact(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    order = {
        "PK": "ORDER#o-1", "SK": "ORDER", "entity_type": "Order", "OrderId": "o-1",
        "CustomerId": 9, "Total": Decimal("123456789012.34"), "Status": "PAID",
        "PlacedAt": "2024-05-01T10:00:00.123456+09:00",
        "ShippingAddress": {"street": "1-1 Chiyoda", "city": "東京", "zip": "100-0001"},
        "Lines": [{"sku": "A", "quantity": 2, "unit_price": Decimal("0.1")}],
        "Tags": {"gift", "rush"},
    }
    result = processor.process_event(events.event([events.insert(order)]))
    assert result.dead_lettered == 0
    (row,) = rows(sink, "orders", order="order_id")
    assert Decimal(str(row["total"])) == Decimal("123456789012.34")
    placed = row["placed_at"]
    if isinstance(placed, str):
        placed = datetime.datetime.fromisoformat(placed)
    assert placed == datetime.datetime(2024, 5, 1, 1, 0, 0, 123456)
    assert jsontext.loads(row["lines"]) == [{"quantity": 2, "sku": "A",
                                             "unit_price": Decimal("0.1")}]
    assert jsontext.loads(row["tags"]) == ["gift", "rush"]
    assert jsontext.loads(row["shipping_address"])["city"] == "東京"
    assert row["status"] == "PAID"


def test_poison_record_goes_to_dead_letters_and_the_rest_applies(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    bad = events.insert(user(2, Age="seventeen"))
    event = events.event([events.insert(user(1)), bad, events.insert(user(3))])
    first = processor.process_event(event)
    processor.process_event(event)  # the retried batch updates the dead letter in place
    assert first.response == {"batchItemFailures": []}
    assert first.dead_lettered == 1
    assert [r["id"] for r in rows(sink, "users")] == [1, 3]
    (letter,) = rows(sink, "ddbproj_dead_letters")
    assert letter["error"] == (
        f"User (PK=USER#2, SK=PROFILE, seq {bad['dynamodb']['SequenceNumber']}): "
        "attribute 'Age': expected a number, got S \"seventeen\""
    )
    assert letter["attempts"] == 2
    assert jsontext.loads(letter["raw_record"])["dynamodb"]["NewImage"]["Age"] == {"S": "seventeen"}


def test_value_too_large_for_its_column_is_a_dead_letter_not_a_failed_batch(sink):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    result = processor.process_event(events.event([
        events.insert(user(1, Age=10**37)), events.insert(user(2)),
    ]))
    assert result.response == {"batchItemFailures": []}
    assert [r["id"] for r in rows(sink, "users")] == [2]
    (letter,) = rows(sink, "ddbproj_dead_letters")
    assert "column 'age': 10000000000000000000000000000000000000 does not fit a 64-bit" in (
        letter["error"])


def test_unreachable_database_fails_the_whole_batch(sink):
    from ddbproj.adapters.engine import make_engine
    from ddbproj.adapters.sink import SqlSink

    broken = SqlSink(make_engine("mysql+pymysql://nobody@127.0.0.1:1/none"), sink.registry,
                     attempts=2, backoff_seconds=0)
    broken._metadata = sink.metadata
    events = StreamEventBuilder()
    records = [events.insert(user(1)), events.insert(user(2))]
    result = BatchProcessor(sink.registry, broken).process_event(events.event(records))
    assert result.error is not None
    assert result.error.startswith("DatabaseUnavailable")
    assert result.response == {"batchItemFailures": [
        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]}
    assert sa.inspect(sink.engine).has_table("users")


def test_dead_letter_errors_reach_the_log(sink, caplog):
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    bad = events.insert(user(5, Name=7))
    with caplog.at_level("WARNING", logger="ddbproj"):
        processor.process_event(events.event([bad]))
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"dead letter: User (PK=USER#5, SK=PROFILE, seq {bad['dynamodb']['SequenceNumber']}): "
        "attribute 'Name': expected a string, got N 7"
    ]


def test_chunks_are_written_by_the_writer_thread_while_planning_goes_on(sink):
    """On MySQL each chunk's upsert runs in the writer thread; SQLite stays in the caller's
    thread (its connections belong to it). Either way, every chunk lands."""
    events = StreamEventBuilder()
    seen = []

    def note(conn, cursor, statement, *_):
        seen.append((threading.current_thread().name, statement.split()[0:3]))

    sa.event.listen(sink.engine, "before_cursor_execute", note)
    try:
        result = BatchProcessor(sink.registry, sink, chunk_records=2).process_event(
            events.event([events.insert(user(i, Age=20 + i)) for i in range(1, 6)]))
    finally:
        sa.event.remove(sink.engine, "before_cursor_execute", note)
    assert result.applied == 5
    upserts = [thread for thread, words in seen if words == ["INSERT", "INTO", "users"]]
    writer = "ddbproj-sql-writer" if sink.engine.dialect.name != "sqlite" else "MainThread"
    assert len(upserts) == 3  # chunks of 2, 2 and 1 records
    assert all(thread.startswith(writer) for thread in upserts)
    assert [(r["id"], r["age"]) for r in rows(sink, "users")] == [(i, 20 + i) for i in range(1, 6)]


def test_a_batch_restores_the_collector_and_the_thread_switch_interval(sink):
    events = StreamEventBuilder()
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        result = BatchProcessor(sink.registry, sink).process_event(
            events.event([events.insert(user(1))]))
        assert result.applied == 1
        assert sys.getswitchinterval() == pytest.approx(0.004)
        assert gc.isenabled()
    finally:
        sys.setswitchinterval(before)
