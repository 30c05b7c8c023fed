"""Change records: one stream record (or one scanned item) in a shape the pipeline can use.

Parsed from the Lambda DynamoDB event (``eventName``, epoch seconds, base64 binaries)
and from boto3 ``get_records`` pages (the same shape, with datetimes and raw bytes).
Keys are decoded at once; images stay raw until a projector claims the record, so
metadata items cost almost nothing.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from core.dynamodb_json import DecodeError, decode_image

__all__ = [
    "BACKFILL_SEQUENCE",
    "ChangeRecord",
    "EventKind",
    "MalformedRecord",
    "ParsedBatch",
    "parse_event",
    "parse_record",
    "scanned_item",
]

#: Sequence number of an image read by a table scan: below every stream record.
BACKFILL_SEQUENCE = 0

_TTL_PRINCIPAL = "dynamodb.amazonaws.com"


class EventKind(enum.Enum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


_KINDS = {kind.value: kind for kind in EventKind}


@attrs.define(slots=True, eq=True)
class ChangeRecord:
    """One change of one item. ``sequence_number`` orders changes of the same item.

    Read-only by convention, not frozen: one is built per record on the hot path, and a
    frozen attrs class costs four times as much to construct."""

    kind: EventKind
    keys: dict[str, Any]
    sequence_number: int
    sequence_id: str
    raw_new_image: Mapping[str, Any] | None = None
    raw_old_image: Mapping[str, Any] | None = None
    created_at: datetime.datetime | None = None
    event_id: str | None = None
    source_arn: str | None = None
    user_identity: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def is_ttl_delete(self) -> bool:
        """True for REMOVEs that DynamoDB's time-to-live made, not a writer."""
        identity = self.user_identity or {}
        return (
            self.kind is EventKind.REMOVE
            and identity.get("type") == "Service"
            and identity.get("principalId") == _TTL_PRINCIPAL
        )

    @property
    def routing_image(self) -> Mapping[str, Any] | None:
        """The raw image that says what the item is: the new one, else the old one."""
        return self.raw_new_image if self.raw_new_image is not None else self.raw_old_image

    def new_image(self) -> dict[str, Any]:
        return decode_image(self.raw_new_image or {}, "NewImage")

    def old_image(self) -> dict[str, Any]:
        return decode_image(self.raw_old_image or {}, "OldImage")


@attrs.frozen(slots=True)
class MalformedRecord:
    """A record that could not be parsed at all; kept whole so nothing is lost."""

    index: int
    raw: Any
    reason: str
    sequence_id: str | None

    @property
    def sequence_number(self) -> int | None:
        return int(self.sequence_id) if self.sequence_id and self.sequence_id.isdigit() else None


@attrs.frozen(slots=True)
class ParsedBatch:
    records: list[ChangeRecord]
    malformed: list[MalformedRecord]


def parse_event(event: Any) -> ParsedBatch:
    """Parse a Lambda event (``{"Records": [...]}``) or a ``get_records`` page."""
    if not isinstance(event, Mapping):
        return ParsedBatch([], [MalformedRecord(0, event, "event is not a JSON object", None)])
    raw_records = event.get("Records")
    if not isinstance(raw_records, list):
        return ParsedBatch([], [MalformedRecord(0, event, "event has no 'Records' list", None)])
    return parse_records(raw_records)


