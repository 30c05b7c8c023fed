"""DynamoDB JSON (the typed attribute-value form of streams and scans) to and from Python.

Decoding is one pass over plain dicts: no JSON round-trips, no per-attribute objects.
Numbers stay exact (``int`` when integral, else ``Decimal``), binaries become ``bytes``.
The fast path carries no path bookkeeping; only when it fails is the image walked again
to name the attribute path of the error.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "DecodeError",
    "decode_attributes",
    "decode_image",
    "decode_number",
    "decode_value",
    "encode_image",
    "encode_value",
]

_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


class DecodeError(ValueError):
    """A malformed attribute value; ``path`` names where it is (``NewImage.Address.Zip``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Malformed(Exception):
    """Raised deep in the fast path; turned into a DecodeError with the full path."""


def decode_image(image: Mapping[str, Any], path: str = "NewImage") -> dict[str, Any]:
    """Decode a whole image (attribute name -> attribute value)."""
    try:
        return {name: _decode(value) for name, value in image.items()}
    except Exception:
        raise _diagnose(image, path) from None


def decode_attributes(
    image: Mapping[str, Any], names: Iterable[str], path: str = "OldImage"
) -> dict[str, Any]:
    """Decode only the attributes ``names`` of an image (those it has): what a key needs,
    without decoding the rest of a large image."""
    try:
        return {name: _decode(image[name]) for name in names if name in image}
    except Exception:
        raise _diagnose({n: image[n] for n in names if n in image}, path) from None


def decode_value(value: Any, path: str = "value") -> Any:
    """Decode one attribute value."""
    try:
        return _decode(value)
    except Exception:
        raise _diagnose_value(value, path) or DecodeError(path, "malformed value") from None


def _decode(av: Any) -> Any:
    # the common shapes first, by probing the tag: no item views, no tuple unpacking
    if len(av) == 1:
        val = av.get("S")
        if val is not None:
            if val.__class__ is str:
                return val
            raise _Malformed
        val = av.get("N")
        if val is not None:
            return decode_number(val)
        val = av.get("M")
        if val is not None:
            return {k: _decode(v) for k, v in val.items()}
        val = av.get("L")
        if val is not None:
            return [_decode(v) for v in val]
    return _decode_tagged(av)


def _decode_tagged(av: Any) -> Any:
    tag, val = next(iter(av.items())) if len(av) == 1 else _only_tag(av)
    if tag == "S":
        if val.__class__ is str:
            return val
        raise _Malformed
    if tag == "N":
        return decode_number(val)
    if tag == "M":
        return {k: _decode(v) for k, v in val.items()}
    if tag == "L":
        return [_decode(v) for v in val]
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
    if tag == "SS":
        if all(s.__class__ is str for s in val):
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


def decode_number(val: Any) -> int | Decimal:
    """An ``N`` value as ddbproj reads it: an integral number as ``int`` ("2.0" is 2), any
    other as the exact ``Decimal`` ("1.50" stays); raises for text that is not a finite
    number."""
    cls = val.__class__
    if cls is str:
        if val.isdigit():
            return int(val)
        # int() never accepts '.', 'e' or 'E': such text goes straight to Decimal
        if "." not in val and "e" not in val and "E" not in val:
            try:
                return int(val)
            except ValueError:
                pass
        try:
            number = Decimal(val)
        except InvalidOperation:
            raise _Malformed from None
    elif cls is int:
        return val  # type: ignore[no-any-return]
    elif cls is float:
        number = Decimal(repr(val))
    elif cls is Decimal:
        number = val
    else:
        raise _Malformed
    if not number.is_finite():
        raise _Malformed
    if number == number.to_integral_value():
        return int(number)
    return number


def _binary(val: Any) -> bytes:
    if val.__class__ is bytes:
        return val
    if val.__class__ is str:
        try:
            return base64.b64decode(val, validate=True)
        except binascii.Error:
            raise _Malformed from None
    raise _Malformed


def _diagnose(image: Mapping[str, Any], path: str) -> DecodeError:
    """Walk a failed image again, slowly, to find and describe the first bad value."""
    if not isinstance(image, Mapping):
        return DecodeError(path, f"expected a map of attributes, got {type(image).__name__}")
    for name, value in image.items():
        found = _diagnose_value(value, f"{path}.{name}" if path else name)
        if found is not None:
            return found
    return DecodeError(path, "malformed attribute value")


def _diagnose_value(av: Any, path: str) -> DecodeError | None:
    if not isinstance(av, Mapping):
        return DecodeError(path, f"expected a typed attribute value, got {type(av).__name__}")
    present = [tag for tag, val in av.items() if val is not None] if len(av) > 1 else list(av)
    if len(present) != 1:
        if not present:
            what = "none" if not av else "only null ones (" + ", ".join(repr(t) for t in av) + ")"
        else:
            what = ", ".join(repr(t) for t in present)
        return DecodeError(path, f"expected exactly one type tag, got {what}")
    tag = present[0]
    val = av[tag]
    if tag not in _TAGS:
        return DecodeError(path, f"unknown type tag {tag!r}")
    try:
        if tag == "M":
            if not isinstance(val, Mapping):
                return DecodeError(path, f"M: expected a map, got {type(val).__name__}")
            for name, child in val.items():
                found = _diagnose_value(child, f"{path}.{name}")
                if found is not None:
                    return found
            return None
        if tag == "L":
            if not isinstance(val, list):
                return DecodeError(path, f"L: expected a list, got {type(val).__name__}")
            for index, child in enumerate(val):
                found = _diagnose_value(child, f"{path}[{index}]")
                if found is not None:
                    return found
            return None
        _decode({tag: val})
    except Exception:
        return DecodeError(path, f"{tag}: invalid value {_short(val)}")
    return None


def _short(val: Any) -> str:
    text = repr(val)
    return text if len(text) <= 60 else text[:57] + "..."


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
