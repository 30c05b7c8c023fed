"""Columns derived from a projector's attrs model: what each field becomes in SQL.

The SQL adapter turns a ``Column`` into a dialect type; core only says what kind of
value the column holds, its size, and how to turn a field value into a value a database
driver accepts. Per-field control goes through ``column(...)`` in the field's metadata.
"""

from __future__ import annotations

import collections.abc
import datetime
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


#: Defaults chosen so DynamoDB values fit: a key string must be indexable, others may be long.
KEY_STRING_LENGTH = 255
DEFAULT_DECIMAL = (38, 10)
DEFAULT_ENUM_PADDING = 0


def columns_of(model: type, key: tuple[str, ...]) -> tuple[Column, ...]:
    """The columns of ``model`` (an attrs class), in field order, key fields marked."""
    if not attrs.has(model):
        raise UnmappableField(f"{model!r} is not an attrs class: decorate it with @attrs.frozen")
    hints = typing.get_type_hints(model)
    fields = attrs.fields(model)
    names = {f.name for f in fields}
    for name in key:
        if name not in names:
            raise UnmappableField(
                f"{model.__name__}: key field {name!r} is not a field of the model; "
                f"key must name fields among {sorted(names)}"
            )
    return tuple(_column(model, f, hints.get(f.name, f.type), f.name in key) for f in fields)


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
        return ColumnKind.JSON, jsontext.dumps, None
    raise UnmappableField(
        f"{model.__name__}.{name}: no column type for annotation {hint!r}; annotate it as one "
        "of int, Decimal, float, str, bool, bytes, datetime, date, an Enum, a list/dict/set or "
        "an attrs class (stored as JSON), or give attrs.field(metadata=column(kind=...))"
    )


def _enum_kind(hint: type[enum.Enum]) -> tuple[ColumnKind, Callable[[Any], Any], int | None]:
    values = [member.value for member in hint]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return ColumnKind.INTEGER, _enum_value, None
    if all(isinstance(v, str) for v in values):
        return ColumnKind.STRING, _enum_value, max(64, *(len(v) for v in values))
    raise UnmappableField(f"{hint.__name__}: an Enum column needs all-str or all-int values")


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _utc_naive(value: datetime.datetime) -> datetime.datetime:
    """SQL DATETIME has no zone: store UTC wall time, microseconds kept."""
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC).replace(tzinfo=None)


