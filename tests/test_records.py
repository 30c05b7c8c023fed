import datetime

from ddbproj.core.events import StreamEventBuilder
from ddbproj.core.records import EventKind, parse_event, parse_record


def test_batch_parse_equals_record_by_record_parse():
    events = StreamEventBuilder()
    raw = [
        events.insert({"PK": "U#1", "SK": "P", "entity_type": "User", "Id": 1}),
        events.modify({"PK": "U#1", "SK": "P", "Id": 1}, {"PK": "U#1", "SK": "P", "Id": 2}),
        events.remove({"PK": "U#1", "SK": "P"}, ttl=True),
        events.insert({"PK": 7, "SK": b"\x00", "entity_type": "User"}),
    ]
    raw[1]["dynamodb"]["ApproximateCreationDateTime"] = 1.5
    parsed = parse_event({"Records": raw})
    assert parsed.malformed == []
    assert parsed.records == [parse_record(r) for r in raw]
    assert [r.kind for r in parsed.records] == [
        EventKind.INSERT, EventKind.MODIFY, EventKind.REMOVE, EventKind.INSERT]
    assert parsed.records[1].created_at == datetime.datetime(
        1970, 1, 1, 0, 0, 1, 500000, tzinfo=datetime.UTC)
    assert parsed.records[3].keys == {"PK": 7, "SK": b"\x00"}
    assert parsed.records[2].is_ttl_delete


def test_malformed_records_keep_their_reason_in_a_batch():
    good = StreamEventBuilder().insert({"PK": "a", "SK": "b"})
    parsed = parse_event({"Records": [
        1,
        {"eventName": ["INSERT"], "dynamodb": {}},
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "12", "Keys": {"PK": {"S": 1}}}},
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "x1", "Keys": {"PK": {"S": "a"}}}},
        good,
    ]})
    assert [(m.index, m.reason) for m in parsed.malformed] == [
        (0, "record is not a JSON object but int"),
        (1, "unknown eventName ['INSERT']"),
        (2, "Keys.PK: S: invalid value 1"),
        (3, "dynamodb.SequenceNumber is not a decimal string: 'x1'"),
    ]
    assert parsed.malformed[2].sequence_id == "12"
    assert [r.raw for r in parsed.records] == [good]
