"""``ddbproj dlq list`` and ``ddbproj dlq replay``: see the records that could not be
projected, and run them again through the (fixed) projectors.

A replay plans the raw records exactly as the Lambda handler does and writes the plan with
the same sequence guard, so a dead letter older than the row already there changes
nothing; the letters that now apply are deleted in the same transaction, the others stay
with their new error and one more attempt.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from adapters.dead_letters import DeadLetterStore, StoredDeadLetter
from core.plan import plan_batch
from core.records import parse_records
from handlers.commands.common import CommandError, add_database_options, open_processor
from handlers.processor import BatchProcessor

__all__ = ["ReplayReport", "register", "replay_dead_letters"]

DEFAULT_LIMIT = 1_000


@attrs.frozen
class ReplayReport:
    replayed: int
    applied: int
    skipped: int
    still_failing: tuple[StoredDeadLetter, ...]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "dlq", help="list or replay the dead letters",
        description="Records that could not be projected wait in ddbproj_dead_letters with "
        "their raw record and the error. 'list' shows them; 'replay' runs them again through "
        "the current projectors and removes the ones that now apply.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("list", "show the dead letters, oldest first"),
                       ("replay", "project the dead letters again; remove those that apply")):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--table", default=None, help="only letters for this SQL table")
        action.add_argument("--id", dest="record_ids", action="append", default=None,
                            metavar="RECORD_ID", help="only this record id (repeatable)")
        action.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                            help=f"at most this many letters (default {DEFAULT_LIMIT})")
        add_database_options(action)
        action.set_defaults(run=run_list if name == "list" else run_replay)


def run_list(args: argparse.Namespace) -> int:
    processor = open_processor(args)
    letters = DeadLetterStore(processor.sink.engine).list(
        table_name=args.table, record_ids=args.record_ids, limit=args.limit)
    for letter in letters:
        print(_describe(letter))
    print(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    processor = open_processor(args)
    try:
        report = replay_dead_letters(processor, table_name=args.table,
                                     record_ids=args.record_ids, limit=args.limit)
    except sa.exc.SQLAlchemyError as error:
        raise CommandError(f"replay failed, nothing committed: {error}") from error
    for letter in report.still_failing:
        print(f"still failing: {_describe(letter)}")
    print(f"replayed={report.replayed} applied={report.applied} skipped={report.skipped} "
          f"still_failing={len(report.still_failing)}")
    return 1 if report.still_failing else 0


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
    failing = {letter.record_id for letter in plan.dead_letters}
    done = [letter.record_id for letter in letters if letter.record_id not in failing]

    def work(conn: sa.Connection) -> None:
        processor.sink.write(conn, plan)
        store.delete(conn, done)

    processor.sink.run_in_transaction(work)
    still = store.list(record_ids=sorted(failing)) if failing else []
    return ReplayReport(replayed=len(letters), applied=plan.applied,
                        skipped=sum(plan.skipped.values()), still_failing=tuple(still))


def _describe(letter: StoredDeadLetter) -> str:
    where = letter.table_name or "-"
    seq = letter.sequence_number if letter.sequence_number is not None else "-"
    return (f"{letter.record_id}  table={where}  {letter.event_kind or '-'}  seq={seq}  "
            f"attempts={letter.attempts}  last_seen={letter.last_seen.isoformat()}\n"
            f"    {letter.error}")
