"""Change records: one stream record (or one scanned item) in a shape the pipeline can use.

Parsed from the Lambda DynamoDB event (``eventName``, epoch seconds, base64 binaries)
and from boto3 ``get_records`` pages (the same shape, with datetimes and raw bytes).
Keys are decoded at once; images stay raw until a projector claims the record, so
metadata items cost almost nothing.
"""

from __future__ import annotations

import datetime
import enum
import reprlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from ddbproj.core.converter import dynamodb_tag
from ddbproj.core.dynamodb_json import DecodeError, decode_image, text_problem

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

#: DynamoDB's sequence numbers have 21 to 40 digits; ranks are stored as DECIMAL(40, 0).
MAX_SEQUENCE_DIGITS = 40
#: The largest key attribute DynamoDB holds (a partition key), in UTF-8 bytes.
MAX_KEY_BYTES = 2048
#: Epoch seconds of the last second of year 9999 (UTC).
_LAST_SECOND = 253_402_300_799

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
        seq = self.sequence_id
        return int(seq) if seq.__class__ is str and _is_sequence(seq) else None


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
                    event_id = raw.get("eventID")
                    arn = raw.get("eventSourceARN")
                    identity = raw.get("userIdentity")
                    if (
                        sequence_id.__class__ is str
                        and len(sequence_id) <= MAX_SEQUENCE_DIGITS
                        and sequence_id.isdigit()
                        and sequence_id.isascii()
                        and raw_keys.__class__ is dict
                        and raw_keys
                        and (new_image is None or new_image.__class__ is dict)
                        and (old_image is None or old_image.__class__ is dict)
                        and (event_id is None
                             or (event_id.__class__ is str and event_id.isascii()))
                        and (arn is None or (arn.__class__ is str and arn.isascii()))
                        and (identity is None or identity.__class__ is dict)
                    ):
                        created = change.get("ApproximateCreationDateTime")
                        if created.__class__ is not int or created != last_time:
                            last_created = _creation_time(created)
                            last_time = created if created.__class__ is int else None
                        append(record_class(
                            kind, _decode_keys(raw_keys), int(sequence_id), sequence_id,
                            new_image, old_image, last_created, event_id, arn, identity, raw,
                        ))
                        continue
            append(parse_record(raw))
        except Exception as error:  # whatever a record holds, it is kept, with the reason
            malformed.append(MalformedRecord(index, raw, _reason(error), _sequence_id_of(raw)))
    return ParsedBatch(records, malformed)


def _decode_keys(raw_keys: Mapping[str, Any]) -> dict[str, Any]:
    """Key attributes are strings, numbers or binaries of at most 2048 bytes (DynamoDB's
    limits): the common ones, short ASCII strings, inline."""
    keys = {}
    for name, value in raw_keys.items():
        if value.__class__ is dict and len(value) == 1 and name.__class__ is str \
                and name.isascii():
            text = value.get("S")
            if text.__class__ is str and len(text) <= MAX_KEY_BYTES and text.isascii():
                keys[name] = text
                continue
        return _checked_keys(raw_keys)
    return keys


