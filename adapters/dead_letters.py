"""The dead letters as stored: list them, load their raw records, delete the ones that apply.

Replaying is the caller's work (it plans the raw records with the current projectors and
writes the plan); deleting the letters that now apply happens inside that same
transaction, so a letter is gone only once its effect is committed.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from adapters.schema import dead_letters_table
from core import jsontext

__all__ = ["DeadLetterStore", "StoredDeadLetter"]


@attrs.frozen
class StoredDeadLetter:
    """One row of ``ddbproj_dead_letters``; ``raw_record`` is the record as it arrived."""

    id: int
    record_id: str
    projector: str | None
    entity_type: str | None
    table_name: str | None
    item_key: Any
    sequence_number: int | None
    event_kind: str | None
    error: str
    first_seen: datetime.datetime
    last_seen: datetime.datetime
    attempts: int
    raw_record: Any = attrs.field(default=None, repr=False)


class DeadLetterStore:
    """Queries on the dead-letter table of one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.table = dead_letters_table(sa.MetaData())

    def list(
        self,
        *,
        table_name: str | None = None,
        record_ids: Sequence[str] | None = None,
        limit: int | None = None,
        with_raw: bool = False,
    ) -> list[StoredDeadLetter]:
        """Dead letters, oldest first; filtered by projected table or record ids."""
        table = self.table
        query = sa.select(table).order_by(table.c.id)
        if table_name is not None:
            query = query.where(table.c.table_name == table_name)
        if record_ids is not None:
            query = query.where(table.c.record_id.in_(list(record_ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_letter(row, with_raw=with_raw) for row in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def delete(self, conn: sa.Connection, record_ids: Sequence[str]) -> int:
        """Delete letters by record id inside the caller's transaction; returns how many."""
        deleted = 0
        for start in range(0, len(record_ids), 500):
            chunk = list(record_ids[start:start + 500])
            result = conn.execute(self.table.delete().where(self.table.c.record_id.in_(chunk)))
            deleted += result.rowcount
        return deleted


def _letter(row: Any, *, with_raw: bool) -> StoredDeadLetter:
    raw = _loads(row["raw_record"]) if with_raw else None
    item_key = _loads(row["item_key"]) if row["item_key"] is not None else None
    sequence = row["sequence_number"]
    return StoredDeadLetter(
        id=row["id"],
        record_id=row["record_id"],
        projector=row["projector"],
        entity_type=row["entity_type"],
        table_name=row["table_name"],
        item_key=item_key,
        sequence_number=int(sequence) if sequence is not None else None,
        event_kind=row["event_kind"],
        error=row["error"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        attempts=row["attempts"],
        raw_record=raw,
    )


def _loads(text: str) -> Any:
    """Stored JSON back to values; text that was never JSON (a repr) stays text."""
    try:
        return jsontext.loads(text)
    except ValueError:
        return text
