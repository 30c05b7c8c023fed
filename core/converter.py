"""The cattrs converter with DynamoDB-aware hooks, and readable structuring errors.

Decoded DynamoDB values are already ``int``/``Decimal``/``str``/``bytes``/``bool``; the
hooks here accept exactly what DynamoDB can hold for each annotation and never coerce
silently (a string is not a number). ``float`` is produced only when a field says so.
"""

from __future__ import annotations

import datetime
import enum
import math
import reprlib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from ddbproj.core.dynamodb_json import decode_number, decode_value, text_problem

__all__ = [
    "StructureError",
    "describe_error",
    "dynamodb_tag",
    "make_converter",
    "make_typed_converter",
]


class StructureError(ValueError):
    """A value that does not fit its annotation; the message says expected vs got."""


def make_converter(*, detailed_validation: bool = True) -> cattrs.Converter:
    """A converter for decoded DynamoDB images. Build your own to add hooks."""
    converter = cattrs.Converter(detailed_validation=detailed_validation)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(Decimal, _structure_decimal)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(bytes, _structure_bytes)
    converter.register_structure_hook(datetime.datetime, _structure_datetime)
    converter.register_structure_hook(datetime.date, _structure_date)
    converter.register_structure_hook_func(_is_enum, _structure_enum)
    converter.register_unstructure_hook(Decimal, lambda d: d)
    converter.register_unstructure_hook(bytes, lambda b: b)
    converter.register_unstructure_hook(datetime.datetime, lambda d: d)
    converter.register_unstructure_hook(datetime.date, lambda d: d)
    return converter


def dynamodb_tag(value: Any) -> str:
    """The DynamoDB type tag a decoded value came from, for error messages."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int | Decimal):
        return "N"
    if isinstance(value, str):
        return "S"
    if isinstance(value, bytes):
        return "B"
    if isinstance(value, Mapping):
        return "M"
    if isinstance(value, list):
        return "L"
    if isinstance(value, set | frozenset):
        sample = next(iter(value), "")
        if isinstance(sample, int | Decimal):
            return "NS"
        return "BS" if isinstance(sample, bytes) else "SS"
    return type(value).__name__


#: Numbers shown in scientific notation in messages (``str`` of a huge int may fail).
_HUGE = 10**60


def _got(value: Any) -> str:
    """What came, as the item's writer would recognise it: ``got S "x"``, ``got N 1.5``."""
    if isinstance(value, str):
        text = '"' + value[:40] + '"'
    elif isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        text = str(value) if -_HUGE < value < _HUGE else f"{value:.6E}"
    else:
        text = reprlib.repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"got {dynamodb_tag(value)} {text}"


def _structure_int(value: Any, _: type) -> int:
    if value.__class__ is int:
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    what = "an integer" if isinstance(value, Decimal) else "a number"
    raise StructureError(f"expected {what}, {_got(value)}")


def _structure_decimal(value: Any, _: type) -> Decimal:
    if value.__class__ is Decimal:
        return value
    if value.__class__ is int:
        return Decimal(value)
    raise StructureError(f"expected a number, {_got(value)}")


def _structure_float(value: Any, _: type) -> float:
    if value.__class__ in (int, Decimal, float):
        number = float(value)
        if math.isfinite(number):
            return number
        raise StructureError(f"expected a number that fits a float, {_got(value)}")
    raise StructureError(f"expected a number, {_got(value)}")


def _structure_str(value: Any, _: type) -> str:
    if value.__class__ is str:
        if value.isascii():
            return value
        problem = text_problem(value)
        if problem is None:
            return value
        raise StructureError(f"expected a string, got S with a {problem}")
    raise StructureError(f"expected a string, {_got(value)}")


def _structure_bool(value: Any, _: type) -> bool:
    if value is True or value is False:
        return value
    raise StructureError(f"expected a boolean, {_got(value)}")


def _structure_bytes(value: Any, _: type) -> bytes:
    if value.__class__ is bytes:
        return value
    raise StructureError(f"expected a binary, {_got(value)}")


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
#: Epoch seconds of the first and the last second a datetime holds (years 1 to 9999, UTC).
_FIRST_SECOND = -62_135_596_800
_LAST_SECOND = 253_402_300_799


