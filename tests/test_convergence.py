"""Convergence, as a property: whatever the deliveries, MySQL ends equal to DynamoDB.

Hypothesis writes random histories of puts and deletes over a handful of items (each item
a Widget, a Gadget, a metadata item or a type nobody claims, and changing between them),
turns them into the stream records DynamoDB would write, cuts them into batches, and
delivers them as Lambda does at its worst: duplicates, retried batches, resumes from a
reported record, older batches after newer ones, and a backfill scan (sequence 0) taken at
any moment and applied at any moment. The SQL tables must then hold exactly the projection
of DynamoDB's final state.
"""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddbproj.adapters.sink import SqlSink
from ddbproj.core import Projector, ProjectorRegistry, column, jsontext, plan_batch
from ddbproj.core.dynamodb_json import encode_image
from ddbproj.core.events import StreamEventBuilder
from ddbproj.core.records import ParsedBatch, scanned_item
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql

KEY_NAMES = ("PK", "SK")
ITEM_KEYS = [("K#0", "A"), ("K#0", "B"), ("K#1", "A")]


@attrs.frozen
class Widget:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    name: str
    size: int
    price: Decimal | None = attrs.field(default=None, metadata=column(precision=38, scale=2))


class WidgetProjector(Projector[Widget]):
    entity_type = "Widget"
    model = Widget
    table = "conv_widgets"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "name": "Name", "size": "Size", "price": "Price"}


@attrs.frozen
class Gadget:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    label: str
    tags: frozenset[str] = frozenset()


class GadgetProjector(Projector[Gadget]):
    entity_type = "Gadget"
    model = Gadget
    table = "conv_gadgets"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "label": "Label", "tags": "Tags"}


@pytest.fixture
def projection_registry() -> ProjectorRegistry:
    registry = ProjectorRegistry()
    registry.register(WidgetProjector)
    registry.register(GadgetProjector)
    return registry


# -- what items look like ------------------------------------------------------------

texts = st.text(alphabet=st.sampled_from("aé東🎉 "), max_size=6)
widget_bodies = st.fixed_dictionaries(
    {"entity_type": st.just("Widget"), "Name": texts,
     "Size": st.integers(min_value=-(2**63), max_value=2**63 - 1)},
    optional={"Price": st.decimals(min_value=-(10**35), max_value=10**35, places=2)},
)
gadget_bodies = st.fixed_dictionaries(
    {"entity_type": st.just("Gadget"), "Label": texts},
    optional={"Tags": st.frozensets(texts, min_size=1, max_size=3)},
)
other_bodies = st.one_of(
    st.fixed_dictionaries({"Note": texts}),  # metadata: no entity type
    st.fixed_dictionaries({"entity_type": st.just("Sprocket"), "Note": texts}),  # unclaimed
)
#: Mostly the same entity again (updates of a row), sometimes another type or none.
bodies = st.one_of(widget_bodies, widget_bodies, widget_bodies, gadget_bodies, other_bodies)

#: One step of a history: put a new version of an item, delete it, or let TTL expire it.
steps = st.tuples(
    st.integers(min_value=0, max_value=len(ITEM_KEYS) - 1),
    st.sampled_from(["put", "put", "put", "delete", "expire"]),
    bodies,
)


def item_of(key: tuple[str, str], body: dict[str, Any]) -> dict[str, Any]:
    return {"PK": key[0], "SK": key[1], **body}


def expected_tables(state: dict[tuple[str, str], dict[str, Any]]) -> dict[str, set[tuple]]:
    """The projection of DynamoDB's final state: what the SQL tables must hold."""
    widgets = set()
    gadgets = set()
    for (pk, sk), item in state.items():
        if item.get("entity_type") == "Widget":
            widgets.add((pk, sk, item["Name"], item["Size"], item.get("Price")))
        elif item.get("entity_type") == "Gadget":
            gadgets.add((pk, sk, item["Label"], item.get("Tags", frozenset())))
    return {"conv_widgets": widgets, "conv_gadgets": gadgets}


