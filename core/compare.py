"""Comparing projected rows with stored rows: exact canonical values and a readable report.

Drivers hand values back in their own types — MySQL a ``Decimal`` with the column's
scale, SQLite the text the sink stored, JSON columns as text in the server's spelling —
so each value is first turned into one canonical text per column kind. Two values are
equal when their canonical texts are: numbers by exact decimal value (never through
``float``), timestamps to the microsecond in UTC, JSON by structure with exact decimals.
"""

from __future__ import annotations

import base64
import datetime
import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ddbproj.core import jsontext
from ddbproj.core.columns import Column, ColumnKind

__all__ = [
    "ColumnDifference",
    "RowDifference",
    "TableReport",
    "VerifyReport",
    "canonical_key",
    "canonical_row",
    "canonical_value",
    "compare_rows",
]


def canonical_value(column: Column, value: Any) -> str | None:
    """The canonical text of ``value`` in ``column`` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    kind = column.kind
    if kind is ColumnKind.INTEGER:
        return str(int(value))
    if kind is ColumnKind.DECIMAL:
        return _decimal_text(value if isinstance(value, Decimal) else Decimal(str(value)))
    if kind is ColumnKind.FLOAT:
        return repr(float(value))
    if kind is ColumnKind.BOOLEAN:
        return "true" if _truthy(value) else "false"
    if kind is ColumnKind.BINARY:
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind is ColumnKind.DATETIME:
        return _datetime_text(value)
    if kind is ColumnKind.DATE:
        return value if isinstance(value, str) else value.isoformat()
    if kind is ColumnKind.JSON:
        parsed = jsontext.loads(value) if isinstance(value, str | bytes) else value
        return jsontext.dumps(_exact_numbers(parsed))
    return str(value)


def canonical_row(columns: Sequence[Column], row: Sequence[Any]) -> tuple[str | None, ...]:
    return tuple(canonical_value(c, v) for c, v in zip(columns, row, strict=True))


def canonical_key(columns: Sequence[Column], key: Sequence[Any]) -> str:
    """One text per key, the same for both sides: what a lookup goes by."""
    return jsontext.dumps([canonical_value(c, v) for c, v in zip(columns, key, strict=True)])


@attrs.frozen
class ColumnDifference:
    column: str
    expected: str | None
    actual: str | None


@attrs.frozen
class RowDifference:
    """One row that is missing, extra or different, named by its key."""

    kind: str  # "missing" | "extra" | "different"
    table: str
    key: Mapping[str, str | None]
    columns: tuple[ColumnDifference, ...] = ()

    def describe(self) -> str:
        key = ", ".join(f"{name}={value}" for name, value in self.key.items())
        if self.kind == "missing":
            return f"missing    {self.table} {key}: in DynamoDB, not in SQL"
        if self.kind == "extra":
            return f"extra      {self.table} {key}: in SQL, not in DynamoDB"
        changes = "; ".join(
            f"{d.column}: dynamodb {_show(d.expected)}, sql {_show(d.actual)}"
            for d in self.columns
        )
        return f"different  {self.table} {key}: {changes}"


def compare_rows(
    columns: Sequence[Column],
    expected: Sequence[str | None],
    actual: Sequence[str | None],
) -> tuple[ColumnDifference, ...]:
    """The columns whose canonical values differ."""
    return tuple(
        ColumnDifference(c.name, e, a)
        for c, e, a in zip(columns, expected, actual, strict=True) if e != a
    )


@attrs.define
class TableReport:
    table: str
    expected: int = 0
    actual: int = 0
    equal: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    examples: list[RowDifference] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.different)


@attrs.define
class VerifyReport:
    """What ``verify`` found; ``examples`` keeps the first few differences per table."""

    source: str
    items: int = 0
    skipped: int = 0
    unprojectable: int = 0
    tables: dict[str, TableReport] = attrs.Factory(dict)
    unprojectable_examples: list[str] = attrs.Factory(list)

    @property
    def ok(self) -> bool:
        return self.unprojectable == 0 and all(t.ok for t in self.tables.values())

    def lines(self) -> list[str]:
        verdict = "EQUIVALENT" if self.ok else "NOT EQUIVALENT"
        rows = sum(t.expected for t in self.tables.values())
        out = [f"verify {self.source}: {verdict} ({self.items} items scanned, {rows} rows "
               f"expected in {len(self.tables)} tables, {self.skipped} items skipped)"]
        width = max([5, *(len(name) for name in self.tables)])
        out.append(f"{'table':<{width}}  {'dynamodb':>9} {'sql':>9} {'equal':>9} "
                   f"{'missing':>8} {'extra':>8} {'different':>9}")
        for name, t in sorted(self.tables.items()):
            out.append(f"{name:<{width}}  {t.expected:>9} {t.actual:>9} {t.equal:>9} "
                       f"{t.missing:>8} {t.extra:>8} {t.different:>9}")
        for _, t in sorted(self.tables.items()):
            out.extend("  " + example.describe() for example in t.examples)
        if self.unprojectable:
            out.append(f"{self.unprojectable} items cannot be projected (their projector "
                       "rejects them; see the dead letters):")
            out.extend("  " + text for text in self.unprojectable_examples)
        return out


def _decimal_text(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _datetime_text(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return str(value.isoformat(timespec="microseconds"))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def _exact_numbers(value: Any) -> Any:
    """1, 1.0 and 1.00 are one number; a server may respell what the sink wrote."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal | float):
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return int(number) if number == number.to_integral_value() else number.normalize()
    if isinstance(value, Mapping):
        return {key: _exact_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact_numbers(item) for item in value]
    return value


def _show(value: str | None) -> str:
    if value is None:
        return "NULL"
    return value if len(value) <= 60 else value[:57] + "..."
