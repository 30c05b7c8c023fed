"""Columns derived from a projector's attrs model: what each field becomes in SQL.

The SQL adapter turns a ``Column`` into a dialect type; core only says what kind of
value the column holds, its size, and how to turn a field value into a value a database
driver accepts. Per-field control goes through ``column(...)`` in the field's metadata.
"""

from __future__ import annotations

import collections.abc
import datetime
import difflib
import enum
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from core import jsontext

__all__ = ["Column", "ColumnKind", "ColumnOverride", "UnmappableField", "column", "columns_of"]

_METADATA_KEY = "ddbproj"


class ColumnKind(enum.Enum):
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    STRING = "string"
    TEXT = "text"
    BOOLEAN = "boolean"
    BINARY = "binary"
    DATETIME = "datetime"
    DATE = "date"
    JSON = "json"


class UnmappableField(TypeError):
    """A field whose annotation has no column type; the message says what to write."""


@attrs.frozen
class ColumnOverride:
    name: str | None = None
    kind: ColumnKind | None = None
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    sql_type: str | None = None


def column(
    *,
    name: str | None = None,
    kind: ColumnKind | str | None = None,
    length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    sql_type: str | None = None,
) -> dict[str, ColumnOverride]:
    """Field metadata that overrides the derived column: ``attrs.field(metadata=column(...))``.

    ``sql_type`` is a literal type for the DDL (``"DECIMAL(12, 2)"``); prefer ``kind``,
    ``length``, ``precision`` and ``scale``, which also keep the other dialects working.
    """
    resolved = ColumnKind(kind) if isinstance(kind, str) else kind
    return {_METADATA_KEY: ColumnOverride(name, resolved, length, precision, scale, sql_type)}


@attrs.frozen
class Column:
    """One SQL column of a projected table."""

    name: str
    field: str
    kind: ColumnKind
    nullable: bool
    primary_key: bool = False
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    sql_type: str | None = None
    to_sql: Callable[[Any], Any] | None = attrs.field(default=None, eq=False, repr=False)

    def describe(self) -> str:
        size = f"({self.length})" if self.length else ""
        if self.precision is not None:
            size = f"({self.precision}, {self.scale or 0})"
        return self.sql_type or f"{self.kind.value}{size}"


#: The column in which each projected row keeps the sequence number that wrote it.
RESERVED_COLUMN = "ddbproj_seq"

#: Defaults chosen so DynamoDB values fit: a key string must be indexable, others may be long.
KEY_STRING_LENGTH = 255
DEFAULT_DECIMAL = (38, 10)
DEFAULT_ENUM_PADDING = 0


def columns_of(model: type, key: tuple[str, ...]) -> tuple[Column, ...]:
    """The columns of ``model`` (an attrs class), in field order, key fields marked."""
    if not attrs.has(model):
        raise UnmappableField(f"{model!r} is not an attrs class: decorate it with @attrs.frozen")
    try:
        hints = typing.get_type_hints(model)
    except NameError as error:
        raise UnmappableField(
            f"{model.__name__}: an annotation names something not defined at run time "
            f"({error}); import it at module level, not under 'if TYPE_CHECKING:'"
        ) from None
    fields = attrs.fields(model)
    names = {f.name for f in fields}
    for name in key:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean key = ({close[0]!r},)? " if close else ""
            raise UnmappableField(
                f"{model.__name__}: key field {name!r} is not a field of the model; "
                f"{hint}key must name fields among {sorted(names)}"
            )
    columns = tuple(_column(model, f, hints.get(f.name, f.type), f.name in key) for f in fields)
    seen: dict[str, str] = {}
    for col in columns:
        if col.name.lower() == RESERVED_COLUMN:
            raise UnmappableField(
                f"{model.__name__}.{col.field}: the column name {col.name!r} is ddbproj's own "
                "(the sequence number of each row); rename the field or give "
                "attrs.field(metadata=column(name=...))"
            )
        other = seen.get(col.name.lower())
        if other is not None:
            raise UnmappableField(
                f"{model.__name__}: fields {other!r} and {col.field!r} both map to the column "
                f"{col.name!r}; give one attrs.field(metadata=column(name=...)) another name"
            )
        seen[col.name.lower()] = col.field
    return columns


