"""Convergence, as a property, for the projector options: soft delete and a version.

Random histories of puts and deletes over a few items, turned into the stream records
DynamoDB writes (with both images, or with the NEW_IMAGE view whose REMOVEs carry only
``Keys``), delivered in random batches with duplicates, resumes and older batches after
newer ones, planned in random chunk sizes. The SQL table must end as the history says:

* soft delete: each item ever written has a row holding its last image, marked deleted
  (with the removal time of its last REMOVE) exactly when its last event is a REMOVE;
* a version attribute: each item whose last event is a put has the row of its highest
  version; a deleted item has no row — whatever the sequence numbers.
"""

from __future__ import annotations

import datetime
import itertools
import random
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddbproj.adapters.sink import SqlSink
from ddbproj.core import Projector, ProjectorRegistry, column
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql

KEYS = [("A", "1"), ("A", "2"), ("B", "1")]
BASE_TIME = datetime.datetime(2024, 3, 1, 0, 0, 0, tzinfo=datetime.UTC)


@attrs.frozen
class Memo:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    text: str
    size: int


class SoftMemoProjector(Projector[Memo]):
    entity_type = "Memo"
    model = Memo
    table = "opt_soft_memos"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "text": "Text", "size": "Size"}
    key_prefixes = {"PK": "M#"}
    soft_delete = True


@attrs.frozen
class Sheet:
    pk: str = attrs.field(metadata=column(length=32))
    sk: str = attrs.field(metadata=column(length=32))
    body: str
    version: int


class VersionedSheetProjector(Projector[Sheet]):
    entity_type = "Sheet"
    model = Sheet
    table = "opt_versioned_sheets"
    key = ("pk", "sk")
    renames = {"pk": "PK", "sk": "SK", "body": "Body", "version": "Version"}
    key_prefixes = {"PK": "S#"}
    version = "version"


@pytest.fixture
def projection_registry() -> ProjectorRegistry:
    registry = ProjectorRegistry()
    registry.register(SoftMemoProjector)
    registry.register(VersionedSheetProjector)
    return registry


def empty(sink: SqlSink) -> None:
    with sink.engine.begin() as conn:
        for table in reversed(sink.metadata.sorted_tables):
            conn.execute(table.delete())


def select(sink: SqlSink, sql: str) -> set[tuple]:
    with sink.engine.connect() as conn:
        return {tuple(r) for r in conn.exec_driver_sql(sql).all()}


texts = st.text(alphabet=st.sampled_from("ab é東🎉'\\"), max_size=8)
#: one step of a history: which item, put or delete, and the put's values
steps = st.tuples(st.integers(0, len(KEYS) - 1), st.sampled_from(["put", "put", "delete"]),
                  texts, st.integers(-(2**63), 2**63 - 1))


def draw_deliveries(data: st.DataObject, count: int) -> list[list[int]]:
    """Batches of record indexes, as Lambda (or a replay) might deliver them at its worst:
    in order or in any order, each batch possibly retried, resumed or followed by an
    older one; every record is delivered at least once."""
    order = list(range(count))
    if data.draw(st.booleans(), label="in any order"):
        order = data.draw(st.permutations(order), label="delivery order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, count - 1)), max_size=6),
                            label="cuts"))
    bounds = [0, *[c for c in cuts if c < count], count]
    batches = [(a, b) for a, b in itertools.pairwise(bounds) if a < b]
    deliveries: list[list[int]] = []
    for number, (start, end) in enumerate(batches):
        deliveries.append(order[start:end])
        extra = data.draw(st.sampled_from(["none", "duplicate", "resume", "older"]),
                          label=f"after batch {number}")
        if extra == "duplicate":
            deliveries.append(order[start:end])
        elif extra == "resume":
            first = data.draw(st.integers(start, end - 1), label="resume from")
            last = data.draw(st.integers(end, count), label="resume to")
            deliveries.append(order[first:last])
        elif extra == "older" and number > 0:
            older = batches[data.draw(st.integers(0, number - 1), label="older batch")]
            deliveries.append(order[older[0]:older[1]])
    return deliveries


