"""The dead-letter table, read and written here only.

Letters are written by the batch's transaction (``store``); listing, counting and
deleting serve ``dlq`` and ``status``. Replaying a letter is the replay service's work: it
plans the raw records again and deletes the letters that now apply inside the transaction
that commits their effect, so a letter is gone only once its effect is committed. Every
value is cut to fit its column first, so that storing a letter can never fail a batch.
"""

from __future__ import annotations

import builtins
import datetime
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from ddbproj.adapters.schema import (
    DEAD_LETTER_ERROR_CHARS,
    DEAD_LETTER_KIND_CHARS,
    DEAD_LETTER_NAME_CHARS,
    DEAD_LETTERS,
    dead_letters_table,
    table_missing,
)
from ddbproj.adapters.statements import bookkeeping_upsert, rank_value, utc_wall_time
from ddbproj.core import jsontext
from ddbproj.core.names import SEQ_DIGITS
from ddbproj.core.plan import DeadLetter

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
    """The dead letters of one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.table = dead_letters_table(sa.MetaData())

    # -- written by a batch ---------------------------------------------------------

    def store(self, conn: sa.Connection, letters: Sequence[DeadLetter]) -> None:
        """Upsert ``letters`` inside the batch's transaction; a letter seen again keeps its
        first sighting and counts one more attempt."""
        now = utc_wall_time()
        dialect = conn.dialect
        rows = [
            {
                "record_id": letter.record_id,
                "projector": _cut(letter.projector, DEAD_LETTER_NAME_CHARS),
                "entity_type": _cut(letter.entity_type, DEAD_LETTER_NAME_CHARS),
                "table_name": letter.table,
                "item_key": _json_text(letter.keys) if letter.keys is not None else None,
                "sequence_number": rank_value(dialect, _fitting(letter.sequence_number)),
                "event_kind": _cut(letter.event_kind, DEAD_LETTER_KIND_CHARS),
                "raw_record": _json_text(letter.raw_record),
                "error": _cut(letter.error, DEAD_LETTER_ERROR_CHARS),
                "first_seen": now,
                "last_seen": now,
                "attempts": 1,
            }
            for letter in {letter.record_id: letter for letter in letters}.values()
        ]
        if rows:
            conn.execute(
                bookkeeping_upsert(dialect, self.table, ["record_id"],
                                   updates=["error", "raw_record", "last_seen", "projector",
                                            "entity_type", "table_name"],
                                   increment="attempts"),
                rows,
            )

    def delete(self, conn: sa.Connection, record_ids: Sequence[str]) -> int:
        """Delete letters by record id inside the caller's transaction; returns how many."""
        deleted = 0
        for start in range(0, len(record_ids), 500):
            chunk = list(record_ids[start:start + 500])
            result = conn.execute(self.table.delete().where(self.table.c.record_id.in_(chunk)))
            deleted += result.rowcount
        return deleted

    # -- read by commands -----------------------------------------------------------

    def exists(self) -> bool:
        """Whether the table was created (``ddbproj schema --apply``); reads of a missing
        table give nothing rather than creating it."""
        return not table_missing(self.engine, DEAD_LETTERS)

    def list(
        self,
        *,
        table_name: str | None = None,
        record_ids: Sequence[str] | None = None,
        limit: int | None = None,
        with_raw: bool = False,
    ) -> builtins.list[StoredDeadLetter]:
        """Dead letters, oldest first; filtered by projected table or record ids."""
        if not self.exists():
            return []
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
        if not self.exists():
            return 0
        with self.engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def count_by_table(self) -> dict[str | None, int]:
        """Projected table (None: unrouted records) -> letters."""
        if not self.exists():
            return {}
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.table_name, sa.func.count())
                                .group_by(t.c.table_name)).all()
        return {name: int(count) for name, count in rows}

    def latest_errors(self, limit: int = 3) -> builtins.list[str]:
        if not self.exists():
            return []
        t = self.table
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(t.c.error).order_by(t.c.last_seen.desc())
                                     .limit(limit)).scalars().all())


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


def _json_text(value: Any) -> str:
    """JSON of a raw record as it arrived; a value JSON cannot hold, as its repr. Lone
    surrogates are escaped, so the text is valid UTF-8 that utf8mb4 stores."""
    try:
        text = jsontext.dumps(value)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except RecursionError:
            text = "<too deeply nested to show>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _cut(text: str | None, limit: int) -> str | None:
    """Text that fits its column (and holds no lone surrogate)."""
    if text is None:
        return None
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fitting(sequence_number: int | None) -> int | None:
    """A sequence number the column holds, or none (the raw record still has it)."""
    if sequence_number is None or not 0 <= sequence_number < 10 ** SEQ_DIGITS:
        return None
    return sequence_number