def sql_tables(sink: SqlSink) -> dict[str, set[tuple]]:
    with sink.engine.connect() as conn:
        widgets = conn.exec_driver_sql("SELECT pk, sk, name, size, price FROM conv_widgets").all()
        gadgets = conn.exec_driver_sql("SELECT pk, sk, label, tags FROM conv_gadgets").all()

    return {
        "conv_widgets": {tuple(row) for row in widgets},
        "conv_gadgets": {(pk, sk, label, frozenset(jsontext.loads(tags)))
                         for pk, sk, label, tags in gadgets},
    }


def empty(sink: SqlSink) -> None:
    with sink.engine.begin() as conn:
        for table in reversed(sink.metadata.sorted_tables):
            conn.execute(table.delete())


def backfill(sink: SqlSink, snapshot: dict[tuple[str, str], dict[str, Any]],
             chunk: int) -> None:
    """Apply a table scan as the backfill does: scanned images at sequence 0."""
    items = [encode_image(item) for item in snapshot.values()]
    for start in range(0, len(items), chunk):
        records = [scanned_item(raw, KEY_NAMES) for raw in items[start:start + chunk]]
        tally = sink.commit(plan_batch(ParsedBatch(records, []), sink.registry))
        assert not tally.dead_letters


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_delivery_of_any_history_converges_to_dynamodb(projection_db, data):
    sink = projection_db
    empty(sink)
    # batches planned and written in chunks of this many records (pipelined on MySQL)
    chunk_records = data.draw(st.sampled_from([1, 2, 3, 1000]), label="chunk records")
    processor = BatchProcessor(sink.registry, sink, chunk_records=chunk_records)
    events = StreamEventBuilder(key_names=KEY_NAMES)

    # items that existed before the stream was enabled: only a backfill scan sees them
    initial = data.draw(st.dictionaries(st.sampled_from(ITEM_KEYS), bodies, max_size=3),
                        label="initial")
    state = {key: item_of(key, body) for key, body in initial.items()}
    snapshots = [dict(state)]  # the table as a scan would read it after each record
    records: list[dict[str, Any]] = []
    for index, action, body in data.draw(st.lists(steps, min_size=6, max_size=20), label="history"):
        key = ITEM_KEYS[index]
        old = state.get(key)
        if action == "put":
            new = item_of(key, body)
            records.append(events.insert(new) if old is None else events.modify(old, new))
            state[key] = new
        elif old is not None:
            records.append(events.remove(old, ttl=action == "expire"))
            del state[key]
        else:
            continue  # deleting an absent item writes no stream record
        snapshots.append(dict(state))

    # the shard's records cut into batches, delivered at least once: in order, as Lambda
    # does, or (a replay from an archive, a stream read twice) in any order at all ...
    if data.draw(st.booleans(), label="in any order"):
        records = data.draw(st.permutations(records), label="delivery order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(records) - 1)), max_size=6),
                            label="cuts"))
    bounds = [0, *[c for c in cuts if c < len(records)], len(records)]
    batches = [(a, b) for a, b in itertools.pairwise(bounds) if a < b]
    deliveries: list[tuple[str, Any]] = []
    for number, (start, end) in enumerate(batches):
        deliveries.append(("stream", (start, end)))
        extra = data.draw(st.sampled_from(["none", "duplicate", "resume", "older"]),
                          label=f"after batch {number}")
        if extra == "duplicate":  # the same batch again (a retry after a timeout)
            deliveries.append(("stream", (start, end)))
        elif extra == "resume":  # Lambda resumes from a reported record, with later ones
            first = data.draw(st.integers(start, end - 1), label="resume from")
            last = data.draw(st.integers(end, len(records)), label="resume to")
            deliveries.append(("stream", (first, last)))
        elif extra == "older" and number > 0:  # an older batch after newer ones
            deliveries.append(("stream", batches[data.draw(st.integers(0, number - 1))]))
    # ... records replayed out of order (a manual replay), even before the stream has them
    if records and data.draw(st.booleans(), label="replay"):
        start = data.draw(st.integers(0, len(records) - 1), label="replay from")
        end = data.draw(st.integers(start + 1, len(records)), label="replay to")
        order = data.draw(st.permutations(range(start, end)), label="replay order")
        deliveries.insert(data.draw(st.integers(0, len(deliveries)), label="replayed at"),
                          ("records", order))
    # ... and a backfill scan, read at any moment and applied at any moment
    if data.draw(st.booleans(), label="backfill"):
        moment = data.draw(st.integers(0, len(snapshots) - 1), label="scan reads at")
        position = data.draw(st.integers(0, len(deliveries)), label="scan applied at")
        chunk = data.draw(st.integers(1, 3), label="scan page size")
        deliveries.insert(position, ("scan", (snapshots[moment], chunk)))

    for kind, what in deliveries:
        if kind == "scan":
            backfill(sink, *what)
            continue
        chosen = records[what[0]:what[1]] if kind == "stream" else [records[i] for i in what]
        result = processor.process_event(events.event(chosen))
        assert result.response == {"batchItemFailures": []}
        assert result.dead_lettered == 0
        assert result.applied + sum(result.skipped.values()) == len(chosen)

    # a scan taken before the stream began is what makes pre-existing items appear
    if not any(kind == "scan" for kind, _ in deliveries):
        backfill(sink, snapshots[0], 2)
    assert sql_tables(sink) == expected_tables(state)


