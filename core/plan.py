"""The batch plan: what one batch changes, per table, as plain rows, chunk by chunk.

Every claimed record becomes a row upsert (its image) or a tombstone (its key and the
rank of the delete), coalesced per table and key so that only the highest rank survives;
records that cannot be structured become dead letters with their raw record and a
readable error. Nothing here touches a database: a plan is a pure, re-iterable recipe,
so a retried transaction plans again and gets the same chunks.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ddbproj.core import jsontext
from ddbproj.core.dynamodb_json import decode_attributes
from ddbproj.core.names import SEQ_DIGITS
from ddbproj.core.projector import CompiledProjector
from ddbproj.core.records import ChangeRecord, EventKind, MalformedRecord, ParsedBatch
from ddbproj.core.registry import ProjectorRegistry, SkipReason, entity_type_of

__all__ = ["CHUNK_RECORDS", "BatchPlan", "DeadLetter", "PlannedChunk", "TableChanges",
           "Tally", "dead_letter", "describe_record", "plan_batch"]

Key = tuple[Any, ...]
Row = tuple[Any, ...]

#: The largest rank a ``DECIMAL(40, 0)`` column holds.
MAX_RANK = 10 ** SEQ_DIGITS - 1


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
    """One table's surviving changes: per key, the highest-ranked row image and the
    highest-ranked delete (a tombstone, with when the item was removed).

    The two are kept apart, so that a delete never hides the last image a soft-delete
    table keeps, and an image older than a delete is still stopped by the tombstone.
    """

    projector: CompiledProjector
    rows: dict[Key, tuple[int, Row]] = attrs.Factory(dict)
    tombstones: dict[Key, tuple[int, datetime.datetime]] = attrs.Factory(dict)

    def upsert(self, key: Key, rank: int, row: Row) -> None:
        current = self.rows.get(key)
        if current is None or rank > current[0]:
            self.rows[key] = (rank, row)

    def delete(self, key: Key, rank: int, removed_at: datetime.datetime) -> None:
        current = self.tombstones.get(key)
        if current is None or rank > current[0]:
            self.tombstones[key] = (rank, removed_at)

    def written_keys(self) -> Iterable[Key]:
        return dict.fromkeys([*self.rows, *self.tombstones])


@attrs.define
class PlannedChunk:
    """A run of consecutive records and what they change; ``records`` lets the sink plan
    one of them again on its own when the server refuses its values."""

    records: Sequence[ChangeRecord]
    tables: dict[str, TableChanges] = attrs.Factory(dict)
    applied: int = 0
    skipped: Counter[str] = attrs.Factory(Counter)
    dead_letters: list[DeadLetter] = attrs.Factory(list)

    def table(self, projector: CompiledProjector) -> TableChanges:
        changes = self.tables.get(projector.table)
        if changes is None:
            changes = self.tables[projector.table] = TableChanges(projector)
        return changes


@attrs.define
class Tally:
    """What a batch came to: records applied, skipped (by reason) and dead-lettered."""

    applied: int = 0
    skipped: Counter[str] = attrs.Factory(Counter)
    dead_letters: list[DeadLetter] = attrs.Factory(list)

    def add(self, chunk: PlannedChunk) -> None:
        self.applied += chunk.applied
        self.skipped.update(chunk.skipped)
        self.dead_letters.extend(chunk.dead_letters)


#: Records per chunk when a batch is planned for a pipelined write: a quarter of the
#: batch, so that most of the server's work overlaps planning, within these bounds (small
#: chunks pay a statement each; large ones leave the server's last chunk unoverlapped).
CHUNK_RECORDS = (250, 1000)


@attrs.frozen
class BatchPlan:
    """Route, structure and coalesce a parsed batch, chunk by chunk, on demand."""

    batch: ParsedBatch
    registry: ProjectorRegistry
    #: records per chunk; None: a quarter of the batch within ``CHUNK_RECORDS``
    chunk_records: int | None = None

    @property
    def records(self) -> int:
        return len(self.batch.records) + len(self.batch.malformed)

    def chunks(self, size: int | None = None) -> Iterator[PlannedChunk]:
        """Plan afresh; malformed records are dead letters of the first chunk. Each chunk
        is coalesced on its own: guarded statements make chunk order irrelevant."""
        records = self.batch.records
        if size is None:
            smallest, largest = CHUNK_RECORDS
            size = self.chunk_records or min(largest, max(smallest, len(records) // 4))
        first = PlannedChunk(records[:size])
        first.dead_letters.extend(_malformed_letter(m) for m in self.batch.malformed)
        chunk = first
        for start in range(0, max(len(records), 1), size):
            if start:
                chunk = PlannedChunk(records[start:start + size])
            for record in chunk.records:
                _plan_guarded(record, self.registry, chunk)
            yield chunk

    def tally(self) -> Tally:
        """What the batch comes to, planned without writing (for a batch that failed)."""
        tally = Tally()
        for chunk in self.chunks():
            tally.add(chunk)
        return tally


def plan_batch(
    batch: ParsedBatch, registry: ProjectorRegistry, *, chunk_records: int | None = None
) -> BatchPlan:
    """The plan of ``batch`` with ``registry``'s projectors (nothing is planned yet)."""
    return BatchPlan(batch, registry, chunk_records)


