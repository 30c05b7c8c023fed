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
import math
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from ddbproj.core import jsontext
from ddbproj.core.codegen import compile_function
from ddbproj.core.errors import ProjectorError

__all__ = [
    "Column",
    "ColumnKind",
    "ColumnOverride",
    "UnmappableField",
    "column",
    "columns_of",
    "fit_checker",
    "value_check",
]

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


class UnmappableField(ProjectorError):
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
    try:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)
    except OverflowError:
        return value  # still aware: the column's check refuses it, naming the column




# -- what a column stores exactly ----------------------------------------------------------

#: The 64-bit range of an INTEGER column (BIGINT).
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
#: MEDIUMTEXT and MEDIUMBLOB, the columns of strings and binaries without a length: bytes.
MEDIUM_BYTES = 16_777_215
#: VARCHAR length of a string column that gives none (the SQL adapter's default).
DEFAULT_STRING_LENGTH = 255
#: Integers a double holds exactly.
_FLOAT_EXACT = 2**53

ValueCheck = Callable[[Any], "str | None"]


def value_check(col: Column) -> ValueCheck:
    """The check of one column's non-null (SQL-ready) values: None when the column stores
    the value exactly, else why not. A strict server would refuse some of these values and
    fail the whole batch; a lenient one would round or cut them (a decimal key rounded onto
    another item's row)."""
    if col.sql_type is not None:
        return _anything
    kind = col.kind
    if kind is ColumnKind.INTEGER:
        return _integer
    if kind is ColumnKind.DECIMAL:
        return _decimal(col.precision or DEFAULT_DECIMAL[0],
                        col.scale if col.scale is not None else 0)
    if kind is ColumnKind.FLOAT:
        return _float
    if kind is ColumnKind.STRING:
        return _text(col.length or DEFAULT_STRING_LENGTH, None)
    if kind is ColumnKind.TEXT:
        return _text(col.length, MEDIUM_BYTES)
    if kind is ColumnKind.BOOLEAN:
        return _boolean
    if kind is ColumnKind.BINARY:
        return _binary(col.length or MEDIUM_BYTES)
    if kind is ColumnKind.DATETIME:
        return _datetime
    if kind is ColumnKind.DATE:
        return _date
    return _json_text


def _anything(_: Any) -> None:
    return None


def _wrong(value: Any, expected: str) -> str:
    return f"expected {expected}, got {type(value).__name__}"


def _integer(value: Any) -> str | None:
    if value.__class__ is not int:
        return _wrong(value, "an integer")
    if BIGINT_MIN <= value <= BIGINT_MAX:
        return None
    shown = value if -10**60 < value < 10**60 else f"{value:.6E}"
    return (f"{shown} does not fit a 64-bit integer column; annotate the field as Decimal "
            "or give it column(kind='decimal', precision=38, scale=0)")


def _decimal(precision: int, scale: int) -> ValueCheck:
    bound = 10 ** (precision - scale)
    too_wide = (f"does not fit DECIMAL({precision}, {scale}) without rounding; widen it "
                "with column(precision=..., scale=...)")

    def check(value: Any) -> str | None:
        cls = value.__class__
        if cls is int:
            return None if -bound < value < bound else f"{_number(value)} {too_wide}"
        if cls is not Decimal:
            return _wrong(value, "a decimal number")
        if not value.is_finite():
            return f"{value} is not a finite number"
        _, digits, exponent = value.as_tuple()
        below = -scale - int(exponent)  # digits finer than the scale: zeros, or it rounds
        if (below > 0 and any(digits[-below:])) or not -bound < value < bound:
            return f"{_number(value)} {too_wide}"
        return None

    return check


def _number(value: Any) -> str:
    return str(value) if -10**60 < value < 10**60 else f"{value:.6E}"


def _float(value: Any) -> str | None:
    cls = value.__class__
    if cls is float:
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if cls is int:
        if -_FLOAT_EXACT <= value <= _FLOAT_EXACT:
            return None
        return f"{_number(value)} does not fit a float column exactly"
    if cls is Decimal:
        if value.is_finite() and Decimal(float(value)) == value:
            return None
        return f"{_number(value)} does not fit a float column exactly"
    return _wrong(value, "a number")


def _text(length: int | None, max_bytes: int | None) -> ValueCheck:
    def check(value: Any) -> str | None:
        if value.__class__ is not str:
            return _wrong(value, "a string")
        if length is not None and len(value) > length:
            return (f"{len(value)} characters exceed the column length {length}; raise "
                    "column(length=...)")
        if not value.isascii():
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:
                return _surrogate(value)
        else:
            size = len(value)
        if max_bytes is not None and size > max_bytes:
            return f"{size} bytes of UTF-8 exceed the column's {max_bytes}"
        return None

    return check