# -- projector options: soft delete and a version attribute ----------------------------


@attrs.frozen
class Note:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    text: str


class SoftNoteProjector(Projector[Note]):
    entity_type = "Note"
    model = Note
    table = "conv_soft_notes"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "text": "Text"}
    key_prefixes = {"PK": "N#"}
    soft_delete = True


@attrs.frozen
class Doc:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    body: str
    version: int


class VersionedDocProjector(Projector[Doc]):
    entity_type = "Doc"
    model = Doc
    table = "conv_versioned_docs"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "body": "Body", "version": "Version"}
    key_prefixes = {"PK": "D#"}
    version = "version"


@attrs.frozen
class Page:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    body: str
    updated_at: datetime.datetime


class TimestampedPageProjector(Projector[Page]):
    entity_type = "Page"
    model = Page
    table = "conv_pages"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "body": "Body", "updated_at": "UpdatedAt"}
    version = "updated_at"


@pytest.fixture
def options_sink(projection_db: SqlSink) -> SqlSink:
    registry = ProjectorRegistry()
    for projector in (SoftNoteProjector, VersionedDocProjector, TimestampedPageProjector):
        registry.register(projector)
    sink = SqlSink(projection_db.engine, registry)
    sink.create_schema()
    empty(sink)
    return sink


@pytest.fixture(params=[None, 1], ids=["default chunks", "a chunk per record"])
def chunk_records(request: pytest.FixtureRequest) -> int | None:
    """Batches written whole, or a record at a time through the writer thread."""
    return request.param


def select(sink: SqlSink, sql: str) -> list[tuple]:
    with sink.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]


def note(text: str) -> dict[str, Any]:
    return {"PK": "N#1", "SK": "A", "entity_type": "Note", "Text": text}


def test_soft_delete_marks_the_row_and_a_newer_insert_clears_the_mark(options_sink, chunk_records):
    removed_at = datetime.datetime(2024, 7, 20, 12, 30, 23, tzinfo=datetime.UTC)
    events = StreamEventBuilder(created_at=removed_at)
    processor = BatchProcessor(options_sink.registry, options_sink, chunk_records=chunk_records)
    first, second = events.insert(note("one")), events.modify(note("one"), note("two"))
    remove = events.remove(note("two"))
    rows = "SELECT pk, text, deleted_at, ddbproj_seq FROM conv_soft_notes"

    processor.process_event(events.event([first]))
    processor.process_event(events.event([remove]))  # before the MODIFY it follows
    mark = removed_at.replace(tzinfo=None)
    # the last image, kept, ranked just below the delete that removed it
    seq = int(remove["dynamodb"]["SequenceNumber"]) - 1
    assert select(options_sink, rows) == [("N#1", "two", mark, seq)]
    processor.process_event(events.event([second, first]))  # late older changes: ignored
    assert select(options_sink, rows) == [("N#1", "two", mark, seq)]

    again = events.insert(note("three"))
    processor.process_event(events.event([again, remove]))
    assert select(options_sink, rows) == [
        ("N#1", "three", None, int(again["dynamodb"]["SequenceNumber"]))]
    assert select(options_sink, "SELECT COUNT(*) FROM ddbproj_tomb_conv_soft_notes") == [(0,)]


