"""Building DynamoDB stream events from plain Python values or attrs models, for tests and
demos.

Records are encoded exactly as DynamoDB writes them into a Lambda event (the encoding of
boto3's serializer, binaries as base64), with increasing sequence numbers, so nobody
hand-writes ``{"N": "17"}``::

    event = stream_event(insert(user), modify(user, older), remove(user))

An attrs object is encoded through its projector, so the item looks as the table's
writers store it: DynamoDB attribute names, the entity-type attribute, and the keys —
``PK="USER#1", SK="USER"`` by default (``<ENTITY TYPE>#<key values>`` and the entity type,
upper-cased); pass ``PK=...``, ``SK=...`` (or any other attribute) to set them.
"""

from __future__ import annotations

import contextvars
import datetime
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ddbproj.core.converter import make_converter
from ddbproj.core.dynamodb_json import encode_image
from ddbproj.core.projector import Projector, dynamodb_names
from ddbproj.core.registry import DEFAULT_TYPE_ATTRIBUTE, ProjectorRegistry

__all__ = [
    "DEFAULT_SEQUENCE_START",
    "Change",
    "StreamEventBuilder",
    "current_builder",
    "insert",
    "item_of",
    "modify",
    "remove",
    "reset_builder",
    "stream_event",
    "use_builder",
]

#: Shaped like real sequence numbers: 21+ digits, beyond 64 bits.
DEFAULT_SEQUENCE_START = 10_700_000_000_000_000_000_000
_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
_VIEWS_WITH_NEW = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
_VIEWS_WITH_OLD = ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")


@attrs.frozen
class Change:
    """One item change not yet numbered: what ``insert``/``modify``/``remove`` return.

    The sequence number is given when the change is built into an event, so changes made
    in any order are numbered in the order the event lists them.
    """

    kind: str
    new: Any = None
    old: Any = None
    attributes: Mapping[str, Any] = attrs.field(factory=dict)
    projector: type[Projector[Any]] | None = None
    ttl: bool = False
    keys_only: bool = False


def insert(item: Any, /, *, projector: type[Projector[Any]] | None = None,
           **attributes: Any) -> Change:
    """An INSERT of ``item`` (a dict of attributes or an attrs model object)."""
    return Change("INSERT", new=item, attributes=attributes, projector=projector)


def modify(old: Any, new: Any, /, *, projector: type[Projector[Any]] | None = None,
           **attributes: Any) -> Change:
    """A MODIFY from ``old`` to ``new``; ``attributes`` (keys, say) apply to both images."""
    return Change("MODIFY", new=new, old=old, attributes=attributes, projector=projector)


def remove(item: Any, /, *, ttl: bool = False, keys_only: bool = False,
           projector: type[Projector[Any]] | None = None, **attributes: Any) -> Change:
    """A REMOVE. The whole old item becomes the OldImage; a dict holding only the key
    attributes (or ``keys_only=True``) gives a record with ``Keys`` alone, as a stream of
    view type KEYS_ONLY does. ``ttl=True`` marks a deletion by DynamoDB's TTL."""
    return Change("REMOVE", old=item, attributes=attributes, projector=projector, ttl=ttl,
                  keys_only=keys_only)


def stream_event(*changes: Change | Mapping[str, Any]) -> dict[str, Any]:
    """A Lambda event of ``changes``, numbered by the current builder (see ``use_builder``)."""
    return current_builder().stream_event(*changes)