_NO_NEW_IMAGE = ("the record has no NewImage: the stream view type must be NEW_IMAGE or "
                 "NEW_AND_OLD_IMAGES")


_REMOVE = EventKind.REMOVE
_MODIFY = EventKind.MODIFY


def _plan_guarded(record: ChangeRecord, registry: ProjectorRegistry, chunk: PlannedChunk) -> None:
    """Plan one record; whatever it carries, it ends applied, skipped or dead-lettered
    (changes are added last, after every check, so a failure leaves none behind)."""
    try:
        _plan_record(record, registry, chunk)
    except (ValueError, TypeError, ArithmeticError, LookupError, RecursionError,
            AttributeError) as error:
        # a projector's own code, or a value no check foresaw
        chunk.dead_letters.append(_letter(record, _route_of(record, registry),
                                          f"cannot be planned: {type(error).__name__}: "
                                          f"{_clip(str(error))}"))


def _route_of(record: ChangeRecord, registry: ProjectorRegistry) -> CompiledProjector | None:
    try:
        route = registry.route(record)
    except (ValueError, TypeError, LookupError, AttributeError):
        return None
    return None if isinstance(route, SkipReason) else route


def _plan_record(record: ChangeRecord, registry: ProjectorRegistry, chunk: PlannedChunk) -> None:
    route = registry.route(record)
    if isinstance(route, SkipReason):
        _plan_skip(record, registry, chunk, route)
        return
    if record.sequence_number > MAX_RANK:
        chunk.dead_letters.append(_letter(
            record, route, f"the sequence number has more than {SEQ_DIGITS} digits"))
        return
    if record.kind is _REMOVE:
        if record.is_ttl_delete and route.projector.keep_expired:
            chunk.skipped[SkipReason.EXPIRED_KEPT.value] += 1
            return
        _plan_remove(record, route, chunk)
        return
    if record.raw_new_image is None:
        chunk.dead_letters.append(_letter(record, route, _NO_NEW_IMAGE))
        return
    try:
        model = route.structure_image(record.raw_new_image)
        rank = (record.sequence_number if route.version is None
                else route.upsert_rank(record.sequence_number, model))
    except ValueError as error:
        chunk.dead_letters.append(_letter(record, route, str(error)))
        return
    row = route.row_of(model)
    problem_text = route.check_row(row)
    if problem_text is not None:
        chunk.dead_letters.append(_letter(record, route, problem_text))
        return
    key = route.key_of_row(row)
    if record.kind is _MODIFY and record.raw_old_image is not None:
        problem = _retire_old_row(record, registry, chunk, route.table, key)
        if problem is not None:
            chunk.dead_letters.append(_letter(record, problem[0], problem[1]))
            return
    chunk.table(route).upsert(key, rank, row)
    chunk.applied += 1