def _structure_datetime(value: Any, _: type) -> datetime.datetime:
    """ISO-8601 text or epoch seconds; naive values are taken as UTC. The instant must be
    within years 1 to 9999 in UTC, where it is stored (``9999-12-31T23:59:59-05:00`` is
    not)."""
    if value.__class__ is str:
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise StructureError(f"expected an ISO-8601 timestamp, {_got(value)}") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=datetime.UTC)
        if parsed.year in (1, 9999):
            try:
                parsed.astimezone(datetime.UTC)
            except OverflowError:
                raise StructureError(
                    f"expected a timestamp within years 1 to 9999 in UTC, {_got(value)}"
                ) from None
        return parsed
    if value.__class__ in (int, Decimal):
        if not _FIRST_SECOND <= value <= _LAST_SECOND:
            raise StructureError(
                f"expected epoch seconds within years 1 to 9999, {_got(value)}")
        whole = int(value)
        return _EPOCH + datetime.timedelta(
            seconds=whole, microseconds=int((value - whole) * 1_000_000))
    raise StructureError(f"expected a timestamp (ISO text or epoch seconds), {_got(value)}")


def _structure_date(value: Any, _: type) -> datetime.date:
    if value.__class__ is str:
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise StructureError(f"expected an ISO-8601 date, {_got(value)}")


def _is_enum(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, enum.Enum)


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    """The member whose value is ``value`` and of its type: ``True`` is not the member 1
    (nor ``1.0``, nor ``Decimal(1)``), though Python compares them equal."""
    try:
        member = cls(value)
    except (ValueError, TypeError):
        member = None
    if member is not None and member.value.__class__ is value.__class__:
        return member
    allowed = ", ".join(repr(m.value) for m in cls)
    if len(allowed) > 200:
        allowed = allowed[:197] + "..."
    raise StructureError(f"expected one of {allowed}, {_got(value)}") from None


# -- errors ------------------------------------------------------------------------------


def describe_error(error: BaseException, renames: Mapping[str, str] | None = None) -> str:
    """One line per failure: ``attribute 'Address.Zip': expected a string, got N 1``.

    ``renames`` maps Python field names to DynamoDB attribute names, so the path is the
    one the writer of the item knows.
    """
    lines = []
    for path, leaf in _leaves(error, []):
        if path:
            first = (renames or {}).get(path[0], path[0])
            text = first + "".join(p if p.startswith("[") else "." + p for p in path[1:])
            where = f"attribute {text!r}: "
        else:
            where = ""
        lines.append(where + _leaf_text(leaf))
    return "; ".join(lines) if lines else str(error)


def _leaves(error: BaseException, path: list[str]) -> Iterator[tuple[list[str], BaseException]]:
    if isinstance(error, ClassValidationError | IterableValidationError):
        with_notes, without = error.group_exceptions()
        for inner, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                yield from _leaves(inner, [*path, note.name])
            elif isinstance(note, IterableValidationNote):
                yield from _leaves(inner, [*path, f"[{note.index}]"])
            else:
                yield from _leaves(inner, path)
        for inner in without:
            yield from _leaves(inner, path)
    elif isinstance(error, BaseExceptionGroup):
        for member in error.exceptions:
            yield from _leaves(member, path)
    else:
        yield path, error


