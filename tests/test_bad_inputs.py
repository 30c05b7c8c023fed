"""The catalogue of bad inputs, each with its exact outcome: applied, skipped with a
reason, or a dead letter with the exact error text and the raw record. Each bad record
travels between two good ones, which always apply: no bad input stops a batch, and none
is lost (applied + skipped + dead-lettered = records, and nothing is reported failed)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from ddbproj.adapters.sink import SqlSink
from ddbproj.core import Projector, ProjectorRegistry, jsontext, pascal_case
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql

TAGS = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"]
GOOD = "PK=USER#2, SK=PROFILE, seq 101"  # how errors name the bad record of each batch


def user(i: int, **changes: Any) -> dict[str, Any]:
    item = {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"name {i}", "Age": 30, "Height": 170, "Weight": 60}
    item.update(changes)
    return {name: value for name, value in item.items() if value is not ...}


def order(**changes: Any) -> dict[str, Any]:
    item = {"PK": "ORDER#o-1", "SK": "ORDER", "entity_type": "Order", "OrderId": "o-1",
            "CustomerId": 2, "Total": Decimal("10.50"), "Status": "PAID",
            "PlacedAt": "2024-05-01T10:00:00.5+09:00",
            "ShippingAddress": {"street": "s", "city": "c", "zip": "z"}, "Lines": []}
    item.update(changes)
    return item


def edited(record: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    edit(record)
    return record


def sdk_style(image: dict[str, Any]) -> dict[str, Any]:
    """Every tag present, all but one null, as some SDKs serialise attribute values."""
    return {name: {tag: value.get(tag) for tag in TAGS} for name, value in image.items()}


# name -> (the bad record, made by a builder at sequence 101; the expected outcome)
# outcome: ("applied", {column: value}) | ("skipped", reason) | ("dead", error text)
CASES: dict[str, tuple[Callable[[StreamEventBuilder], Any], tuple[str, Any]]] = {
    "record without dynamodb": (
        lambda e: edited(e.insert(user(2)), lambda r: r.pop("dynamodb")),
        ("dead", "record #1: malformed record: record has no 'dynamodb' object")),
    "record that is not an object": (
        lambda e: (e.next_sequence(), ["not", "a", "record"])[1],
        ("dead", "record #1: malformed record: record is not a JSON object but list")),
    "unknown eventName": (
        lambda e: edited(e.insert(user(2)), lambda r: r.update(eventName="UPSERT")),
        ("dead", "record #1 (seq 101): malformed record: unknown eventName 'UPSERT'")),
    "sequence number that is not a number": (
        lambda e: edited(e.insert(user(2)), lambda r: r["dynamodb"].update(SequenceNumber="x")),
        ("dead", "record #1: malformed record: dynamodb.SequenceNumber is not a decimal "
                 "string: 'x'")),
    "bad type tag in the image": (
        lambda e: edited(e.insert(user(2)),
                         lambda r: r["dynamodb"]["NewImage"].update(Age={"X": "1"})),
        ("dead", f"User ({GOOD}): NewImage.Age: unknown type tag 'X'")),
    "bad type tag in the keys": (
        lambda e: edited(e.insert(user(2)),
                         lambda r: r["dynamodb"]["Keys"].update(PK={"X": "USER#2"})),
        ("dead", "record #1 (seq 101): malformed record: Keys.PK: unknown type tag 'X'")),
    "SDK-style image: every tag, one non-null": (
        lambda e: edited(e.insert(user(2, Age=17)), lambda r: r["dynamodb"].update(
            NewImage=sdk_style(r["dynamodb"]["NewImage"]))),
        ("applied", {"id": 2, "name": "name 2", "age": 17})),
    "SDK-style value with two non-null tags": (
        lambda e: edited(e.insert(user(2)), lambda r: r["dynamodb"]["NewImage"].update(
            Age={**dict.fromkeys(TAGS), "N": "17", "S": "17"})),
        ("dead", f"User ({GOOD}): NewImage.Age: expected exactly one type tag, got 'S', 'N'")),
    "wrong attribute type": (
        lambda e: e.insert(user(2, Age="seventeen")),
        ("dead", f"User ({GOOD}): attribute 'Age': expected a number, got S \"seventeen\"")),
    "bool for a number": (
        lambda e: e.insert(user(2, Age=True)),
        ("dead", f"User ({GOOD}): attribute 'Age': expected a number, got BOOL True")),
    "missing required attributes": (
        lambda e: e.insert(user(2, Name=..., Age=...)),
        ("dead", f"User ({GOOD}): attribute 'Name': required attribute is missing; "
                 "attribute 'Age': required attribute is missing")),
    "NULL for a required attribute": (
        lambda e: e.insert(user(2, Age=None)),
        ("dead", f"User ({GOOD}): attribute 'Age': expected a number, got NULL None")),
    "38-digit number into an int column": (
        lambda e: e.insert(user(2, Age=9 * 10**37)),
        ("dead", f"User ({GOOD}): column 'age': 90000000000000000000000000000000000000 does "
                 "not fit a 64-bit integer column; annotate the field as Decimal or give it "
                 "column(kind='decimal', precision=38, scale=0)")),
    "number too wide for its DECIMAL column": (
        lambda e: e.insert(order(Total=Decimal("123456789012345.5"))),
        ("dead", "Order (PK=ORDER#o-1, SK=ORDER, seq 101): column 'total': 123456789012345.5 "
                 "does not fit DECIMAL(14, 2) without rounding; widen it with "
                 "column(precision=..., scale=...)")),
    "4-byte UTF-8": (
        lambda e: e.insert(user(2, Name="🎉 🐍 ☃ 山田")),
        ("applied", {"id": 2, "name": "🎉 🐍 ☃ 山田"})),
    "empty string": (
        lambda e: e.insert(user(2, Name="")),
        ("applied", {"id": 2, "name": ""})),
    "empty set and NULL optional attribute": (
        lambda e: edited(e.insert(order(Note=None)),
                         lambda r: r["dynamodb"]["NewImage"].update(Tags={"SS": []})),
        ("applied", {"order_id": "o-1", "note": None, "tags": "[]"})),
    "38-digit number into a Decimal column": (
        lambda e: e.insert(order(Lines=[{"sku": "A", "quantity": 1,
                                         "unit_price": Decimal("1234567890123456789012345678."
                                                               "9012345678")}])),
        ("applied", {"order_id": "o-1", "lines": '[{"quantity":1,"sku":"A","unit_price":'
                                                 '1234567890123456789012345678.9012345678}]'})),
    "unknown entity type": (
        lambda e: e.insert(user(2, entity_type="Robot")),
        ("skipped", "unclaimed_type")),
    "metadata item (no entity type)": (
        lambda e: e.insert({"PK": "META", "SK": "import", "last_run": "2024-07-20"}),
        ("skipped", "no_entity_type")),
    "entity type that is not a string": (
        lambda e: e.insert(user(2, entity_type=5)),
        ("skipped", "no_entity_type")),
    "REMOVE with keys only that no projector claims": (
        lambda e: e.remove({"PK": "USER#2", "SK": "PROFILE"}),
        ("skipped", "unroutable_remove")),
    "INSERT without any image (KEYS_ONLY stream)": (
        lambda e: edited(e.insert(user(2)), lambda r: r["dynamodb"].pop("NewImage")),
        ("dead", "record (PK=USER#2, SK=PROFILE, seq 101): the record has no NewImage: the "
                 "stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES")),
}


def rows(sink: SqlSink, table: str) -> list[dict[str, Any]]:
    with sink.engine.connect() as conn:
        return [dict(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table}").mappings()]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_has_its_exact_outcome_and_the_batch_goes_on(projection_db, case):
    make_bad, (outcome, expected) = CASES[case]
    events = StreamEventBuilder(start_sequence=100)
    records = [events.insert(user(1)), make_bad(events), events.insert(user(3))]

    result = BatchProcessor(projection_db.registry, projection_db).process_event(
        {"Records": records})

    assert result.response == {"batchItemFailures": []}
    assert result.records == 3
    assert result.applied + sum(result.skipped.values()) + result.dead_lettered == 3
    users = {r["id"]: r for r in rows(projection_db, "users")}
    assert {1, 3} <= set(users)
    letters = rows(projection_db, "ddbproj_dead_letters")
    if outcome == "applied":
        assert (result.applied, result.dead_lettered) == (3, 0)
        table = "orders" if "order_id" in expected else "users"
        (row,) = [r for r in rows(projection_db, table) if r.get("id") not in (1, 3)]
        assert {name: row[name] for name in expected} == expected
    elif outcome == "skipped":
        assert (result.applied, result.skipped, result.dead_lettered) == (2, {expected: 1}, 0)
        assert set(users) == {1, 3}
        assert letters == []
    else:
        assert (result.applied, result.dead_lettered) == (2, 1)
        assert set(users) == {1, 3}
        (letter,) = letters
        assert letter["error"] == expected
        assert jsontext.loads(letter["raw_record"]) == jsontext.loads(jsontext.dumps(records[1]))
        assert letter["attempts"] == 1


@pytest.mark.parametrize(("event", "reason"), [
    ("not an event", "event is not a JSON object"),
    (["a", "list"], "event is not a JSON object"),
    ({"records": []}, "event has no 'Records' list"),
    ({"Records": {"0": {}}}, "event has no 'Records' list"),
])
def test_an_event_that_is_not_an_event_is_kept_whole(projection_db, event, reason):
    result = BatchProcessor(projection_db.registry, projection_db).process_event(event)

    assert result.response == {"batchItemFailures": []}
    assert (result.records, result.dead_lettered) == (1, 1)
    (letter,) = rows(projection_db, "ddbproj_dead_letters")
    assert letter["error"] == f"record #0: malformed record: {reason}"
    assert jsontext.loads(letter["raw_record"]) == event


@attrs.frozen
class ArchivedUser:
    id: int
    name: str


class ArchivedUserProjector(Projector[ArchivedUser]):
    entity_type = "User"
    model = ArchivedUser
    table = "archived_users"
    key = ("id",)
    attribute_names = pascal_case
    keep_expired = True


def test_ttl_deletes_remove_rows_unless_the_projector_keeps_expired(projection_db):
    """``keep_expired``: an archive table keeps rows whose items DynamoDB's TTL deleted,
    and still deletes rows whose items a writer deleted; by default TTL deletes delete."""
    archive = ProjectorRegistry()
    archive.register(ArchivedUserProjector)
    archive_sink = SqlSink(projection_db.engine, archive)
    archive_sink.create_schema()
    events = StreamEventBuilder()
    history = [events.insert(user(i)) for i in (1, 2, 3)]
    expired = events.remove(user(1), ttl=True)
    assert expired["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    removals = [expired, events.remove(user(2))]
    with projection_db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM archived_users")

    for sink in (projection_db, archive_sink):
        processor = BatchProcessor(sink.registry, sink)
        processor.process_event(events.event(history))
        result = processor.process_event(events.event(removals))
        if sink is archive_sink:
            assert (result.applied, result.skipped) == (1, {"expired_kept": 1})
            assert sorted(r["id"] for r in rows(sink, "archived_users")) == [1, 3]
        else:
            assert (result.applied, result.skipped) == (2, {})
            assert sorted(r["id"] for r in rows(sink, "users")) == [3]


def test_timestamps_keep_their_microseconds(projection_db):
    """Timestamps keep microseconds through the stream into DATETIME(6)."""
    events = StreamEventBuilder()
    BatchProcessor(projection_db.registry, projection_db).process_event(
        events.event([events.insert(order(PlacedAt="2024-12-31T23:59:59.999999-01:00"))]))
    with projection_db.engine.connect() as conn:
        placed = conn.execute(sa.text("SELECT placed_at FROM orders")).scalar_one()
    assert placed == datetime.datetime(2025, 1, 1, 0, 59, 59, 999999)