def _plan_skip(
    record: ChangeRecord, registry: ProjectorRegistry, chunk: PlannedChunk, reason: SkipReason
) -> None:
    if record.routing_image is None and record.kind is not _REMOVE:
        # no image says what the item is: a KEYS_ONLY stream cannot be projected
        chunk.dead_letters.append(_letter(record, None, _NO_NEW_IMAGE))
        return
    problem = _retire_old_row(record, registry, chunk, None, None)
    if problem is not None:
        chunk.dead_letters.append(_letter(record, problem[0], problem[1]))
        return
    chunk.skipped[reason.value] += 1


def _plan_remove(record: ChangeRecord, route: CompiledProjector, chunk: PlannedChunk) -> None:
    try:
        old = record.old_image() if record.raw_old_image is not None else None
    except ValueError:
        old = None
    key = _removed_key(record, route, old)
    if key is None:
        chunk.dead_letters.append(_letter(
            record, route, "cannot find the row key: the REMOVE has no OldImage with the key "
            "attributes and the projector's key_from_item_keys gave none"))
        return
    problem = route.check_key(key)
    if problem is not None:
        chunk.dead_letters.append(_letter(record, route, f"the removed item's key: {problem}"))
        return
    try:
        rank = route.delete_rank(record.sequence_number, old)
    except ValueError as error:
        chunk.dead_letters.append(_letter(record, route, str(error)))
        return
    changes = chunk.table(route)
    changes.delete(key, rank, _removal_time(record))
    if route.soft_delete:
        last = _last_row(route, old, key)
        if last is not None:
            # the image the delete removed ranks just below the delete: whatever was
            # written before it is older, and nothing came between
            changes.upsert(key, rank - 1, last)
    chunk.applied += 1


def _last_row(route: CompiledProjector, old: Mapping[str, Any] | None, key: Key) -> Row | None:
    """The row of a removed item's last image, kept by soft delete; None when the REMOVE
    has no usable OldImage (then only the tombstone is stored, and marks the row)."""
    if old is None:
        return None
    try:
        row = route.row_of(route.structure(old))
    except ValueError:
        return None
    if route.check_row(row) is not None or route.key_of_row(row) != key:
        return None
    return row


def _removal_time(record: ChangeRecord) -> datetime.datetime:
    return record.created_at or datetime.datetime.now(datetime.UTC)


def _retire_old_row(
    record: ChangeRecord,
    registry: ProjectorRegistry,
    chunk: PlannedChunk,
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
    old_type = entity_type_of(tagged)
    previous = registry.get(old_type) if old_type is not None else None
    if previous is None:
        return None
    new = record.raw_new_image
    if new is not None and new.get(registry.type_attribute) == tagged and all(
            old.get(name) == new.get(name) for name in previous.key_attributes):
        return None  # same type, same key: the usual MODIFY, decided without decoding
    try:
        image = decode_attributes(old, previous.identity_attributes)
    except ValueError:
        return None
    old_key = previous.key_of_image(image)
    if old_key is None or (previous.table == table and old_key == key):
        return None
    problem = previous.check_key(old_key)
    if problem is not None:
        # its INSERT could not have written a row under this key either
        return None
    try:
        rank = previous.delete_rank(record.sequence_number, image)
    except ValueError as error:
        return previous, f"cannot remove the row of the previous image: {error}"
    chunk.table(previous).delete(old_key, rank, _removal_time(record))
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
    parts = [f"{name}={_clip(str(value), 200)}" for name, value in (keys or {}).items()]
    if sequence_number is not None:
        parts.append(f"seq {_clip(str(sequence_number), 60)}")
    return f"{entity_type or 'record'} ({', '.join(parts)})"


def dead_letter(record: ChangeRecord, registry: ProjectorRegistry, reason: str) -> DeadLetter:
    """The dead letter of a planned record that the database refused (``reason``)."""
    return _letter(record, _route_of(record, registry), reason)


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
    if event_id and len(event_id) <= 190 and event_id.isprintable() and event_id.isascii():
        return event_id
    try:
        text = jsontext.dumps(raw)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(raw)
        except RecursionError:
            text = str(id(raw))
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False)
    return "sha1:" + digest.hexdigest()


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more)"
