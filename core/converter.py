"""The cattrs converter with DynamoDB-aware hooks, and readable structuring errors.

Decoded DynamoDB values are already ``int``/``Decimal``/``str``/``bytes``/``bool``; the
hooks here accept exactly what DynamoDB can hold for each annotation and never coerce
silently (a string is not a number). ``float`` is produced only when a field says so.
"""

from __future__ import annotations

import collections.abc
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
    "Unstructurable",
    "describe_error",
    "dynamodb_tag",
    "find_unstructurable",
    "make_converter",
    "make_typed_converter",
    "type_text",
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


# -- what a converter can structure -------------------------------------------------------


@attrs.frozen
class Unstructurable:
    """A field of a model whose annotation ``converter`` cannot structure.

    ``path`` is the field's place in the model (``Order.lines[].code``: ``[]`` an element of
    a list, set or tuple, ``{}`` a value of a dict, ``{key}`` its key); ``annotation`` is the
    field's annotation, ``culprit`` the type within it that has no hook, ``error`` what the
    converter raised."""

    path: str
    annotation: Any
    culprit: Any
    error: BaseException = attrs.field(eq=False)

    def describe(self) -> str:
        """``Order.lines[].code: list[int | str] cannot be structured: <why>; <fix>``."""
        return (f"{self.path}: {type_text(self.annotation)} cannot be structured: "
                f"{self.reason()}; {self.advice()}")

    def reason(self) -> str:
        culprit, error = self.culprit, self.error
        shown = type_text(culprit)
        if isinstance(culprit, str | typing.ForwardRef):
            return f"cattrs does not resolve the forward reference {shown}"
        if isinstance(error, NameError):
            return f"an annotation of {shown} names something not defined at run time ({error})"
        if _is_union(culprit):
            if isinstance(error, cattrs.errors.StructureHandlerNotFoundError):
                return f"cattrs has no strategy for the union {shown}"
            return f"cattrs cannot tell the union {shown} apart ({error})"
        if isinstance(error, cattrs.errors.StructureHandlerNotFoundError):
            return f"cattrs has no structure hook for {shown}"
        return f"cattrs cannot structure {shown} ({type(error).__name__}: {error})"

    def advice(self) -> str:
        culprit, shown = self.culprit, type_text(self.culprit)
        where = ("on a converter from ddbproj.core.make_converter(), given as "
                 "ProjectorRegistry(converter=...)")
        if isinstance(culprit, str | typing.ForwardRef):
            return ("quote the whole annotation (\"list[Node]\", not list[\"Node\"]) or add "
                    "'from __future__ import annotations' to the model's module")
        if isinstance(self.error, NameError):
            return "import it at module level, not under 'if TYPE_CHECKING:'"
        if _is_union(culprit):
            return ("use a single type, a tagged union or a union passthrough "
                    "(cattrs.strategies.configure_tagged_union, configure_union_passthrough), "
                    f"or register a structure hook for {shown}; {where}")
        return ("annotate it with a type DynamoDB holds (str, int, Decimal, float, bool, bytes, "
                "datetime, date, an Enum, or a list, dict, set, tuple or attrs class of them), "
                f"or register a structure hook for {shown}; {where}")


def find_unstructurable(model: type, converter: cattrs.Converter) -> Unstructurable | None:
    """The first field of ``model`` (an attrs class), at any depth, whose annotation
    ``converter`` has no structure hook for; None when it can structure every field.

    Asked once, when a projector is registered: cattrs looks some hooks up only when a value
    comes (an Optional, a homogeneous tuple, a set), so without it a model could fail on
    its first record. Hooks the converter was given for a type are trusted, the types
    inside it are not looked into: they are that hook's business."""
    return _fields_unstructurable(model, model.__name__, converter, {model})


