"""Exact JSON text for values stored in JSON columns and dead letters.

``json.dumps`` cannot write a ``Decimal`` without going through ``float``; this writer
keeps every digit, writes bytes as base64, timestamps as ISO-8601 and sets as sorted lists.
"""

from __future__ import annotations

import base64
import collections.abc
import datetime
import enum
import json
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from ddbproj.core.codegen import compile_function

__all__ = ["dumps", "loads", "writer_for"]

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


def writer_for(annotation: Any) -> Callable[[Any], str]:
    """A ``dumps`` specialised once for values of ``annotation`` (an attrs class, a list,
    set or dict of known types): the same text, without per-value type dispatch."""
    return _compile(annotation, depth=0)


def _compile(annotation: Any, depth: int) -> Callable[[Any], str]:
    if depth > 20:
        return dumps
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1:
            return dumps
        inner = _compile(members[0], depth + 1)
        return lambda value: "null" if value is None else inner(value)
    if annotation is str:
        return _encode_string
    if annotation is int:
        return _int_text
    if annotation is Decimal:
        return _decimal_text
    if attrs.has(annotation) and not args:
        return _attrs_writer(annotation, depth)
    if origin in (list, tuple, collections.abc.Sequence) and args and (
            origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)):
        item = _compile(args[0], depth + 1)
        return lambda value: "[" + ",".join([item(v) for v in value]) + "]"
    if origin in (set, frozenset, collections.abc.Set) and args:
        item = _compile(args[0], depth + 1)
        return lambda value: "[" + ",".join([item(v) for v in sorted(value, key=_sort_key)]) + "]"
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        item = _compile(args[1], depth + 1)
        return lambda value: "{" + ",".join(
            [_encode_string(str(k)) + ":" + item(value[k]) for k in sorted(value, key=str)]
        ) + "}"
    return dumps


def _attrs_writer(cls: type, depth: int) -> Callable[[Any], str]:
    """The writer of one attrs class, generated: its fields in name order, each by the
    writer of its annotation; any other type (a subclass) goes to ``dumps``."""
    hints = typing.get_type_hints(cls)
    fields = sorted(attrs.fields(cls), key=lambda f: f.name)
    namespace: dict[str, Any] = {"cls": cls, "dumps": dumps}
    parts = []
    for index, field in enumerate(fields):
        namespace[f"write_{index}"] = _compile(hints.get(field.name, Any), depth + 1)
        head = ("{" if index == 0 else ",") + _encode_string(field.name) + ":"
        parts.append(f"{head!r} + write_{index}(value.{field.name})")
    body = " + ".join([*parts, "'}'"]) if parts else "'{}'"
    source = ("def write(value):\n    if type(value) is not cls:\n        return dumps(value)\n"
              f"    return {body}\n")
    return compile_function("write", source, namespace, about=cls.__qualname__)


def _int_text(value: Any) -> str:
    return str(value) if value.__class__ is int else dumps(value)
