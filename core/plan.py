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
from collections.abc import Mapping
from typing import Any

import attrs

from core import jsontext
from core.dynamodb_json import DecodeError
from core.projector import CompiledProjector
from core.records import ChangeRecord, EventKind, MalformedRecord, ParsedBatch
from core.registry import ProjectorRegistry, SkipReason

__all__ = ["BatchPlan", "DeadLetter", "TableChanges", "describe_record", "plan_batch"]

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
    """Per key, the surviving change: ``(sequence number, row)``; a row of None deletes."""

    projector: CompiledProjector
    changes: dict[Key, tuple[int, Row | None]] = attrs.Factory(dict)

    def add(self, key: Key, sequence_number: int, row: Row | None) -> None:
        current = self.changes.get(key)
        if current is None or sequence_number > current[0]:
            self.changes[key] = (sequence_number, row)

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


def plan_batch(batch: ParsedBatch, registry: ProjectorRegistry) -> BatchPlan:
    """Route, structure and coalesce a parsed batch."""
    plan = BatchPlan(records=len(batch.records) + len(batch.malformed))
    for malformed in batch.malformed:
        plan.dead_letters.append(_malformed_letter(malformed))
    if batch.records:
        plan.first_sequence_id = batch.records[0].sequence_id
        plan.last_sequence_id = batch.records[-1].sequence_id
    oldest = None
    for record in batch.records:
        created = record.created_at
        if created is not None and (oldest is None or created < oldest):
            oldest = created
        _plan_record(record, registry, plan)
    plan.oldest_created_at = oldest
    return plan


def _plan_record(record: ChangeRecord, registry: ProjectorRegistry, plan: BatchPlan) -> None:
    route = registry.route(record)
    if isinstance(route, SkipReason):
        plan.skipped[route.value] += 1
        return
    if record.kind is EventKind.REMOVE:
        if record.is_ttl_delete and route.projector.keep_expired:
            plan.skipped[SkipReason.EXPIRED_KEPT.value] += 1
            return
        key = _removed_key(record, route)
        if key is None:
            plan.dead_letters.append(_letter(
                record, route, "cannot find the row key: the REMOVE has no OldImage with the key "
                "attributes and the projector's key_from_item_keys gave none"))
            return
        plan.table(route).add(key, record.sequence_number, None)
        plan.applied += 1
        return
    if record.raw_new_image is None:
        plan.dead_letters.append(_letter(
            record, route, "the record has no NewImage: the stream view type must be "
            "NEW_IMAGE or NEW_AND_OLD_IMAGES"))
        return
    try:
        model = route.structure(record.new_image())
    except (DecodeError, ValueError) as error:
        plan.dead_letters.append(_letter(record, route, str(error)))
        return
    row = route.row_of(model)
    problem = route.check_row(row)
    if problem is not None:
        plan.dead_letters.append(_letter(record, route, problem))
        return
    key = tuple(row[i] for i in route.key_indexes)
    plan.table(route).add(key, record.sequence_number, row)
    plan.applied += 1
    _retire_previous_type(record, registry, route, plan)


def _retire_previous_type(
    record: ChangeRecord, registry: ProjectorRegistry, route: CompiledProjector, plan: BatchPlan
) -> None:
    """An item whose entity type changed leaves the table of its old type."""
    old = record.raw_old_image
    if record.kind is not EventKind.MODIFY or old is None:
        return
    tagged = old.get(registry.type_attribute)
    old_type = tagged.get("S") if isinstance(tagged, dict) else None
    if old_type is None or old_type == route.entity_type:
        return
    previous = registry.get(old_type)
    if previous is None:
        return
    try:
        key = previous.key_of_image(record.old_image())
    except DecodeError:
        key = None
    if key is not None:
        plan.table(previous).add(key, record.sequence_number, None)


def _removed_key(record: ChangeRecord, route: CompiledProjector) -> Key | None:
    if record.raw_old_image is not None:
        try:
            key = route.key_of_image(record.old_image())
        except DecodeError:
            key = None
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


def _letter(record: ChangeRecord, route: CompiledProjector, reason: str) -> DeadLetter:
    return DeadLetter(
        record_id=_record_id(record.event_id, record.raw),
        error=f"{describe_record(route.entity_type, record.keys, record.sequence_number)}: "
        f"{reason}",
        raw_record=record.raw,
        projector=route.name,
        entity_type=route.entity_type,
        table=route.table,
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