def _column(model: type, field: attrs.Attribute[Any], hint: Any, is_key: bool) -> Column:
    override: ColumnOverride = field.metadata.get(_METADATA_KEY) or ColumnOverride()
    inner, nullable = _unwrap_optional(hint)
    kind, to_sql, length = _kind_of(model, field.name, inner, is_key)
    if override.kind is not None:
        kind = override.kind
        if kind is ColumnKind.JSON:
            to_sql = jsontext.dumps
    if is_key and nullable:
        raise UnmappableField(
            f"{model.__name__}.{field.name}: a key field cannot be Optional; drop the '| None'"
        )
    if is_key and kind in (ColumnKind.TEXT, ColumnKind.JSON):
        raise UnmappableField(
            f"{model.__name__}.{field.name}: a key column cannot be {kind.value}; "
            "use str, int, Decimal, bytes, date or datetime"
        )
    precision, scale = override.precision, override.scale
    if kind is ColumnKind.DECIMAL and precision is None:
        precision, scale = DEFAULT_DECIMAL
    return Column(
        name=override.name or field.name,
        field=field.name,
        kind=kind,
        nullable=nullable,
        primary_key=is_key,
        length=override.length or length,
        precision=precision,
        scale=scale,
        sql_type=override.sql_type,
        to_sql=to_sql,
    )


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        return hint, len(args) != len(typing.get_args(hint))
    return hint, False


def _kind_of(
    model: type, name: str, hint: Any, is_key: bool
) -> tuple[ColumnKind, Callable[[Any], Any] | None, int | None]:
    if hint is bool:
        return ColumnKind.BOOLEAN, None, None
    if hint is int:
        return ColumnKind.INTEGER, None, None
    if hint is Decimal:
        return ColumnKind.DECIMAL, None, None
    if hint is float:
        return ColumnKind.FLOAT, None, None
    if hint is str:
        if is_key:
            return ColumnKind.STRING, None, KEY_STRING_LENGTH
        return ColumnKind.TEXT, None, None
    if hint is bytes:
        return (ColumnKind.BINARY, None, KEY_STRING_LENGTH if is_key else None)
    if hint is datetime.datetime:
        return ColumnKind.DATETIME, _utc_naive, None
    if hint is datetime.date:
        return ColumnKind.DATE, None, None
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_kind(hint)
    origin = typing.get_origin(hint) or hint
    json_origins = (list, tuple, set, frozenset, dict, collections.abc.Mapping,
                    collections.abc.Sequence, collections.abc.Set)
    if origin in json_origins or attrs.has(hint) or hint is typing.Any:
        return ColumnKind.JSON, jsontext.writer_for(hint), None
    raise UnmappableField(f"{model.__name__}.{name}: no column type for annotation "
                          f"{_annotation_text(hint)}; {_advice(name, hint)}")


_SUPPORTED = ("annotate it as one of int, Decimal, float, str, bool, bytes, datetime, date, "
              "an Enum, or a list/dict/set/tuple or attrs class (stored as JSON), each "
              "optionally '| None'")


def _annotation_text(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _advice(name: str, hint: Any) -> str:
    """What to write instead, for the annotations people reach for first."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        choices = [_annotation_text(a) for a in typing.get_args(hint) if a is not type(None)]
        return (f"a column holds one type: choose one of {', '.join(choices)} (with '| None' "
                "when the attribute may be absent), or store it as JSON with typing.Any")
    if hint is datetime.time:
        return f"DynamoDB has no time type: annotate it '{name}: str' (ISO text) instead"
    if isinstance(hint, type) and hint.__module__ == "uuid":
        return f"DynamoDB stores it as text: annotate it '{name}: str' instead"
    if hint is complex or hint is object:
        return f"DynamoDB has no such type: {_SUPPORTED}"
    return _SUPPORTED


def _enum_kind(hint: type[enum.Enum]) -> tuple[ColumnKind, Callable[[Any], Any], int | None]:
    values = [member.value for member in hint]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return ColumnKind.INTEGER, _enum_value, None
    if all(isinstance(v, str) for v in values):
        return ColumnKind.STRING, _enum_value, max(64, *(len(v) for v in values))
    raise UnmappableField(
        f"{hint.__name__}: an Enum column needs all-str or all-int values (DynamoDB stores "
        "them as S or N); make the values of every member one of the two"
    )


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _utc_naive(value: datetime.datetime) -> datetime.datetime:
    """SQL DATETIME has no zone: store UTC wall time, microseconds kept."""
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC).replace(tzinfo=None)


