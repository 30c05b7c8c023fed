"""The batch plan: what one batch changes, per table, as plain rows.

Every claimed record becomes an upsert (its row) or a delete (its key), coalesced per
table and key so that only the highest sequence number survives; records that cannot be
structured become dead letters with their raw record and a readable error. Nothing here
touches a database: the SQL sink applies the plan in one transaction.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from core import jsontext
from core.dynamodb_json import DecodeError, decode_attributes
from core.projector import CompiledProjector
from core.records import ChangeRecord, EventKind, MalformedRecord, ParsedBatch
from core.registry import ProjectorRegistry, SkipReason

__all__ = ["CHUNK_RECORDS", "BatchPlan", "DeadLetter", "TableChanges", "describe_record",
           "plan_batch"]

Key = tuple[Any, ...]
Row = tuple[Any, ...]


@attrs.define
class DeadLetter:
    """A record that could not be projected, kept whole with the reason."""

    record_id: str
    error: str
    raw_record: Any
    projector: str | None = None
    entity_type: str | None = None
    table: str | None = None
    keys: Mapping[str, Any] | None = None
    sequence_number: int | None = None
    event_kind: str | None = None


@attrs.define
class TableChanges:
    """Per key, the surviving change: ``(rank, row)``; a row of None deletes.

    The rank is the record's sequence number, or its version rank for a projector with a
    ``version`` field. For soft-delete tables, ``deleted_at`` holds when the item of a
    surviving removal was removed (its row, when known, is kept with that mark).
    """

    projector: CompiledProjector
    changes: dict[Key, tuple[int, Row | None]] = attrs.Factory(dict)
    deleted_at: dict[Key, datetime.datetime] = attrs.Factory(dict)

    def add(
        self,
        key: Key,
        sequence_number: int,
        row: Row | None,
        *,
        deleted_at: datetime.datetime | None = None,
    ) -> None:
        current = self.changes.get(key)
        if current is None or sequence_number > current[0]:
            self.changes[key] = (sequence_number, row)
            if deleted_at is not None:
                self.deleted_at[key] = deleted_at
            elif self.deleted_at:
                self.deleted_at.pop(key, None)

    def upserts(self) -> list[tuple[int, Row]]:
        return [(seq, row) for seq, row in self.changes.values() if row is not None]

    def deletes(self) -> list[tuple[Key, int]]:
        return [(key, seq) for key, (seq, row) in self.changes.items() if row is None]


@attrs.define
class BatchPlan:
    records: int = 0
    applied: int = 0
    tables: dict[str, TableChanges] = attrs.Factory(dict)
    dead_letters: list[DeadLetter] = attrs.Factory(list)
    skipped: Counter[str] = attrs.Factory(Counter)
    oldest_created_at: datetime.datetime | None = None
    first_sequence_id: str | None = None
    last_sequence_id: str | None = None

    def table(self, projector: CompiledProjector) -> TableChanges:
        changes = self.tables.get(projector.table)
        if changes is None:
            changes = self.tables[projector.table] = TableChanges(projector)
        return changes


#: Records per chunk when a batch is planned for a pipelined write: a quarter of the
#: batch, so that most of the server's work overlaps planning, within these bounds (small
#: chunks pay a statement each; large ones leave the server's last chunk unoverlapped).
CHUNK_RECORDS = (250, 1000)


def plan_batch(
    batch: ParsedBatch,
    registry: ProjectorRegistry,
    *,
    on_chunk: Callable[[dict[str, TableChanges]], None] | None = None,
    chunk_records: int | None = None,
) -> BatchPlan:
    """Route, structure and coalesce a parsed batch.

    With ``on_chunk``, the table changes of every ``chunk_records`` records (by default,
    see ``CHUNK_RECORDS``) are handed over as soon as they are planned, so the sink can
    write them while the next chunk is planned, and the plan returned holds none. Each
    chunk is coalesced on its own: the sink's guarded statements make the order of chunks
    irrelevant, as for separate batches.
    """
    plan = BatchPlan(records=len(batch.records) + len(batch.malformed))
    for malformed in batch.malformed:
        plan.dead_letters.append(_malformed_letter(malformed))
    records = batch.records
    if records:
        plan.first_sequence_id = records[0].sequence_id
        plan.last_sequence_id = records[-1].sequence_id
    smallest, largest = CHUNK_RECORDS
    size = (chunk_records or min(largest, max(smallest, len(records) // 4))
            if on_chunk is not None else max(len(records), 1))
    oldest = None
    for start in range(0, len(records), size):
        for record in records[start:start + size]:
            created = record.created_at
            if created is not None and (oldest is None or created < oldest):
                oldest = created
            _plan_record(record, registry, plan)
        if on_chunk is not None and plan.tables:
            on_chunk(plan.tables)
            plan.tables = {}
    plan.oldest_created_at = oldest
    return plan


_NO_NEW_IMAGE = ("the record has no NewImage: the stream view type must be NEW_IMAGE or "
                 "NEW_AND_OLD_IMAGES")


_REMOVE = EventKind.REMOVE
_MODIFY = EventKind.MODIFY


def _plan_record(record: ChangeRecord, registry: ProjectorRegistry, plan: BatchPlan) -> None:
    route = registry.route(record)
    if isinstance(route, SkipReason):
        _plan_skip(record, registry, plan, route)
        return
    if record.kind is _REMOVE:
        if record.is_ttl_delete and route.projector.keep_expired:
            plan.skipped[SkipReason.EXPIRED_KEPT.value] += 1
            return
        _plan_remove(record, route, plan)
        return
    if record.raw_new_image is None:
        plan.dead_letters.append(_letter(record, route, _NO_NEW_IMAGE))
        return
    try:
        model = route.structure_image(record.raw_new_image)
        rank = (record.sequence_number if route.version is None
                else route.upsert_rank(record.sequence_number, model))
    except (DecodeError, ValueError) as error:
        plan.dead_letters.append(_letter(record, route, str(error)))
        return
    row = route.row_of(model)
    problem_text = route.check_row(row)
    if problem_text is not None:
        plan.dead_letters.append(_letter(record, route, problem_text))
        return
    key = route.key_of_row(row)
    if record.kind is _MODIFY and record.raw_old_image is not None:
        problem = _retire_old_row(record, registry, plan, route.table, key)
        if problem is not None:
            plan.dead_letters.append(_letter(record, problem[0], problem[1]))
            return
    plan.table(route).add(key, rank, row)
    plan.applied += 1


def _plan_skip(
    record: ChangeRecord, registry: ProjectorRegistry, plan: BatchPlan, reason: SkipReason
) -> None:
    if record.routing_image is None and record.kind is not _REMOVE:
        # no image says what the item is: a KEYS_ONLY stream cannot be projected
        plan.dead_letters.append(_letter(record, None, _NO_NEW_IMAGE))
        return
    problem = _retire_old_row(record, registry, plan, None, None)
    if problem is not None:
        plan.dead_letters.append(_letter(record, problem[0], problem[1]))
        return
    plan.skipped[reason.value] += 1


def _plan_remove(record: ChangeRecord, route: CompiledProjector, plan: BatchPlan) -> None:
    try:
        old = record.old_image() if record.raw_old_image is not None else None
    except DecodeError:
        old = None
    key = _removed_key(record, route, old)
    if key is None:
        plan.dead_letters.append(_letter(
            record, route, "cannot find the row key: the REMOVE has no OldImage with the key "
            "attributes and the projector's key_from_item_keys gave none"))
        return
    try:
        rank = route.delete_rank(record.sequence_number, old)
    except ValueError as error:
        plan.dead_letters.append(_letter(record, route, str(error)))
        return
    if not route.soft_delete:
        plan.table(route).add(key, rank, None)
    else:
        kept = _last_row(route, old, key)
        plan.table(route).add(key, rank, kept, deleted_at=_removal_time(record))
    plan.applied += 1


def _last_row(route: CompiledProjector, old: Mapping[str, Any] | None, key: Key) -> Row | None:
    """The row of a removed item's last image, kept by soft delete; None when the REMOVE
    has no usable OldImage (then only the mark is stored, for the row already there)."""
    if old is None:
        return None
    try:
        row = route.row_of(route.structure(old))
    except (DecodeError, ValueError):
        return None
    if route.check_row(row) is not None or tuple(row[i] for i in route.key_indexes) != key:
        return None
    return row


def _removal_time(record: ChangeRecord) -> datetime.datetime:
    return record.created_at or datetime.datetime.now(datetime.UTC)


def _retire_old_row(
    record: ChangeRecord,
    registry: ProjectorRegistry,
    plan: BatchPlan,
    table: str | None,
    key: Key | None,
) -> tuple[CompiledProjector, str] | None:
    """A MODIFY that takes an item out of the row its old image wrote (its entity type
    changed, it lost its type or got one nobody claims, or its row key changed) deletes
    that row, ranked as a delete of the old image. Returns why it cannot, if so."""
    old = record.raw_old_image
    if record.kind is not EventKind.MODIFY or old is None:
        return None
    tagged = old.get(registry.type_attribute)
    old_type = tagged.get("S") if isinstance(tagged, Mapping) else None
    previous = registry.get(old_type) if isinstance(old_type, str) else None
    if previous is None:
        return None
    new = record.raw_new_image
    if new is not None and new.get(registry.type_attribute) == tagged and all(
            old.get(name) == new.get(name) for name in previous.key_attributes):
        return None  # same type, same key: the usual MODIFY, decided without decoding
    try:
        image = decode_attributes(old, previous.identity_attributes)
    except DecodeError:
        return None
    old_key = previous.key_of_image(image)
    if old_key is None or (previous.table == table and old_key == key):
        return None
    try:
        rank = previous.delete_rank(record.sequence_number, image)
    except ValueError as error:
        return previous, f"cannot remove the row of the previous image: {error}"
    deleted_at = _removal_time(record) if previous.soft_delete else None
    plan.table(previous).add(old_key, rank, None, deleted_at=deleted_at)
    return None


def _removed_key(
    record: ChangeRecord, route: CompiledProjector, old: Mapping[str, Any] | None
) -> Key | None:
    if old is not None:
        key = route.key_of_image(old)
        if key is not None:
            return key
    return route.key_of_item_keys(record.keys)


def describe_record(
    entity_type: str | None, keys: Mapping[str, Any] | None, sequence_number: int | None
) -> str:
    """``User (PK=USER#42, seq 1070…)``: how errors name a record."""
    parts = [f"{name}={value}" for name, value in (keys or {}).items()]
    if sequence_number is not None:
        parts.append(f"seq {sequence_number}")
    return f"{entity_type or 'record'} ({', '.join(parts)})"


def _letter(record: ChangeRecord, route: CompiledProjector | None, reason: str) -> DeadLetter:
    entity_type = route.entity_type if route is not None else None
    return DeadLetter(
        record_id=_record_id(record.event_id, record.raw),
        error=f"{describe_record(entity_type, record.keys, record.sequence_number)}: {reason}",
        raw_record=record.raw,
        projector=route.name if route is not None else None,
        entity_type=entity_type,
        table=route.table if route is not None else None,
        keys=record.keys,
        sequence_number=record.sequence_number,
        event_kind=record.kind.value,
    )


def _malformed_letter(malformed: MalformedRecord) -> DeadLetter:
    raw = malformed.raw
    event_id = raw.get("eventID") if isinstance(raw, Mapping) else None
    seq = malformed.sequence_number
    where = f"record #{malformed.index}" + (f" (seq {seq})" if seq is not None else "")
    kind = raw.get("eventName") if isinstance(raw, Mapping) else None
    return DeadLetter(
        record_id=_record_id(event_id if isinstance(event_id, str) else None, raw),
        error=f"{where}: malformed record: {malformed.reason}",
        raw_record=raw,
        sequence_number=seq,
        event_kind=kind if isinstance(kind, str) else None,
    )


def _record_id(event_id: str | None, raw: Any) -> str:
    """Stable identity of a record, so a retried batch updates its dead letter in place."""
    if event_id:
        return event_id[:190]
    try:
        text = jsontext.dumps(raw)
    except (TypeError, ValueError):
        text = repr(raw)
    return "sha1:" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


