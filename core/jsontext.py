"""Exact JSON text for values stored in JSON columns and dead letters.

``json.dumps`` cannot write a ``Decimal`` without going through ``float``; this writer
keeps every digit, writes bytes as base64, timestamps as ISO-8601 and sets as sorted lists.
"""

from __future__ import annotations

import base64
import datetime
import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["dumps", "loads"]

_encode_string = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    """Serialise ``value`` compactly with sorted keys (so equal values give equal text)."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def loads(text: str | bytes) -> Any:
    """Parse JSON text with exact decimals."""
    return json.loads(text, parse_float=Decimal)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        out.append(_decimal_text(value))
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, key in enumerate(sorted(value, key=str)):
            if index:
                out.append(",")
            out.append(_encode_string(str(key)))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        _write_list(value, out)
    elif isinstance(value, set | frozenset):
        _write_list(sorted(value, key=_sort_key), out)
    elif isinstance(value, bytes):
        out.append(_encode_string(base64.b64encode(value).decode("ascii")))
    elif isinstance(value, datetime.datetime | datetime.date):
        out.append(_encode_string(value.isoformat()))
    elif isinstance(value, enum.Enum):
        _write(value.value, out)
    elif attrs.has(type(value)):
        _write(attrs.asdict(value, recurse=False), out)
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _write_list(values: Any, out: list[str]) -> None:
    out.append("[")
    for index, item in enumerate(values):
        if index:
            out.append(",")
        _write(item, out)
    out.append("]")


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"JSON has no {value}")
    text = str(value)
    return text if "E" not in text else format(value, "f")


def _sort_key(value: Any) -> Any:
    return (type(value).__name__, value)