def _surrogate(value: str) -> str:
    index = next(i for i, c in enumerate(value) if "\ud800" <= c <= "\udfff")
    return (f"lone surrogate U+{ord(value[index]):04X} at character {index}: not valid "
            "Unicode, and MySQL's utf8mb4 cannot store it")


def _boolean(value: Any) -> str | None:
    return None if value.__class__ is bool else _wrong(value, "a boolean")


def _binary(length: int) -> ValueCheck:
    def check(value: Any) -> str | None:
        if value.__class__ is not bytes:
            return _wrong(value, "bytes")
        if len(value) > length:
            return f"{len(value)} bytes exceed the column length {length}; raise column(length=...)"
        return None

    return check


def _datetime(value: Any) -> str | None:
    if not isinstance(value, datetime.datetime):
        return _wrong(value, "a datetime")
    if value.tzinfo is not None:
        return f"{value.isoformat()} is outside years 1 to 9999 once converted to UTC"
    return None


def _date(value: Any) -> str | None:
    if value.__class__ is datetime.datetime or not isinstance(value, datetime.date):
        return _wrong(value, "a date")
    return None


def _json_text(value: Any) -> str | None:
    if value.__class__ is not str:
        return _wrong(value, "JSON text")
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _surrogate(value)
    return None


def fit_checker(
    columns: tuple[Column, ...], *, about: str
) -> Callable[[tuple[Any, ...]], str | None]:
    """A function of a tuple of ``columns``' SQL-ready values: None when every column
    stores its value exactly, else the first problem, naming the column. Generated: the
    common values (64-bit ints, short ASCII text, bools, naive datetimes) are accepted
    inline; any other goes through its column's ``value_check``, which explains it."""
    checks = [value_check(col) for col in columns]
    namespace: dict[str, Any] = {"explain": _explainer(columns, checks), "datetime":
                                 datetime.datetime, "date": datetime.date}
    conditions = []
    for index, col in enumerate(columns):
        namespace[f"check_{index}"] = checks[index]
        value = f"v_{index}"
        test = _inline_test(col, value, checks[index], index)
        conditions.append(f"({value} is None or {test})" if col.nullable else f"({test})")
    names = ", ".join(f"v_{i}" for i in range(len(columns)))
    body = " and\n            ".join(conditions) or "True"
    source = (f"def check(values):\n"
              f"    if len(values) != {len(columns)}:\n"
              f"        return explain(values)\n"
              f"    ({names}{',' if len(columns) == 1 else ''}) = values\n"
              f"    if ({body}):\n"
              f"        return None\n"
              f"    return explain(values)\n") if columns else (
              "def check(values):\n    return None if not values else explain(values)\n")
    return compile_function("check", source, namespace, about=about)


def _inline_test(col: Column, value: str, check: ValueCheck, index: int) -> str:
    if check is _anything:
        return f"{value} is not None"
    if check is _integer:
        return f"({value}.__class__ is int and {BIGINT_MIN} <= {value} <= {BIGINT_MAX})"
    if check is _boolean:
        return f"{value}.__class__ is bool"
    if check is _datetime:
        return f"({value}.__class__ is datetime and {value}.tzinfo is None)"
    if check is _date:
        return f"{value}.__class__ is date"
    if col.kind in (ColumnKind.STRING, ColumnKind.TEXT):
        limit = col.length or (DEFAULT_STRING_LENGTH if col.kind is ColumnKind.STRING else None)
        if limit is None or limit > MEDIUM_BYTES:
            limit = MEDIUM_BYTES
        return (f"({value}.__class__ is str and {value}.isascii() and len({value}) <= {limit})"
                f" or check_{index}({value}) is None")
    if check is _json_text:
        return f"({value}.__class__ is str and {value}.isascii()) or check_{index}({value}) is None"
    return f"check_{index}({value}) is None"


def _explainer(
    columns: tuple[Column, ...], checks: list[ValueCheck]
) -> Callable[[tuple[Any, ...]], str | None]:
    def explain(values: tuple[Any, ...]) -> str | None:
        if len(values) != len(columns):
            return (f"expected {len(columns)} values for the columns "
                    f"{[c.name for c in columns]}, got {len(values)}")
        for col, check, value in zip(columns, checks, values, strict=True):
            if value is None:
                if not col.nullable:
                    return f"column {col.name!r}: required attribute is null"
                continue
            problem = check(value)
            if problem is not None:
                return f"column {col.name!r}: {problem}"
        return None

    return explain
