"""Dead-letter replay: run stored records again through the (fixed) projectors.

A replay plans the raw records exactly as the Lambda handler does and commits the plan
with the same guards, so a dead letter older than the row already there changes nothing;
the letters that now apply are deleted in the same transaction, the others stay with
their new error and one more attempt.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import sqlalchemy as sa

from ddbproj.adapters.dead_letters import DeadLetterStore, StoredDeadLetter
from ddbproj.core.plan import Tally, plan_batch
from ddbproj.core.records import parse_records
from ddbproj.handlers.processor import BatchProcessor

__all__ = ["DEFAULT_LIMIT", "ReplayReport", "replay_dead_letters"]

DEFAULT_LIMIT = 1_000


@attrs.frozen
class ReplayReport:
    replayed: int
    applied: int
    skipped: int
    still_failing: tuple[StoredDeadLetter, ...]


def replay_dead_letters(
    processor: BatchProcessor,
    *,
    table_name: str | None = None,
    record_ids: Sequence[str] | None = None,
    limit: int | None = DEFAULT_LIMIT,
) -> ReplayReport:
    """Plan the stored raw records with ``processor``'s projectors and commit the plan and
    the removal of the letters that now apply (or are now skipped) in one transaction."""
    store = DeadLetterStore(processor.sink.engine)
    letters = store.list(table_name=table_name, record_ids=record_ids, limit=limit,
                         with_raw=True)
    if not letters:
        return ReplayReport(0, 0, 0, ())
    plan = plan_batch(parse_records([letter.raw_record for letter in letters]),
                      processor.registry)
    ids = [letter.record_id for letter in letters]

    def remove_applied(conn: sa.Connection, tally: Tally) -> None:
        failing = {letter.record_id for letter in tally.dead_letters}
        store.delete(conn, [record_id for record_id in ids if record_id not in failing])

    tally = processor.sink.commit(plan, also=remove_applied)
    failing = sorted({letter.record_id for letter in tally.dead_letters})
    still = store.list(record_ids=failing) if failing else []
    return ReplayReport(replayed=len(letters), applied=tally.applied,
                        skipped=sum(tally.skipped.values()), still_failing=tuple(still))