def _checked_keys(raw_keys: Mapping[str, Any]) -> dict[str, Any]:
    keys = decode_image(raw_keys, "Keys")
    for name, value in keys.items():
        if value.__class__ is str:
            size = len(value.encode("utf-8"))
        elif value.__class__ is bytes:
            size = len(value)
        elif value.__class__ in (int, Decimal):
            continue
        else:
            raise DecodeError(f"Keys.{name}", "a key attribute is a string (S), a number "
                              f"(N) or a binary (B), not {dynamodb_tag(value)}")
        if size > MAX_KEY_BYTES:
            raise DecodeError(f"Keys.{name}", f"{size} bytes: longer than any DynamoDB key "
                              f"attribute ({MAX_KEY_BYTES} bytes at most)")
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
    if not isinstance(sequence_id, str) or not (sequence_id.isascii() and sequence_id.isdigit()):
        raise ValueError(
            f"dynamodb.SequenceNumber is not a decimal string: {_short(sequence_id)}")
    if len(sequence_id) > MAX_SEQUENCE_DIGITS:
        raise ValueError(f"dynamodb.SequenceNumber has {len(sequence_id)} digits; DynamoDB's "
                         f"have at most {MAX_SEQUENCE_DIGITS}")
    raw_keys = change.get("Keys")
    if not isinstance(raw_keys, Mapping) or not raw_keys:
        raise ValueError("dynamodb.Keys is missing")
    new_image = change.get("NewImage")
    old_image = change.get("OldImage")
    for name, image in (("NewImage", new_image), ("OldImage", old_image)):
        if image is not None and not isinstance(image, Mapping):
            raise ValueError(f"dynamodb.{name} is not an object")
    identity = raw.get("userIdentity")
    if identity is not None and not isinstance(identity, Mapping):
        raise ValueError(f"userIdentity is not an object but {type(identity).__name__}")
    return ChangeRecord(
        kind=kind,
        keys=_checked_keys(raw_keys),
        sequence_number=int(sequence_id),
        sequence_id=sequence_id,
        raw_new_image=new_image,
        raw_old_image=old_image,
        created_at=_creation_time(change.get("ApproximateCreationDateTime")),
        event_id=_text_field(raw, "eventID"),
        source_arn=_text_field(raw, "eventSourceARN"),
        user_identity=identity,
        raw=raw,
    )


def _text_field(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string but {type(value).__name__}")
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"{name}: {problem}")
    return value


def scanned_item(raw_item: Mapping[str, Any], key_names: Iterable[str]) -> ChangeRecord:
    """A synthetic INSERT for an item read by a table scan (backfill, verify)."""
    raw_keys = {name: raw_item[name] for name in key_names}
    return ChangeRecord(
        kind=EventKind.INSERT,
        keys=_checked_keys(raw_keys),
        sequence_number=BACKFILL_SEQUENCE,
        sequence_id=str(BACKFILL_SEQUENCE),
        raw_new_image=raw_item,
        # a complete record, so that a dead letter of a scanned item can be replayed
        raw={"eventName": "INSERT", "dynamodb": {
            "Keys": raw_keys, "NewImage": raw_item, "SequenceNumber": str(BACKFILL_SEQUENCE)}},
    )


def _creation_time(value: Any) -> datetime.datetime | None:
    """``ApproximateCreationDateTime`` as an aware UTC datetime: epoch seconds (a number, or
    its text), or an ISO-8601 timestamp (how ``get_records`` and stored dead letters give
    it); raises ``ValueError`` for anything else, a bool, or a time before 1970 or after
    9999."""
    if value is None:
        return None
    cls = value.__class__
    if cls is str:
        if not value.replace(".", "", 1).isdigit():
            return _iso_time(value)
        if len(value) > 40:
            raise ValueError(_bad_time(value))
        seconds: Any = Decimal(value)
    elif cls is int or cls is float or cls is Decimal:
        seconds = value
    elif isinstance(value, datetime.datetime):
        return _utc(value, value)
    else:
        raise ValueError(_bad_time(value))
    if not 0 <= seconds <= _LAST_SECOND:  # NaN too
        raise ValueError(_bad_time(value))
    return datetime.datetime.fromtimestamp(float(seconds), tz=datetime.UTC)


def _iso_time(text: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_bad_time(text)) from None
    return _utc(moment, text)


def _utc(moment: datetime.datetime, value: Any) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError(_bad_time(value)) from None


def _bad_time(value: Any) -> str:
    return ("dynamodb.ApproximateCreationDateTime is not epoch seconds from 1970 to 9999 or "
            f"an ISO-8601 timestamp: {_short(value)}")


def _is_sequence(text: str) -> bool:
    return len(text) <= MAX_SEQUENCE_DIGITS and text.isascii() and text.isdigit()


def _sequence_id_of(raw: Any) -> str | None:
    try:
        value = raw["dynamodb"]["SequenceNumber"]
    except Exception:
        return None
    return value if value.__class__ is str and _is_sequence(value) else None


def _short(value: Any) -> str:
    try:
        text = reprlib.repr(value) if value.__class__ is not str else repr(value[:60])
    except Exception:
        text = f"<{type(value).__name__}>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"missing field {_short(error.args[0] if error.args else None)}"
    if isinstance(error, DecodeError | ValueError | TypeError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 1000 else text[:997] + "..."
