"""DynamoDB JSON (the typed attribute-value form of streams and scans) to and from Python.

Decoding is one pass over plain dicts: no JSON round-trips, no per-attribute objects.
Numbers stay exact (``int`` when integral, else ``Decimal``), binaries become ``bytes``.
The fast path carries no path bookkeeping; only when it fails is the image walked again
to name the attribute path of the error.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import enum
import reprlib
from collections.abc import Iterable, Mapping
from decimal import (
    Clamped,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Subnormal,
    Underflow,
)
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "DecodeError",
    "decode_attributes",
    "decode_image",
    "decode_number",
    "decode_value",
    "encode_image",
    "encode_value",
    "number_problem",
    "text_problem",
]

_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

#: Nesting DynamoDB allows: a top-level attribute is level 1, each map or list one more.
#: Deeper values are refused (so a hostile image cannot exhaust the stack, and a JSON
#: column never meets MySQL's own depth limit).
MAX_DEPTH = 32

#: DynamoDB numbers, as boto3's deserializer reads them: at most 38 significant digits, a
#: magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125, or zero; every
#: signal that would round, clamp or overflow is an error.
_NUMBERS = Context(
    prec=38, Emax=125, Emin=-130,
    traps=[InvalidOperation, Overflow, Underflow, Subnormal, Rounded, Inexact, Clamped],
)
#: boto3 reads exponents down to -165 (its context's smallest): ours may not go lower.
_SMALLEST_EXPONENT = -165
#: Longer number text is refused unread: the longest valid one written out positionally
#: (38 digits below 1E-129, with sign) has 170 characters.
_MAX_NUMBER_TEXT = 256

_NUMBER_RULE = ("DynamoDB numbers have at most 38 significant digits and a magnitude from "
                "1E-130 to 9.9999999999999999999999999999999999999E+125")


class DecodeError(ValueError):
    """A malformed attribute value; ``path`` names where it is (``NewImage.Address.Zip``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Malformed(ValueError):
    """Raised deep in the fast path; turned into a DecodeError with the full path."""


def decode_image(image: Mapping[str, Any], path: str = "NewImage") -> dict[str, Any]:
    """Decode a whole image (attribute name -> attribute value)."""
    try:
        decoded = {name: _decode(value, 1) for name, value in image.items()}
        names = "".join(decoded)
        if names.isascii() or _clean(names):
            return decoded
    except Exception:
        pass
    raise _diagnose(image, path) from None


def decode_attributes(
    image: Mapping[str, Any], names: Iterable[str], path: str = "OldImage"
) -> dict[str, Any]:
    """Decode only the attributes ``names`` of an image (those it has): what a key needs,
    without decoding the rest of a large image."""
    try:
        return {name: _decode(image[name], 1) for name in names if name in image}
    except Exception:
        pass
    part: Any = image
    with contextlib.suppress(Exception):
        part = {n: image[n] for n in names if n in image}
    raise _diagnose(part, path) from None


def decode_value(value: Any, path: str = "value") -> Any:
    """Decode one attribute value."""
    try:
        return _decode(value, 1)
    except Exception:
        pass
    raise _diagnose_value(value, path, 1) or DecodeError(path, "malformed value") from None


def _decode(av: Any, depth: int) -> Any:
    # the common shapes first, by probing the tag: no item views, no tuple unpacking
    if len(av) == 1:
        val = av.get("S")
        if val is not None:
            if val.__class__ is str and (val.isascii() or _clean(val)):
                return val
            raise _Malformed
        val = av.get("N")
        if val is not None:
            return decode_number(val)
        val = av.get("M")
        if val is not None:
            return _map(val, depth)
        val = av.get("L")
        if val is not None:
            return _list(val, depth)
    return _decode_tagged(av, depth)


def _map(val: Any, depth: int) -> dict[str, Any]:
    if val.__class__ is not dict and not isinstance(val, Mapping):
        raise _Malformed
    depth += 1
    if depth > MAX_DEPTH and val:
        raise _Malformed
    decoded = {k: _decode(v, depth) for k, v in val.items()}
    keys = "".join(decoded)
    if keys.isascii() or _clean(keys):
        return decoded
    raise _Malformed


def _list(val: Any, depth: int) -> list[Any]:
    if val.__class__ is not list:
        raise _Malformed
    depth += 1
    if depth > MAX_DEPTH and val:
        raise _Malformed
    return [_decode(v, depth) for v in val]


def _decode_tagged(av: Any, depth: int) -> Any:
    tag, val = next(iter(av.items())) if len(av) == 1 else _only_tag(av)
    if tag == "S":
        if val.__class__ is str and (val.isascii() or _clean(val)):
            return val
        raise _Malformed
    if tag == "N":
        return decode_number(val)
    if tag == "M":
        return _map(val, depth)
    if tag == "L":
        return _list(val, depth)
    if tag == "BOOL":
        if val is True or val is False:
            return val
        raise _Malformed
    if tag == "NULL":
        if val is True:
            return None
        raise _Malformed
    if tag == "B":
        return _binary(val)
    if val.__class__ is not list:
        raise _Malformed  # a set is a JSON list: never a string read as its characters
    if tag == "SS":
        text = "".join(val)  # TypeError unless every member is a string
        if text.isascii() or _clean(text):
            return set(val)
        raise _Malformed
    if tag == "NS":
        return {decode_number(n) for n in val}
    if tag == "BS":
        return {_binary(b) for b in val}
    raise _Malformed


def _only_tag(av: Mapping[str, Any]) -> tuple[str, Any]:
    """Some SDKs serialise every tag with all but one null: keep the one that is set."""
    present = [(tag, val) for tag, val in av.items() if val is not None]
    if len(present) != 1:
        raise _Malformed
    return present[0]


def _clean(text: str) -> bool:
    """Whether non-ASCII text is valid Unicode: a lone surrogate (which JSON's ``\\ud800``
    escape can make) is not, and MySQL's utf8mb4 cannot store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is (a lone surrogate), else None."""
    if text.isascii() or _clean(text):
        return None
    index = next(i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff")
    return (f"lone surrogate U+{ord(text[index]):04X} at character {index}: not valid "
            "Unicode, and MySQL's utf8mb4 cannot store it")


def decode_number(val: Any) -> int | Decimal:
    """An ``N`` value as ddbproj reads it: an integral number as ``int`` ("2.0" is 2), any
    other as the exact ``Decimal`` ("1.50" stays). Only text is a number (DynamoDB JSON
    writes numbers as strings; a bare JSON number or a bool is refused), and only what
    DynamoDB holds: raises ``ValueError`` for anything else, without ever converting
    more than 256 characters."""
    if val.__class__ is not str:
        raise _Malformed
    if len(val) < 39:
        # up to 38 digits: always in range, and int() is exact ("٣" too, like Decimal)
        if val.isdigit():
            return int(val)
        if val[:1] == "-" and val[1:].isdigit():
            return int(val)
    elif len(val) > _MAX_NUMBER_TEXT:
        raise _Malformed
    try:
        number = _NUMBERS.create_decimal(val)
    except ArithmeticError:
        raise _Malformed from None
    if not number.is_finite():
        raise _Malformed
    if number.adjusted() < -128 and int(number.as_tuple().exponent) < _SMALLEST_EXPONENT:
        raise _Malformed
    if number == number.to_integral_value():
        return int(number)
    return number


def number_problem(val: Any) -> str | None:
    """Why ``val`` is not the text of a DynamoDB number, else None."""
    if val.__class__ is not str:
        what = "BOOL" if isinstance(val, bool) else type(val).__name__
        return (f"expected the number as a string (DynamoDB JSON writes {{\"N\": \"1.5\"}}), "
                f"got {what} {_short(val)}")
    try:
        decode_number(val)
    except ValueError:
        pass
    else:
        return None
    if len(val) > _MAX_NUMBER_TEXT:
        return (f"number text of {len(val)} characters, longer than any DynamoDB number: "
                f"{_short(val)}")
    try:
        plain = Decimal(val)
    except ArithmeticError:
        return f"invalid value {_short(val)}"
    if not plain.is_finite() or val != val.strip() or "_" in val:
        return f"invalid value {_short(val)}"
    return f"{_short(val)} is not a DynamoDB number: {_NUMBER_RULE}"


def _binary(val: Any) -> bytes:
    if val.__class__ is bytes:
        return val
    if val.__class__ is str:
        try:
            return base64.b64decode(val, validate=True)
        except ValueError:  # binascii.Error, or text that is not ASCII
            raise _Malformed from None
    raise _Malformed


# -- explaining a failure: slow, bounded by MAX_DEPTH, never raising -----------------------


def _diagnose(image: Any, path: str) -> DecodeError:
    """Walk a failed image again, slowly, to find and describe the first bad value."""
    if not isinstance(image, Mapping):
        return DecodeError(path, f"expected a map of attributes, got {type(image).__name__}")
    try:
        for name, value in image.items():
            where = _join(path, name)
            problem = _key_problem(name)
            if problem is not None:
                return DecodeError(where, f"attribute name: {problem}")
            found = _diagnose_value(value, where, 1)
            if found is not None:
                return found
    except Exception as error:  # a mapping whose own methods fail
        return DecodeError(path, f"unreadable image ({type(error).__name__})")
    return DecodeError(path, "malformed attribute value")


def _diagnose_value(av: Any, path: str, depth: int) -> DecodeError | None:
    try:
        return _explain(av, path, depth)
    except Exception as error:
        return DecodeError(path, f"unreadable value ({type(error).__name__})")


def _explain(av: Any, path: str, depth: int) -> DecodeError | None:
    if not isinstance(av, Mapping):
        return DecodeError(path, f"expected a typed attribute value, got {type(av).__name__}")
    present = [tag for tag, val in av.items() if val is not None] if len(av) > 1 else list(av)
    if len(present) != 1:
        if not present:
            what = "none" if not av else "only null ones (" + ", ".join(
                _short(t) for t in list(av)[:12]) + ")"
        else:
            what = ", ".join(_short(t) for t in present[:12])
        return DecodeError(path, f"expected exactly one type tag, got {what}")
    tag = present[0]
    val = av[tag]
    if tag not in _TAGS:
        return DecodeError(path, f"unknown type tag {_short(tag)}")
    if tag == "M":
        if not isinstance(val, Mapping):
            return DecodeError(path, f"M: expected a map, got {type(val).__name__}")
        if depth + 1 > MAX_DEPTH and val:
            return DecodeError(path, f"M: nested deeper than DynamoDB's {MAX_DEPTH} levels")
        for name, child in val.items():
            where = f"{path}.{_name(name)}"
            problem = _key_problem(name)
            if problem is not None:
                return DecodeError(where, f"map key: {problem}")
            found = _explain(child, where, depth + 1)
            if found is not None:
                return found
        return None
    if tag == "L":
        if val.__class__ is not list:
            return DecodeError(path, f"L: expected a list, got {type(val).__name__}")
        if depth + 1 > MAX_DEPTH and val:
            return DecodeError(path, f"L: nested deeper than DynamoDB's {MAX_DEPTH} levels")
        for index, child in enumerate(val):
            found = _explain(child, f"{path}[{index}]", depth + 1)
            if found is not None:
                return found
        return None
    if tag in ("SS", "NS", "BS"):
        if val.__class__ is not list:
            return DecodeError(path, f"{tag}: expected a list, got {type(val).__name__}")
        for index, member in enumerate(val):
            problem = _scalar_problem(tag[0], member)
            if problem is not None:
                return DecodeError(f"{path}[{index}]", f"{tag}: {problem}")
        return None
    problem = _scalar_problem(tag, val)
    return DecodeError(path, f"{tag}: {problem}") if problem is not None else None


def _scalar_problem(tag: str, val: Any) -> str | None:
    if tag == "N":
        return number_problem(val)
    if tag == "S" and val.__class__ is str:
        return text_problem(val)
    try:
        _decode({tag: val}, 1)
    except Exception:
        return f"invalid value {_short(val)}"
    return None


def _key_problem(name: Any) -> str | None:
    if name.__class__ is not str:
        return f"expected a string, got {type(name).__name__}"
    return text_problem(name)


def _join(path: str, name: Any) -> str:
    return f"{path}.{_name(name)}" if path else _name(name)


def _name(name: Any) -> str:
    """A name as a path shows it: lone surrogates escaped, at most 100 characters."""
    text = name if name.__class__ is str else _short(name)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 100 else text[:97] + "..."


_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlevel = 3


def _short(val: Any) -> str:
    """A bounded repr: never deep, never long, never a lone surrogate."""
    try:
        text = repr(val) if val.__class__ in (str, int, float, bool) and not (
            val.__class__ is int and abs(val) > 10**60) else _REPR.repr(val)
    except Exception:
        text = f"<{type(val).__name__}>"
    if len(text) > 60:
        text = text[:57] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# -- encoding: the inverse, with the same rules as boto3's TypeSerializer --------------


def encode_image(item: Mapping[str, Any], *, binary_as_base64: bool = True) -> dict[str, Any]:
    """Encode a plain item into DynamoDB JSON (Lambda form: binaries as base64 text)."""
    return {name: encode_value(v, binary_as_base64=binary_as_base64) for name, v in item.items()}


def encode_value(value: Any, *, binary_as_base64: bool = True) -> dict[str, Any]:
    """Encode one value; floats are written by their shortest exact repr."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, enum.Enum):
        return encode_value(value.value, binary_as_base64=binary_as_base64)
    if isinstance(value, int | Decimal | float):
        return {"N": _number_text(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": _binary_text(bytes(value), binary_as_base64)}
    if isinstance(value, datetime.datetime | datetime.date):
        return {"S": value.isoformat()}
    if isinstance(value, Mapping):
        return {"M": encode_image(value, binary_as_base64=binary_as_base64)}
    if isinstance(value, set | frozenset):
        return _encode_set(value, binary_as_base64)
    if isinstance(value, list | tuple):
        return {"L": [encode_value(v, binary_as_base64=binary_as_base64) for v in value]}
    raise TypeError(f"cannot encode {type(value).__name__} as a DynamoDB attribute value")


def _encode_set(values: set[Any] | frozenset[Any], binary_as_base64: bool) -> dict[str, Any]:
    if not values:
        raise TypeError("DynamoDB has no empty sets; use an empty list or omit the attribute")
    if all(isinstance(v, str) for v in values):
        return {"SS": sorted(values)}
    if all(isinstance(v, int | Decimal | float) and not isinstance(v, bool) for v in values):
        return {"NS": sorted(_number_text(v) for v in values)}
    if all(isinstance(v, bytes | bytearray) for v in values):
        return {"BS": [_binary_text(bytes(v), binary_as_base64) for v in sorted(values)]}
    raise TypeError("a DynamoDB set holds only strings, only numbers or only binaries")


def _number_text(value: int | Decimal | float) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _binary_text(value: bytes, as_base64: bool) -> Any:
    return base64.b64encode(value).decode("ascii") if as_base64 else value
