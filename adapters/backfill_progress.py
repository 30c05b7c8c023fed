"""Backfill progress in SQL: per table and scan segment, the last key applied.

Each page's progress is written in the transaction that writes the page's rows, so a
backfill stopped at any moment resumes after the last committed page.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from adapters.scanner import decode_key, encode_key
from adapters.schema import BACKFILL_PROGRESS

__all__ = ["BackfillProgress", "SegmentProgress"]


@attrs.frozen
class SegmentProgress:
    segment: int
    total_segments: int
    last_key: dict[str, Any] | None
    items: int
    done: bool


class BackfillProgress:
    """Reads and writes the progress rows of one DynamoDB table's backfill."""

    def __init__(self, engine: sa.Engine, metadata: sa.MetaData, table_name: str) -> None:
        self.engine = engine
        self.table = metadata.tables[BACKFILL_PROGRESS]
        self.table_name = table_name

    def load(self) -> dict[int, SegmentProgress]:
        """Segment -> progress as committed (empty when no backfill was started)."""
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.table_name == self.table_name)).all()
        return {
            row.segment: SegmentProgress(
                row.segment, row.total_segments,
                decode_key(row.last_key) if row.last_key else None,
                int(row.items), bool(row.done),
            )
            for row in rows
        }

    def start(self, total_segments: int) -> None:
        """Forget earlier progress and register ``total_segments`` fresh segments."""
        t = self.table
        now = _utcnow()
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.table_name == self.table_name))
            conn.execute(t.insert(), [
                {"table_name": self.table_name, "segment": segment,
                 "total_segments": total_segments, "last_key": None, "items": 0,
                 "done": False, "updated_at": now}
                for segment in range(total_segments)
            ])

    def record(
        self,
        conn: sa.Connection,
        segment: int,
        *,
        last_key: Mapping[str, Any] | None,
        items: int,
    ) -> None:
        """Inside the page's transaction: the segment has applied ``items`` items up to
        ``last_key`` (None: the segment is done)."""
        t = self.table
        conn.execute(
            t.update()
            .where(t.c.table_name == self.table_name, t.c.segment == segment)
            .values(last_key=encode_key(last_key) if last_key else None, items=items,
                    done=last_key is None, updated_at=_utcnow())
        )

    def clear(self) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.table_name == self.table_name))


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