def _fields_unstructurable(
    cls: type, path: str, converter: cattrs.Converter, visiting: set[Any]
) -> Unstructurable | None:
    try:
        hints = typing.get_type_hints(cls)
    except NameError as error:
        return Unstructurable(path, cls, cls, error)
    for field in attrs.fields(cls):
        if not field.init:
            continue
        hint = hints.get(field.name, field.type)
        if hint is None:
            continue
        field_path = f"{path}.{field.name}"
        written = hint if field.type is None or isinstance(field.type, str) else field.type
        found = _unstructurable(hint, field_path, field_path, written, converter, visiting)
        if found is not None:
            return found
    return None


def _unstructurable(
    hint: Any, path: str, field_path: str, annotation: Any, converter: cattrs.Converter,
    visiting: set[Any],
) -> Unstructurable | None:
    """The innermost type of ``hint`` (at ``path``) the converter cannot structure, or
    None; reported as the field at ``field_path`` with its whole ``annotation``."""
    if attrs.has(hint) and isinstance(hint, type):
        if hint in visiting:
            return None  # a recursive model: its fields are being checked already
        visiting = visiting | {hint}
    try:
        hook = converter.get_structure_hook(hint)
    except Exception as error:
        inside = _inside(hint, path, field_path, annotation, converter, visiting)
        # cattrs names the type it found no hook for, which may lie deeper than ``hint``
        culprit = getattr(error, "type_", None) or hint
        return inside or Unstructurable(field_path, annotation, culprit, error)
    if not _built_in(hook):
        return None
    return _inside(hint, path, field_path, annotation, converter, visiting)


def _inside(
    hint: Any, path: str, field_path: str, annotation: Any, converter: cattrs.Converter,
    visiting: set[Any],
) -> Unstructurable | None:
    """The first type within ``hint`` (its fields, elements, keys, values, members) the
    converter cannot structure, or None."""
    if attrs.has(hint) and isinstance(hint, type):
        return _fields_unstructurable(hint, path, converter, visiting)
    for inner, inner_path in _inner_types(hint, path):
        found = _unstructurable(inner, inner_path, field_path, annotation, converter, visiting)
        if found is not None:
            return found
    return None


def _inner_types(hint: Any, path: str) -> list[tuple[Any, str]]:
    """The types a structure hook for ``hint`` structures in turn, each with its path."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return [(args[0], path)]
    if _is_union(hint):
        return [(arg, path) for arg in args if arg is not type(None)]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return [(args[0], path + "[]")]
        return [(arg, f"{path}[{index}]") for index, arg in enumerate(args)]
    if origin in _MAPPINGS and len(args) == 2:
        return [(args[0], path + "{key}"), (args[1], path + "{}")]
    if origin in _COLLECTIONS and len(args) == 1:
        return [(args[0], path + "[]")]
    return []


_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_COLLECTIONS = (list, set, frozenset, collections.abc.Sequence, collections.abc.MutableSequence,
                collections.abc.Set, collections.abc.MutableSet, collections.abc.Iterable,
                collections.abc.Collection)


def _built_in(hook: Any) -> bool:
    """Whether ``hook`` is one of cattrs' or this module's (generated ones have no module):
    a hook registered by the converter's owner is trusted with everything it structures."""
    function = getattr(hook, "func", hook)  # functools.partial
    module = getattr(function, "__module__", None)
    return module is None or module == __name__ or module.split(".")[0] == "cattrs"


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def type_text(hint: Any) -> str:
    """An annotation as it is written: ``list[int | str]``, ``Line | None``, ``UUID``."""
    if isinstance(hint, str):
        return repr(hint)
    if isinstance(hint, typing.ForwardRef):
        return repr(hint.__forward_arg__)
    if hint is type(None):
        return "None"
    if hint is Ellipsis:
        return "..."
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(arg) for arg in args)
    if origin is not None and args:
        name = getattr(origin, "__qualname__", None) or repr(origin).replace("typing.", "")
        if origin is typing.Literal:
            return f"Literal[{', '.join(repr(arg) for arg in args)}]"
        return f"{name}[{', '.join(type_text(arg) for arg in args)}]"
    if isinstance(hint, type):
        return hint.__qualname__.rsplit(".<locals>.", 1)[-1]
    return repr(hint).replace("typing.", "")
