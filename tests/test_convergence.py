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

import itertools
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sink import SqlSink
from core import Projector, ProjectorRegistry, column, jsontext, plan_batch
from core.dynamodb_json import encode_image
from core.events import StreamEventBuilder
from core.records import ParsedBatch, scanned_item
from handlers.processor import BatchProcessor

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
        plan = plan_batch(ParsedBatch(records, []), sink.registry)
        assert not plan.dead_letters
        sink.apply(plan)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_delivery_of_any_history_converges_to_dynamodb(projection_db, data):
    sink = projection_db
    empty(sink)
    processor = BatchProcessor(sink.registry, sink)
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