def deliver(processor: BatchProcessor, events: StreamEventBuilder,
            records: list[dict[str, Any]], deliveries: list[list[int]]) -> None:
    for indexes in deliveries:
        chosen = [records[i] for i in indexes]
        result = processor.process_event(events.event(chosen))
        assert result.ok, result.error
        assert result.response == {"batchItemFailures": []}
        assert result.dead_lettered == 0
        assert result.applied + sum(result.skipped.values()) == len(chosen)


settings_ = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])


@settings_
@given(data=st.data())
def test_soft_delete_converges_on_both_stream_views(projection_db, data):
    sink = projection_db
    empty(sink)
    view = data.draw(st.sampled_from(["NEW_AND_OLD_IMAGES", "NEW_IMAGE"]), label="view")
    chunk_records = data.draw(st.sampled_from([1, 2, 3, None]), label="chunk records")
    processor = BatchProcessor(sink.registry, sink, chunk_records=chunk_records)
    events = StreamEventBuilder(view_type=view)

    state: dict[tuple[str, str], dict[str, Any]] = {}  # DynamoDB's items now
    last_image: dict[tuple[str, str], dict[str, Any]] = {}  # last image ever written
    removed_at: dict[tuple[str, str], datetime.datetime | None] = {}  # last event a REMOVE?
    records: list[dict[str, Any]] = []
    for index, action, text, size in data.draw(st.lists(steps, min_size=4, max_size=16),
                                               label="history"):
        pk, sk = KEYS[index]
        key = (f"M#{pk}", sk)
        # each record created a second after the one before: removal times are distinct
        events.created_at = BASE_TIME + datetime.timedelta(seconds=len(records))
        old = state.get(key)
        if action == "put":
            new = {"PK": key[0], "SK": key[1], "entity_type": "Memo", "Text": text,
                   "Size": size}
            records.append(events.insert(new) if old is None else events.modify(old, new))
            state[key] = last_image[key] = new
            removed_at[key] = None
        elif old is not None:
            records.append(events.remove(old))
            if view == "NEW_IMAGE":
                assert "OldImage" not in records[-1]["dynamodb"]
            del state[key]
            removed_at[key] = events.created_at.replace(tzinfo=None)

    deliver(processor, events, records, draw_deliveries(data, len(records)))

    expected = {(pk, sk, image["Text"], image["Size"], removed_at[(pk, sk)])
                for (pk, sk), image in last_image.items()}
    assert select(sink, "SELECT pk, sk, text, size, deleted_at FROM opt_soft_memos") == expected


@settings_
@given(data=st.data())
def test_versions_converge_whatever_the_sequence_numbers(projection_db, data):
    sink = projection_db
    empty(sink)
    chunk_records = data.draw(st.sampled_from([1, 2, 3, None]), label="chunk records")
    processor = BatchProcessor(sink.registry, sink, chunk_records=chunk_records)
    events = StreamEventBuilder()

    state: dict[tuple[str, str], dict[str, Any]] = {}
    versions = dict.fromkeys(KEYS, 0)
    records: list[dict[str, Any]] = []
    for index, action, text, _ in data.draw(st.lists(steps, min_size=4, max_size=16),
                                            label="history"):
        pk, sk = KEYS[index]
        key = (f"S#{pk}", sk)
        old = state.get(key)
        if action == "put":
            versions[KEYS[index]] += data.draw(st.integers(1, 3), label="version step")
            new = {"PK": key[0], "SK": key[1], "entity_type": "Sheet", "Body": text,
                   "Version": versions[KEYS[index]]}
            records.append(events.insert(new) if old is None else events.modify(old, new))
            state[key] = new
        elif old is not None:
            records.append(events.remove(old))
            del state[key]

    # the versions order the changes, not the stream: across a shard split the sequence
    # numbers of two shards are not comparable, so give them in any order
    if data.draw(st.booleans(), label="scrambled sequence numbers"):
        numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        random.Random(data.draw(st.integers(0, 2**32), label="seed")).shuffle(numbers)
        for record, number in zip(records, numbers, strict=True):
            record["dynamodb"]["SequenceNumber"] = number
            record["eventID"] = f"{int(number):x}"

    deliver(processor, events, records, draw_deliveries(data, len(records)))

    expected = {(pk, sk, item["Body"], item["Version"]) for (pk, sk), item in state.items()}
    assert select(sink, "SELECT pk, sk, body, version FROM opt_versioned_sheets") == expected