def test_soft_delete_of_keys_only_remove_waits_for_the_row(options_sink, chunk_records):
    """A REMOVE without OldImage, delivered before the INSERT it follows, leaves a
    tombstone with its mark; the INSERT then arrives as a row already deleted."""
    removed_at = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    events = StreamEventBuilder(created_at=removed_at)
    processor = BatchProcessor(options_sink.registry, options_sink, chunk_records=chunk_records)
    first = events.insert(note("one"))
    remove = events.remove({"PK": "N#1", "SK": "A"})
    assert "OldImage" not in remove["dynamodb"]
    processor.process_event(events.event([remove]))
    assert select(options_sink, "SELECT pk FROM ddbproj_tomb_conv_soft_notes") == [("N#1",)]
    processor.process_event(events.event([first]))
    assert select(options_sink, "SELECT text, deleted_at FROM conv_soft_notes") == [
        ("one", removed_at.replace(tzinfo=None))]
    # the tombstone stays: a later-delivered MODIFY older than the delete updates the
    # kept image and the row stays marked
    assert select(options_sink, "SELECT COUNT(*) FROM ddbproj_tomb_conv_soft_notes") == [(1,)]


def doc(version: int, body: str) -> dict[str, Any]:
    return {"PK": "D#1", "SK": "A", "entity_type": "Doc", "Body": body, "Version": version}


def test_a_version_attribute_orders_changes_whatever_their_sequence_numbers(
        options_sink, chunk_records):
    """Across a shard split the stream order of two shards is not comparable: here the
    newer version comes with the lower sequence number, and still wins."""
    newer_shard = StreamEventBuilder(start_sequence=100)
    older_shard = StreamEventBuilder(start_sequence=900)
    processor = BatchProcessor(options_sink.registry, options_sink, chunk_records=chunk_records)
    v2 = newer_shard.modify(doc(1, "one"), doc(2, "two"))
    v1 = older_shard.insert(doc(1, "one"))
    rows = "SELECT body, version, ddbproj_seq FROM conv_versioned_docs"

    processor.process_event(newer_shard.event([v2]))
    processor.process_event(older_shard.event([v1]))
    assert select(options_sink, rows) == [("two", 2, 4)]  # rank 2 x version

    # a delete ranks just above the version it removed: later stale images stay out ...
    gone = newer_shard.remove(doc(2, "two"))
    processor.process_event(newer_shard.event([gone, v1, v2]))
    assert select(options_sink, rows) == []
    assert select(options_sink, "SELECT ddbproj_seq FROM ddbproj_tomb_conv_versioned_docs") == [
        (5,)]
    # ... and the item created again with a higher version comes back
    processor.process_event(older_shard.event([older_shard.insert(doc(3, "three")), gone]))
    assert select(options_sink, rows) == [("three", 3, 6)]


def test_a_versioned_remove_needs_its_old_image(options_sink, chunk_records):
    events = StreamEventBuilder(start_sequence=100)
    processor = BatchProcessor(options_sink.registry, options_sink, chunk_records=chunk_records)
    result = processor.process_event(events.event([events.remove({"PK": "D#1", "SK": "A"})]))
    assert result.dead_lettered == 1
    assert select(options_sink, "SELECT error FROM ddbproj_dead_letters") == [(
        "Doc (PK=D#1, SK=A, seq 100): the REMOVE has no OldImage with the version attribute "
        "'Version': a projector with a version needs the NEW_AND_OLD_IMAGES stream view",)]


def test_a_timestamp_version_orders_by_time_not_by_text(options_sink, chunk_records):
    events = StreamEventBuilder()
    processor = BatchProcessor(options_sink.registry, options_sink, chunk_records=chunk_records)

    def page(body: str, when: str) -> dict[str, Any]:
        return {"PK": "P#1", "SK": "A", "entity_type": "Page", "Body": body, "UpdatedAt": when}

    # 10:00+09:00 is 01:00 UTC: later than 00:30Z although its text sorts first
    later = events.insert(page("later", "2024-05-01T10:00:00+09:00"))
    earlier = events.insert(page("earlier", "2024-05-01T00:30:00.000001Z"))
    processor.process_event(events.event([later]))
    processor.process_event(events.event([earlier]))
    assert select(options_sink, "SELECT body, updated_at FROM conv_pages") == [
        ("later", datetime.datetime(2024, 5, 1, 1, 0))]
