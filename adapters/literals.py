"""MySQL multi-row VALUES text: what PyMySQL's ``executemany`` sends, rendered faster.

PyMySQL has no server-side prepared statements: it binds every parameter by escaping it
into the statement text, and its generic, per-value dispatch is about half the time of a
large ``executemany``. Rows here hold few types (text, integers, NULL, decimals, naive
timestamps), so those get a direct path and every other value goes to PyMySQL's own
``escape``; a property test holds the text byte-equal to PyMySQL's. With the session's
``NO_BACKSLASH_ESCAPES`` mode on, the caller binds through PyMySQL instead.

Text is escaped as characters and then encoded, as PyMySQL does: that is safe only when no
multi-byte character of the connection's character set contains the byte 0x5C (the
backslash), which ``adapters.engine`` guarantees by connecting with utf8mb4 only.
"""

from __future__ import annotations

import datetime
import operator
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES

__all__ = ["MAX_STATEMENT_CHARS", "backslash_escapes", "escape_text", "statements"]

#: Characters per statement: even at four bytes each, under MySQL's smallest default
#: ``max_allowed_packet`` (4 MiB).
MAX_STATEMENT_CHARS = 1_000_000

_DATETIME = datetime.datetime
_tzinfo = operator.attrgetter("tzinfo")


def backslash_escapes(dbapi_connection: Any) -> bool:
    """Whether the session reads backslash escapes in string literals (the default)."""
    return not dbapi_connection.server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES


#: What PyMySQL escapes in a string, in the order that keeps it one pass: the backslash
#: first, so that the backslashes added after it are not doubled.
_ESCAPES = (("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("\032", "\\Z"),
            ('"', '\\"'), ("'", "\\'"))


def escape_text(value: str) -> str:
    """A string's body as PyMySQL escapes it; a chain of ``replace`` calls beats
    ``str.translate`` with multi-character outputs."""
    for char, escaped in _ESCAPES:
        if char in value:
            value = value.replace(char, escaped)
    return value


def literal_of(escape: Callable[[Any], str]) -> Callable[[Any], str]:
    """One value's literal: the common types directly, the rest by ``escape`` (PyMySQL's)."""

    def literal(value: Any) -> str:
        cls = value.__class__
        if cls is str:
            return "'" + escape_text(value) + "'"
        if cls is int:
            return str(value)
        if value is None:
            return "NULL"
        if cls is Decimal:
            return format(value, "f")
        if cls is _DATETIME and value.tzinfo is None:
            return "'" + str(value.isoformat(" ")) + "'"
        return escape(value)

    return literal


def statements(
    head: str,
    rows: Sequence[Sequence[Any]],
    tail: str,
    escape: Callable[[Any], str],
    *,
    max_chars: int = MAX_STATEMENT_CHARS,
) -> Iterator[str]:
    """``head (row), (row), ... tail`` in as few statements as ``max_chars`` allows.

    Rendered column by column (one ``map`` per column), then joined row by row.
    """
    literal = literal_of(escape)
    columns = [_column(column, literal) for column in zip(*rows, strict=True)]
    rendered = ["(" + ",".join(row) + ")" for row in zip(*columns, strict=True)]
    budget = max_chars - len(head) - len(tail)
    if sum(map(len, rendered)) + len(rendered) <= budget:
        if rendered:
            yield head + ",".join(rendered) + tail
        return
    start, size = 0, 0
    for index, text in enumerate(rendered):
        if size + len(text) + 1 > budget and index > start:
            yield head + ",".join(rendered[start:index]) + tail
            start, size = index, 0
        size += len(text) + 1
    if rendered:
        yield head + ",".join(rendered[start:]) + tail


def _column(values: tuple[Any, ...], literal: Callable[[Any], str]) -> list[str]:
    """One column's literals: a column of one common type in one C-level pass where it can
    be (``map``), or with only the escapes its text needs; anything else value by value."""
    kinds = set(map(type, values))
    if kinds == {int}:
        return list(map(str, values))
    if kinds == {str}:
        joined = "".join(values)
        needed = [pair for pair in _ESCAPES if pair[0] in joined]
        if not needed:
            return ["'" + value + "'" for value in values]
        if len(needed) == 1:
            ((char, escaped),) = needed
            return ["'" + value.replace(char, escaped) + "'" for value in values]
        return ["'" + escape_text(value) + "'" for value in values]
    if kinds == {Decimal}:
        return [format(value, "f") for value in values]
    if kinds == {_DATETIME} and set(map(_tzinfo, values)) == {None}:
        return ["'" + value.isoformat(" ") + "'" for value in values]
    return list(map(literal, values))