class StreamEventBuilder:
    """Makes stream records with increasing sequence numbers; ``event()`` wraps them.

    ``registry`` tells how attrs objects are encoded (their projector, the entity-type
    attribute); without it the projector is found among all ``Projector`` subclasses.
    """

    def __init__(
        self,
        *,
        registry: ProjectorRegistry | None = None,
        type_attribute: str | None = None,
        key_names: tuple[str, ...] = ("PK", "SK"),
        start_sequence: int = DEFAULT_SEQUENCE_START,
        view_type: str = "NEW_AND_OLD_IMAGES",
        source_arn: str = (
            "arn:aws:dynamodb:ap-northeast-1:123456789012:table/app/stream/2024-01-01T00:00:00.000"
        ),
        created_at: datetime.datetime | None = None,
    ) -> None:
        self.registry = registry
        self._type_attribute = type_attribute
        self.key_names = key_names
        self.view_type = view_type
        self.source_arn = source_arn
        self.created_at = created_at
        self._sequence = itertools.count(start_sequence)

    @property
    def type_attribute(self) -> str:
        if self._type_attribute is not None:
            return self._type_attribute
        return self.registry.type_attribute if self.registry else DEFAULT_TYPE_ATTRIBUTE

    def next_sequence(self) -> int:
        return next(self._sequence)

    # -- records, numbered now --------------------------------------------------------

    def insert(self, item: Any, *, projector: type[Projector[Any]] | None = None,
               **attributes: Any) -> dict[str, Any]:
        return self.record(insert(item, projector=projector, **attributes))

    def modify(self, old: Any, new: Any, *, projector: type[Projector[Any]] | None = None,
               **attributes: Any) -> dict[str, Any]:
        return self.record(modify(old, new, projector=projector, **attributes))

    def remove(self, item: Any, *, ttl: bool = False, keys_only: bool = False,
               projector: type[Projector[Any]] | None = None,
               **attributes: Any) -> dict[str, Any]:
        """A REMOVE; pass the whole old item (it is the OldImage) or only its keys."""
        return self.record(remove(item, ttl=ttl, keys_only=keys_only, projector=projector,
                                  **attributes))

    def event(self, records: Iterable[Change | Mapping[str, Any]]) -> dict[str, Any]:
        return {"Records": [self._numbered(r) for r in records]}

    def stream_event(self, *changes: Change | Mapping[str, Any]) -> dict[str, Any]:
        """A Lambda event of ``changes`` (or records already built), in the given order."""
        return self.event(changes)

    def record(self, change: Change) -> dict[str, Any]:
        """Number ``change`` and encode it as a Lambda stream record."""
        new = self.item(change.new, change.projector, change.attributes)
        old = self.item(change.old, change.projector, change.attributes)
        source = new if new is not None else old
        if source is None:
            raise ValueError(f"a {change.kind} needs an item")
        keys = {name: source[name] for name in self.key_names if name in source}
        if change.kind == "REMOVE" and (change.keys_only or set(source) <= set(self.key_names)):
            old = None
        return self._record(change.kind, new=new, old=old, keys=keys, ttl=change.ttl)

    def item(self, value: Any, projector: type[Projector[Any]] | None = None,
             attributes: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The DynamoDB item (plain values) of a dict or an attrs object."""
        if value is None:
            return None
        if attrs.has(type(value)):
            found = projector or self._projector_of(type(value))
            return item_of(value, found, type_attribute=self.type_attribute,
                           key_names=self.key_names, attributes=attributes)
        if isinstance(value, Mapping):
            return {**value, **(attributes or {})}
        raise TypeError(
            f"cannot make a DynamoDB item of {type(value).__name__}: pass a dict of "
            "attributes or an object of a projector's attrs model"
        )

    def _numbered(self, record: Change | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(record, Change):
            return self.record(record)
        return dict(record)

    def _projector_of(self, model: type) -> type[Projector[Any]]:
        if self.registry is not None:
            found = [c.projector for c in self.registry if c.model is model]
        else:
            found = [p for p in _projector_classes() if getattr(p, "model", None) is model]
        if len(found) == 1:
            return found[0]
        names = ", ".join(sorted(p.__qualname__ for p in found))
        if found:
            raise LookupError(
                f"{model.__qualname__} is the model of several projectors ({names}); "
                "say which: insert(obj, projector=TheProjector)"
            )
        raise LookupError(
            f"no projector has the model {model.__qualname__}: register one, or pass "
            "insert(obj, projector=TheProjector)"
        )

    def _record(
        self,
        kind: str,
        *,
        new: Mapping[str, Any] | None,
        old: Mapping[str, Any] | None,
        keys: Mapping[str, Any],
        ttl: bool,
    ) -> dict[str, Any]:
        sequence = self.next_sequence()
        created = self.created_at or datetime.datetime.now(datetime.UTC)
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": int(created.timestamp()),
            "Keys": encode_image(keys),
            "SequenceNumber": str(sequence),
            "SizeBytes": 100,
            "StreamViewType": self.view_type,
        }
        if new is not None and self.view_type in _VIEWS_WITH_NEW:
            change["NewImage"] = encode_image(new)
        if old is not None and self.view_type in _VIEWS_WITH_OLD:
            change["OldImage"] = encode_image(old)
        record: dict[str, Any] = {
            "eventID": f"{sequence:x}",
            "eventName": kind,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "ap-northeast-1",
            "dynamodb": change,
            "eventSourceARN": self.source_arn,
        }
        if ttl:
            record["userIdentity"] = dict(_TTL_IDENTITY)
        return record


def item_of(
    obj: Any,
    projector: type[Projector[Any]],
    *,
    type_attribute: str = DEFAULT_TYPE_ATTRIBUTE,
    key_names: tuple[str, ...] = ("PK", "SK"),
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The item a writer of the DynamoDB table stores for ``obj``: the inverse of what
    ``projector`` reads. ``attributes`` set or replace attributes (keys, say)."""
    plain = _CONVERTER.unstructure(obj, projector.model)
    names = dynamodb_names(projector)
    item: dict[str, Any] = {}
    entity = projector.entity_type.upper()
    key_values = "#".join(_key_text(plain[name]) for name in projector.key)
    defaults = [f"{entity}#{key_values}", entity]
    for name, default in zip(key_names, defaults, strict=False):
        item[name] = default
    item[type_attribute] = projector.entity_type
    for field, value in plain.items():
        if not _is_empty_set(value):
            item[names[field]] = _without_empty_sets(value)
    item.update(attributes or {})
    return item


# -- the builder numbering module-level helpers ---------------------------------------

_current: contextvars.ContextVar[StreamEventBuilder] = contextvars.ContextVar("ddbproj_builder")
_default = StreamEventBuilder()


def current_builder() -> StreamEventBuilder:
    """The builder ``stream_event`` numbers with: the one ``use_builder`` installed (the
    pytest plugin installs one per test), else a process-wide default."""
    return _current.get(_default)


def use_builder(builder: StreamEventBuilder) -> contextvars.Token[StreamEventBuilder]:
    """Make ``builder`` number the module-level helpers; undo with ``reset_builder``."""
    return _current.set(builder)


def reset_builder(token: contextvars.Token[StreamEventBuilder]) -> None:
    _current.reset(token)


_CONVERTER = make_converter()


def _projector_classes() -> Iterator[type[Projector[Any]]]:
    seen: set[type] = set()
    pending: list[type[Projector[Any]]] = list(Projector.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if hasattr(cls, "entity_type"):
            yield cls


def _key_text(value: Any) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _is_empty_set(value: Any) -> bool:
    """DynamoDB has no empty sets: the writer leaves the attribute out (the model's default
    fills it when read)."""
    return isinstance(value, set | frozenset) and not value


def _without_empty_sets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_empty_sets(v) for k, v in value.items() if not _is_empty_set(v)}
    if isinstance(value, list | tuple):
        return [_without_empty_sets(v) for v in value]
    return value
