"""Backfill progress in SQL: per table and scan segment, the last key applied.

Each page's progress is written in the transaction that writes the page's rows, so a
backfill stopped at any moment resumes after the last committed page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from ddbproj.adapters.scanner import decode_key, encode_key
from ddbproj.adapters.schema import BACKFILL_PROGRESS, backfill_progress_table, table_missing
from ddbproj.adapters.statements import utc_wall_time

__all__ = ["BackfillProgress", "SegmentProgress", "every_backfill"]


@attrs.frozen
class SegmentProgress:
    segment: int
    total_segments: int
    last_key: dict[str, Any] | None
    items: int
    done: bool


class BackfillProgress:
    """Reads and writes the progress rows of one DynamoDB table's backfill."""

    def __init__(self, engine: sa.Engine, table_name: str) -> None:
        self.engine = engine
        self.table = backfill_progress_table(sa.MetaData())
        self.table_name = table_name

    def load(self) -> dict[int, SegmentProgress]:
        """Segment -> progress as committed (empty when no backfill was started)."""
        return every_backfill(self.engine, self.table_name).get(self.table_name, {})

    def start(self, total_segments: int) -> None:
        """Forget earlier progress and register ``total_segments`` fresh segments."""
        t = self.table
        now = utc_wall_time()
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
                    done=last_key is None, updated_at=utc_wall_time())
        )

    def clear(self) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.table_name == self.table_name))


def every_backfill(
    engine: sa.Engine, table_name: str | None = None
) -> dict[str, dict[int, SegmentProgress]]:
    """DynamoDB table -> segment -> progress, as committed; empty when the table of
    progress was never created."""
    if table_missing(engine, BACKFILL_PROGRESS):
        return {}
    t = backfill_progress_table(sa.MetaData())
    query = sa.select(t).order_by(t.c.table_name, t.c.segment)
    if table_name is not None:
        query = query.where(t.c.table_name == table_name)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found: dict[str, dict[int, SegmentProgress]] = {}
    for row in rows:
        found.setdefault(row.table_name, {})[row.segment] = SegmentProgress(
            row.segment, row.total_segments,
            decode_key(row.last_key) if row.last_key else None, int(row.items), bool(row.done))
    return found
