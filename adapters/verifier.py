"""Proving that SQL holds what DynamoDB holds, with bounded memory.

Pass 1 scans the table, runs every item through its projector and keeps the expected
rows, in canonical form, in a scratch SQLite file on disk (never in memory). Pass 2 reads
each SQL table in primary-key order, a chunk at a time, looks its keys up among the
expected rows and compares them value by value; expected rows never met are missing.
``progress`` hears of both passes: ``("scan", items scanned, None)`` after each page and
``("compare", SQL rows read, rows expected)`` after each chunk.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from ddbproj.adapters.scanner import TableScanner
from ddbproj.core import jsontext
from ddbproj.core.columns import Column, ColumnKind
from ddbproj.core.compare import (
    RowDifference,
    TableReport,
    VerifyReport,
    canonical_key,
    canonical_row,
    compare_rows,
)
from ddbproj.core.plan import plan_batch
from ddbproj.core.projector import CompiledProjector
from ddbproj.core.records import ParsedBatch, scanned_item
from ddbproj.core.registry import ProjectorRegistry

__all__ = ["PHASE_COMPARE", "PHASE_SCAN", "Progress", "Verifier"]

_LOOKUP_CHUNK = 500

PHASE_SCAN = "scan"
PHASE_COMPARE = "compare"
#: ``(phase, done, total)``: total is None while it is unknown.
Progress = Callable[[str, int, int | None], None]


class Verifier:
    """Compares one DynamoDB table with the SQL tables of its projectors."""

    def __init__(
        self,
        registry: ProjectorRegistry,
        engine: sa.Engine,
        metadata: sa.MetaData,
        scanner: TableScanner,
        *,
        chunk_size: int = 1000,
        examples: int = 5,
        scratch_dir: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.metadata = metadata
        self.scanner = scanner
        self.chunk_size = chunk_size
        self.examples = examples
        self.scratch_dir = scratch_dir
        self.progress = progress
        self._compared = 0

    def verify(self) -> VerifyReport:
        report = VerifyReport(source=self.scanner.table_name)
        tables = self.registry.tables()
        for name in tables:
            report.tables[name] = TableReport(name)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir, prefix="ddbproj-verify-") as tmp:
            scratch = sqlite3.connect(os.path.join(tmp, "expected.db"))
            try:
                scratch.execute("CREATE TABLE expected (tbl TEXT NOT NULL, k TEXT NOT NULL, "
                                "row TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0, "
                                "PRIMARY KEY (tbl, k)) WITHOUT ROWID")
                self._expect(scratch, tables, report)
                self._compared = 0
                expected = sum(t.expected for t in report.tables.values())
                for name, projector in sorted(tables.items()):
                    self._compare_table(scratch, projector, report.tables[name], expected)
            finally:
                scratch.close()
        return report

    # -- pass 1: DynamoDB -> expected rows on disk --------------------------------------

    def _expect(
        self,
        scratch: sqlite3.Connection,
        tables: dict[str, CompiledProjector],
        report: VerifyReport,
    ) -> None:
        key_names = self.scanner.key_names()
        for page in self.scanner.pages():
            batch = ParsedBatch([scanned_item(item, key_names) for item in page.items], [])
            report.items += len(page.items)
            for chunk in plan_batch(batch, self.registry).chunks():
                report.skipped += sum(chunk.skipped.values())
                report.unprojectable += len(chunk.dead_letters)
                for letter in chunk.dead_letters:
                    if len(report.unprojectable_examples) < self.examples:
                        report.unprojectable_examples.append(letter.error)
                for name, changes in chunk.tables.items():
                    projector = tables[name]
                    key_columns = [projector.columns[i] for i in projector.key_indexes]
                    rows = [
                        (name,
                         canonical_key(key_columns, [row[i] for i in projector.key_indexes]),
                         jsontext.dumps(list(canonical_row(projector.columns, row))))
                        for _, row in changes.rows.values()
                    ]
                    scratch.executemany(
                        "INSERT OR REPLACE INTO expected (tbl, k, row) VALUES (?, ?, ?)", rows)
            scratch.commit()
            if self.progress is not None:
                self.progress(PHASE_SCAN, report.items, None)
        for name, table_report in report.tables.items():
            (count,) = scratch.execute(
                "SELECT COUNT(*) FROM expected WHERE tbl = ?", (name,)).fetchone()
            table_report.expected = int(count)

    # -- pass 2: SQL in key order, chunk by chunk ----------------------------------------

    def _compare_table(
        self,
        scratch: sqlite3.Connection,
        projector: CompiledProjector,
        report: TableReport,
        expected_rows: int,
    ) -> None:
        columns = projector.columns
        key_columns = [columns[i] for i in projector.key_indexes]
        for chunk in self._sql_chunks(projector):
            report.actual += len(chunk)
            self._compared += len(chunk)
            if self.progress is not None:
                self.progress(PHASE_COMPARE, self._compared, expected_rows)
            keyed = {
                canonical_key(key_columns, [row[i] for i in projector.key_indexes]): row
                for row in chunk
            }
            expected = self._lookup(scratch, report.table, list(keyed))
            for key, row in keyed.items():
                actual = canonical_row(columns, row)
                wanted = expected.get(key)
                if wanted is None:
                    report.extra += 1
                    self._example(report, "extra", key_columns, actual, projector)
                    continue
                differences = compare_rows(columns, wanted, actual)
                if differences:
                    report.different += 1
                    if len(report.examples) < self.examples:
                        report.examples.append(RowDifference(
                            "different", report.table, _key_map(key_columns, projector, actual),
                            differences))
                else:
                    report.equal += 1
            self._mark_seen(scratch, report.table, list(keyed))
        cursor = scratch.execute(
            "SELECT row FROM expected WHERE tbl = ? AND seen = 0 ORDER BY k", (report.table,))
        for (text,) in _fetch(cursor):
            report.missing += 1
            self._example(report, "missing", key_columns, tuple(jsontext.loads(text)), projector)

    def _sql_chunks(self, projector: CompiledProjector) -> Iterator[list[tuple[Any, ...]]]:
        """The table's rows in primary-key order, ``chunk_size`` at a time (keyset pages)."""
        table = self.metadata.tables[projector.table]
        selected = [_readable(table.c[c.name], c) for c in projector.columns]
        key = [table.c[projector.columns[i].name] for i in projector.key_indexes]
        last: tuple[Any, ...] | None = None
        with self.engine.connect() as conn:
            while True:
                query = sa.select(*selected).order_by(*key).limit(self.chunk_size)
                if last is not None:
                    query = query.where(
                        key[0] > last[0] if len(key) == 1 else sa.tuple_(*key) > sa.tuple_(*last)
                    )
                rows = [tuple(row) for row in conn.execute(query)]
                if not rows:
                    return
                yield rows
                last = tuple(rows[-1][i] for i in projector.key_indexes)
                if len(rows) < self.chunk_size:
                    return

    def _lookup(
        self, scratch: sqlite3.Connection, table: str, keys: list[str]
    ) -> dict[str, tuple[str | None, ...]]:
        found: dict[str, tuple[str | None, ...]] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            part = keys[start:start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(part))
            for k, text in scratch.execute(
                f"SELECT k, row FROM expected WHERE tbl = ? AND k IN ({marks})",
                (table, *part),
            ):
                found[k] = tuple(jsontext.loads(text))
        return found

    def _mark_seen(self, scratch: sqlite3.Connection, table: str, keys: list[str]) -> None:
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            part = keys[start:start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(part))
            scratch.execute(
                f"UPDATE expected SET seen = 1 WHERE tbl = ? AND k IN ({marks})",
                (table, *part),
            )
        scratch.commit()

    def _example(
        self,
        report: TableReport,
        kind: str,
        key_columns: Sequence[Column],
        row: tuple[str | None, ...],
        projector: CompiledProjector,
    ) -> None:
        if len(report.examples) < self.examples:
            report.examples.append(
                RowDifference(kind, report.table, _key_map(key_columns, projector, row)))


def _key_map(
    key_columns: Sequence[Column], projector: CompiledProjector, row: Sequence[str | None]
) -> dict[str, str | None]:
    return {c.name: row[i] for c, i in zip(key_columns, projector.key_indexes, strict=True)}


def _readable(column: sa.ColumnElement[Any], spec: Column) -> sa.ColumnElement[Any]:
    """JSON columns as their text: the driver's JSON decoding would go through float."""
    if spec.kind is ColumnKind.JSON:
        return sa.type_coerce(column, sa.Text()).label(spec.name)
    return column


def _fetch(cursor: sqlite3.Cursor, size: int = 1000) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = cursor.fetchmany(size)
        if not rows:
            return
        yield from rows