def _leaf_text(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return "required attribute is missing"
    if isinstance(error, ForbiddenExtraKeysError):
        return f"unexpected attributes {sorted(error.extra_fields)}"
    if isinstance(error, StructureError):
        return str(error)
    if isinstance(error, TypeError | ValueError | AttributeError):
        return f"invalid value ({error})"
    return f"{type(error).__name__}: {error}"


# -- structuring straight from DynamoDB JSON ----------------------------------------------


class _NotPlain(Exception):
    """A value the typed fast path does not read itself; the caller takes the slow path."""


def make_typed_converter(plain: cattrs.Converter) -> cattrs.Converter:
    """A converter whose input is the DynamoDB JSON of a value (``{"N": "17"}``).

    Built for the converter ``make_converter`` returns (``plain``). Strings, integers,
    booleans, decimals, enums, timestamps, nested attrs classes (``M``), lists (``L``) and
    string sets (``SS``) are read in place, through hooks generated once per class; any
    other value is decoded and handed to ``plain``. It saves the decoded copy of every
    image on the hot path. It never explains a failure: the caller then decodes the image
    and structures it with the detailed converter, for the exact error message.
    """
    typed = cattrs.Converter(detailed_validation=False)

    def decoded(av: Any, cls: Any) -> Any:
        return plain.structure(decode_value(av), cls)

    def optional(cls: Any) -> Any:
        inner_type = next(a for a in typing.get_args(cls) if a is not type(None))
        inner = typed.get_structure_hook(inner_type)

        def structure(av: Any, _: Any) -> Any:
            if av.get("NULL") is True and len(av) == 1:
                return None
            return inner(av, inner_type)

        return structure

    def nested(cls: Any) -> Any:
        structure_map = make_dict_structure_fn(cls, typed)

        def structure(av: Any, _: Any) -> Any:
            value = av.get("M")
            if value.__class__ is dict and len(av) == 1:
                return structure_map(value, cls)
            raise _NotPlain

        return structure

    def list_of(cls: Any) -> Any:
        (inner_type,) = typing.get_args(cls)
        inner = typed.get_structure_hook(inner_type)

        def structure(av: Any, _: Any) -> Any:
            values = av.get("L")
            if values.__class__ is list and len(av) == 1:
                return [inner(value, inner_type) for value in values]
            raise _NotPlain

        return structure

    def text_set(cls: Any) -> Any:
        build = typing.get_origin(cls)

        def structure(av: Any, _: Any) -> Any:
            values = av.get("SS")
            if values.__class__ is list and len(av) == 1:
                text = "".join(values)  # TypeError unless all are strings: the slow path
                if text.isascii():
                    return build(values)
            raise _NotPlain

        return structure

    def from_text(read: Callable[[str, Any], Any]) -> Callable[[Any, Any], Any]:
        """A hook reading an ``S`` value in place with ``read``; anything else decoded."""

        def structure(av: Any, cls: Any) -> Any:
            value = av.get("S")
            if value.__class__ is str and len(av) == 1:
                return read(value, cls)
            return decoded(av, cls)

        return structure

    typed.register_structure_hook_func(lambda _: True, decoded)
    typed.register_structure_hook_factory(attrs.has, nested)
    typed.register_structure_hook_factory(_is_list, list_of)
    typed.register_structure_hook_factory(_is_text_set, text_set)
    typed.register_structure_hook_func(_is_enum, from_text(_structure_enum))
    typed.register_structure_hook_factory(_is_optional, optional)
    typed.register_structure_hook(str, _typed_str)
    typed.register_structure_hook(int, _typed_int)
    typed.register_structure_hook(bool, _typed_bool)
    typed.register_structure_hook(Decimal, _typed_decimal)
    typed.register_structure_hook(datetime.datetime, from_text(_structure_datetime))
    for cls in (float, bytes):
        typed.register_structure_hook(cls, decoded)
    return typed


def _is_list(cls: Any) -> bool:
    return typing.get_origin(cls) is list and len(typing.get_args(cls)) == 1


def _is_text_set(cls: Any) -> bool:
    return typing.get_origin(cls) in (set, frozenset) and typing.get_args(cls) == (str,)


def _is_optional(cls: Any) -> bool:
    args = typing.get_args(cls)
    return (typing.get_origin(cls) in (typing.Union, types.UnionType)
            and type(None) in args and len(args) == 2)


def _typed_str(av: Any, _: type) -> str:
    value = av.get("S")
    if value.__class__ is str and len(av) == 1 and (value.isascii() or text_problem(value) is None):
        return value
    raise _NotPlain


def _typed_int(av: Any, _: type) -> int:
    value = av.get("N")
    if value.__class__ is str and len(av) == 1:
        if len(value) < 19 and value.isdigit():
            return int(value)
        number = decode_number(value)  # the decoder's reading: "2.0" is 2, "1e999" refused
        if number.__class__ is int:
            return number
    raise _NotPlain


def _typed_decimal(av: Any, _: type) -> Decimal:
    text = av.get("N")
    if text.__class__ is str and len(av) == 1:
        number = decode_number(text)  # the decoder's reading: "1.50" stays, "2.0" is 2
        return number if number.__class__ is Decimal else Decimal(number)
    raise _NotPlain


def _typed_bool(av: Any, _: type) -> bool:
    value = av.get("BOOL")
    if (value is True or value is False) and len(av) == 1:
        return value
    raise _NotPlain
