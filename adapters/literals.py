"""MySQL multi-row VALUES text: what PyMySQL's ``executemany`` sends, rendered faster.

PyMySQL has no server-side prepared statements: it binds every parameter by escaping it
into the statement text, and its generic, per-value dispatch is about half the time of a
large ``executemany``. Rows here hold few types (text, integers, NULL, decimals, naive
timestamps), so those get a direct path and every other value goes to PyMySQL's own
``escape``; a property test holds the text byte-equal to PyMySQL's. With the session's
``NO_BACKSLASH_ESCAPES`` mode on, the caller binds through PyMySQL instead.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES

__all__ = ["MAX_STATEMENT_CHARS", "backslash_escapes", "escape_text", "statements"]

#: Characters per statement: even at four bytes each, under MySQL's smallest default
#: ``max_allowed_packet`` (4 MiB).
MAX_STATEMENT_CHARS = 1_000_000

_DATETIME = datetime.datetime


def backslash_escapes(dbapi_connection: Any) -> bool:
    """Whether the session reads backslash escapes in string literals (the default)."""
    return not dbapi_connection.server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES


def escape_text(value: str) -> str:
    """A string's body as PyMySQL escapes it (``\\``, NUL, ``\\n``, ``\\r``, ^Z, quotes);
    a chain of ``replace`` calls beats ``str.translate`` with multi-character outputs."""
    return (value.replace("\\", "\\\\").replace("\0", "\\0").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\032", "\\Z").replace('"', '\\"')
            .replace("'", "\\'"))


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
    columns = [list(map(literal, column)) for column in zip(*rows, strict=True)]
    rendered = ["(" + ",".join(row) + ")" for row in zip(*columns, strict=True)]
    budget = max_chars - len(head) - len(tail)
    start, size = 0, 0
    for index, text in enumerate(rendered):
        if size + len(text) + 1 > budget and index > start:
            yield head + ",".join(rendered[start:index]) + tail
            start, size = index, 0
        size += len(text) + 1
    if rendered:
        yield head + ",".join(rendered[start:]) + tail
