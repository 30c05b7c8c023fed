"""Schema drift: the live database compared with the tables the projectors need.

A deploy pipeline runs ``ddbproj schema --check`` so that a projector change never meets
an old schema in production: missing tables and columns, types that differ, nullability
and primary keys that differ, columns the projector does not write but an insert would
need, and key columns whose collation would not compare keys as DynamoDB does.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import sqlalchemy as sa

from ddbproj.adapters.schema import key_collation

__all__ = ["Drift", "check_schema", "key_collation"]


@attrs.frozen
class Drift:
    """One difference; ``column`` is None when it concerns the whole table."""

    table: str
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        return f"{where}: {self.problem}"


def check_schema(conn: sa.Connection, metadata: sa.MetaData) -> list[Drift]:
    """Every difference between ``metadata`` and the database behind ``conn``."""
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    dialect = conn.dialect
    collation = key_collation(conn)
    drift: list[Drift] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            drift.append(Drift(table.name, None, "table is missing"))
            continue
        live = {c["name"]: c for c in inspector.get_columns(table.name)}
        for column in table.columns:
            found = live.get(column.name)
            expected = _type_text(column.type, dialect)
            if found is None:
                null = "NULL" if column.nullable else "NOT NULL"
                drift.append(Drift(table.name, column.name,
                                   f"column is missing (expected {expected} {null})"))
                continue
            actual = _type_text(found["type"], dialect)
            if _canonical(actual) != _canonical(expected):
                drift.append(Drift(table.name, column.name,
                                   f"type is {actual}, expected {expected}"))
            if bool(found["nullable"]) != bool(column.nullable) and not column.primary_key:
                drift.append(Drift(table.name, column.name, (
                    "allows NULL, expected NOT NULL" if found["nullable"] else
                    "is NOT NULL, but the projector writes NULL when the attribute is absent")))
        for name, found in live.items():
            if name not in table.columns and not found["nullable"] \
                    and found.get("default") is None and not found.get("autoincrement"):
                drift.append(Drift(table.name, name, "is NOT NULL without a default and not "
                                   "written by the projector: every insert would fail"))
        expected_key = [c.name for c in table.primary_key.columns]
        live_key = inspector.get_pk_constraint(table.name).get("constrained_columns") or []
        if list(live_key) != expected_key:
            drift.append(Drift(table.name, None, f"primary key is ({', '.join(live_key)}), "
                               f"expected ({', '.join(expected_key)})"))
        if collation is not None:
            drift.extend(_collation_drift(conn, table, collation))
    return drift


def _collation_drift(conn: sa.Connection, table: sa.Table, collation: str) -> list[Drift]:
    keys = [c.name for c in table.primary_key.columns]
    rows = conn.execute(sa.text(
        "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table"), {"table": table.name}).all()
    return [
        Drift(table.name, name, f"collation is {found}, expected {collation} (keys must "
              "compare as DynamoDB compares them: binary, trailing spaces significant)")
        for name, found in rows
        if name in keys and found is not None and found != collation
    ]


def _type_text(type_: Any, dialect: sa.Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:
        return str(type_)


_SYNONYMS = {"NUMERIC": "DECIMAL", "BOOLEAN": "BOOL", "INT": "INTEGER",
             "JSON": "LONGTEXT", "DOUBLE PRECISION": "DOUBLE"}
_INTEGERS = {"TINYINT", "SMALLINT", "MEDIUMINT", "INTEGER", "BIGINT"}


def _canonical(text: str) -> str:
    """Type text without what does not change the values a column holds: display widths,
    charset and collation clauses, spelling variants (NUMERIC/DECIMAL, BOOL/TINYINT(1)),
    and MariaDB's JSON, which is LONGTEXT with a check."""
    text = re.sub(r"\s+(CHARACTER SET|COLLATE)\s+\w+", "", text.upper()).strip()
    if text == "TINYINT(1)":
        return "BOOL"
    match = re.fullmatch(r"([A-Z ]+?)\s*(\(.*\))?", text)
    if match is None:
        return text
    name = _SYNONYMS.get(match.group(1), match.group(1))
    size = re.sub(r",\s*", ", ", match.group(2) or "")
    return name if name in _INTEGERS else name + size