def parse_records(raw_records: Iterable[Any]) -> ParsedBatch:
    """Parse many records in one pass: a well-formed record (plain dicts, as the Lambda
    runtime gives them) takes a fast path; anything else goes through ``parse_record``,
    which checks every field and explains what is wrong."""
    records: list[ChangeRecord] = []
    malformed: list[MalformedRecord] = []
    append = records.append
    kinds = _KINDS
    record_class = ChangeRecord
    # records of one batch mostly share their creation second: convert each value once
    last_time: Any = None
    last_created: datetime.datetime | None = None
    for index, raw in enumerate(raw_records):
        try:
            if raw.__class__ is dict:
                change = raw.get("dynamodb")
                event_name = raw.get("eventName")
                kind = kinds.get(event_name) if event_name.__class__ is str else None
                if change.__class__ is dict and kind is not None:
                    sequence_id = change.get("SequenceNumber")
                    raw_keys = change.get("Keys")
                    new_image = change.get("NewImage")
                    old_image = change.get("OldImage")
                    if (
                        sequence_id.__class__ is str
                        and sequence_id.isdigit()
                        and raw_keys.__class__ is dict
                        and raw_keys
                        and (new_image is None or new_image.__class__ is dict)
                        and (old_image is None or old_image.__class__ is dict)
                    ):
                        created = change.get("ApproximateCreationDateTime")
                        if created.__class__ is not int or created != last_time:
                            last_created = _creation_time(created)
                            last_time = created if created.__class__ is int else None
                        append(record_class(
                            kind, _decode_keys(raw_keys), int(sequence_id), sequence_id,
                            new_image, old_image, last_created, raw.get("eventID"),
                            raw.get("eventSourceARN"), raw.get("userIdentity"), raw,
                        ))
                        continue
            append(parse_record(raw))
        except (DecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            malformed.append(MalformedRecord(index, raw, _reason(error), _sequence_id_of(raw)))
    return ParsedBatch(records, malformed)


def _decode_keys(raw_keys: dict[str, Any]) -> dict[str, Any]:
    """Key attributes are strings or numbers (or binaries): the common ones inline."""
    keys = {}
    for name, value in raw_keys.items():
        if value.__class__ is dict and len(value) == 1:
            text = value.get("S")
            if text.__class__ is str:
                keys[name] = text
                continue
        return decode_image(raw_keys, "Keys")
    return keys


def parse_record(raw: Mapping[str, Any]) -> ChangeRecord:
    """Parse one stream record; raises with a readable reason when it is malformed."""
    if not isinstance(raw, Mapping):
        raise TypeError(f"record is not a JSON object but {type(raw).__name__}")
    change = raw.get("dynamodb")
    if not isinstance(change, Mapping):
        raise ValueError("record has no 'dynamodb' object")
    event_name = raw.get("eventName")
    try:
        kind = EventKind(event_name)
    except ValueError:
        raise ValueError(f"unknown eventName {event_name!r}") from None
    sequence_id = change.get("SequenceNumber")
    if not isinstance(sequence_id, str) or not sequence_id.isdigit():
        raise ValueError(f"dynamodb.SequenceNumber is not a decimal string: {sequence_id!r}")
    raw_keys = change.get("Keys")
    if not isinstance(raw_keys, Mapping) or not raw_keys:
        raise ValueError("dynamodb.Keys is missing")
    new_image = change.get("NewImage")
    old_image = change.get("OldImage")
    for name, image in (("NewImage", new_image), ("OldImage", old_image)):
        if image is not None and not isinstance(image, Mapping):
            raise ValueError(f"dynamodb.{name} is not an object")
    return ChangeRecord(
        kind=kind,
        keys=decode_image(raw_keys, "Keys"),
        sequence_number=int(sequence_id),
        sequence_id=sequence_id,
        raw_new_image=new_image,
        raw_old_image=old_image,
        created_at=_creation_time(change.get("ApproximateCreationDateTime")),
        event_id=raw.get("eventID"),
        source_arn=raw.get("eventSourceARN"),
        user_identity=raw.get("userIdentity"),
        raw=raw,
    )


def scanned_item(raw_item: Mapping[str, Any], key_names: Iterable[str]) -> ChangeRecord:
    """A synthetic INSERT for an item read by a table scan (backfill, verify)."""
    raw_keys = {name: raw_item[name] for name in key_names}
    return ChangeRecord(
        kind=EventKind.INSERT,
        keys=decode_image(raw_keys, "Keys"),
        sequence_number=BACKFILL_SEQUENCE,
        sequence_id=str(BACKFILL_SEQUENCE),
        raw_new_image=raw_item,
        # a complete record, so that a dead letter of a scanned item can be replayed
        raw={"eventName": "INSERT", "dynamodb": {
            "Keys": raw_keys, "NewImage": raw_item, "SequenceNumber": str(BACKFILL_SEQUENCE)}},
    )


def _creation_time(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, str) and not value.replace(".", "", 1).isdigit():
        # a get_records datetime, as a stored dead letter writes it (ISO-8601)
        moment = datetime.datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    return datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)


def _sequence_id_of(raw: Any) -> str | None:
    try:
        value = raw["dynamodb"]["SequenceNumber"]
    except (KeyError, TypeError, IndexError):
        return None
    return value if isinstance(value, str) else None


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error)
