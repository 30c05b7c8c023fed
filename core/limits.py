"""Checks that a row fits its columns before it meets the database.

A value that does not fit (a 38-digit number in a BIGINT column, a 300-character key)
would make a strict SQL server reject the whole batch, and Lambda would retry it for
ever; checked here, it becomes one dead letter with a message that says what to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.columns import Column, ColumnKind

__all__ = ["BIGINT_MAX", "BIGINT_MIN", "row_checker"]

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1

Check = Callable[[Any], str | None]


def row_checker(columns: tuple[Column, ...]) -> Callable[[tuple[Any, ...]], str | None]:
    """A function returning None for a row that fits, else why it does not."""
    checks = [(i, c, check) for i, c in enumerate(columns) if (check := _check_for(c))]
    # the 64-bit range and required values, the most common checks by far, are tested
    # inline (no call per value); a row that fails one, or any other check, is explained
    # by the full list
    integers = tuple(i for i, _, check in checks if check is _integer)
    required = tuple(i for i, _, check in checks if check is _accept)
    others = [entry for entry in checks if entry[2] not in (_integer, _accept)]

    def check_row(row: tuple[Any, ...]) -> str | None:
        for index in integers:
            value = row[index]
            if value is None or not BIGINT_MIN <= value <= BIGINT_MAX:
                return _explain(checks, row)
        for index in required:
            if row[index] is None:
                return _explain(checks, row)
        return _explain(others, row) if others else None

    return check_row


def _explain(checks: list[tuple[int, Column, Check]], row: tuple[Any, ...]) -> str | None:
    for index, col, check in checks:
        value = row[index]
        if value is None:
            if not col.nullable:
                return f"column {col.name!r}: required attribute is null"
            continue
        problem = check(value)
        if problem is not None:
            return f"column {col.name!r}: {problem}"
    return None


def _check_for(col: Column) -> Check | None:
    if col.sql_type is not None:
        return None if col.nullable else _accept
    if col.kind is ColumnKind.INTEGER:
        return _integer
    if col.kind is ColumnKind.DECIMAL and col.precision is not None:
        return _decimal(col.precision, col.scale or 0)
    if col.kind in (ColumnKind.STRING, ColumnKind.BINARY) and col.length:
        return _length(col.length, col.kind)
    if col.kind is ColumnKind.FLOAT:
        return _finite
    return None if col.nullable else _accept


def _accept(_: Any) -> None:
    return None


def _integer(value: Any) -> str | None:
    if isinstance(value, int) and not BIGINT_MIN <= value <= BIGINT_MAX:
        return (
            f"{value} does not fit a 64-bit integer column; annotate the field as Decimal "
            "or give it column(kind='decimal', precision=38, scale=0)"
        )
    return None


def _decimal(precision: int, scale: int) -> Check:
    max_integer_digits = precision - scale

    def check(value: Any) -> str | None:
        number = value if isinstance(value, Decimal) else Decimal(value)
        _, digits, exponent = number.as_tuple()
        if not isinstance(exponent, int):
            return f"{value} is not a finite number"
        fraction_digits = max(0, -exponent)
        integer_digits = max(0, len(digits) + exponent)
        if fraction_digits > scale or integer_digits > max_integer_digits:
            return (
                f"{value} does not fit DECIMAL({precision}, {scale}) without rounding; "
                "widen it with column(precision=..., scale=...)"
            )
        return None

    return check


def _length(limit: int, kind: ColumnKind) -> Check:
    unit = "characters" if kind is ColumnKind.STRING else "bytes"

    def check(value: Any) -> str | None:
        if len(value) > limit:
            return f"{len(value)} {unit} exceed the column length {limit}; raise column(length=...)"
        return None

    return check


def _finite(value: Any) -> str | None:
    return None if math.isfinite(value) else f"{value} is not a finite number"
