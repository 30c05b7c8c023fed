"""``ddbproj dlq list`` and ``ddbproj dlq replay``: see the records that could not be
projected, and run them again through the (fixed) projectors.

A replay plans the raw records exactly as the Lambda handler does and writes the plan with
the same sequence guard, so a dead letter older than the row already there changes
nothing; the letters that now apply are deleted in the same transaction, the others stay
with their new error and one more attempt.
"""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa

from ddbproj.adapters.dead_letters import DeadLetterStore, StoredDeadLetter
from ddbproj.handlers.commands.common import (
    CommandError,
    add_database_options,
    add_json_option,
    json_document,
    open_processor,
    positive_int,
)
from ddbproj.handlers.dead_letter_replay import DEFAULT_LIMIT, replay_dead_letters

__all__ = ["register"]

JSON_KEYS = """\
--json (list) prints one object:
  table_exists  false before 'ddbproj schema --apply' created the table
  count         the letters listed
  dead_letters  oldest first, one object each: record_id, table (the SQL table, null
                when no projector claimed the record), projector, entity_type,
                event_kind, sequence_number (text), item_key, attempts, first_seen,
                last_seen (ISO 8601 text), error"""

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
        action = actions.add_parser(
            name, help=text, description=text,
            epilog=JSON_KEYS if name == "list" else None,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        action.add_argument("--sql-table", default=None, metavar="TABLE",
                            help="only letters for this SQL table (a projector's table)")
        # elsewhere --table names the DynamoDB table: refused here rather than read as SQL
        action.add_argument("--table", dest="dynamodb_table", default=None,
                            help=argparse.SUPPRESS)
        action.add_argument("--id", dest="record_ids", action="append", default=None,
                            metavar="RECORD_ID", help="only this record id (repeatable)")
        action.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT,
                            help=f"at most this many letters (default {DEFAULT_LIMIT})")
        if name == "list":
            add_json_option(action)
        add_database_options(action)
        action.set_defaults(run=run_list if name == "list" else run_replay)


def _refuse_table_option(args: argparse.Namespace) -> None:
    if args.dynamodb_table is not None:
        raise CommandError(
            f"--table names a DynamoDB table in the other commands; the dead letters are "
            f"filtered by the SQL table of their projector: use --sql-table "
            f"{args.dynamodb_table}")


def run_list(args: argparse.Namespace) -> int:
    _refuse_table_option(args)
    processor = open_processor(args, create_schema=False)
    store = DeadLetterStore(processor.sink.engine)
    exists = store.exists()
    letters = store.list(table_name=args.sql_table, record_ids=args.record_ids,
                         limit=args.limit)
    if args.json:
        print(json_document({"table_exists": exists, "count": len(letters),
                             "dead_letters": [_document(letter) for letter in letters]}))
        return 0
    if not exists:
        print("no dead-letter table yet: run 'ddbproj schema --apply' to create it")
    for letter in letters:
        print(_describe(letter))
    print(f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    _refuse_table_option(args)
    processor = open_processor(args)
    try:
        report = replay_dead_letters(processor, table_name=args.sql_table,
                                     record_ids=args.record_ids, limit=args.limit)
    except sa.exc.SQLAlchemyError as error:
        raise CommandError(f"replay failed, nothing committed: {error}") from error
    for letter in report.still_failing:
        print(f"still failing: {_describe(letter)}")
    print(f"replayed={report.replayed} applied={report.applied} skipped={report.skipped} "
          f"still_failing={len(report.still_failing)}")
    return 1 if report.still_failing else 0


def _describe(letter: StoredDeadLetter) -> str:
    where = letter.table_name or "-"
    seq = letter.sequence_number if letter.sequence_number is not None else "-"
    return (f"{letter.record_id}  table={where}  {letter.event_kind or '-'}  seq={seq}  "
            f"attempts={letter.attempts}  last_seen={letter.last_seen.isoformat()}\n"
            f"    {letter.error}")


def _document(letter: StoredDeadLetter) -> dict[str, Any]:
    return {
        "record_id": letter.record_id,
        "table": letter.table_name,
        "projector": letter.projector,
        "entity_type": letter.entity_type,
        "event_kind": letter.event_kind,
        "sequence_number": (str(letter.sequence_number)
                            if letter.sequence_number is not None else None),
        "item_key": letter.item_key,
        "attempts": letter.attempts,
        "first_seen": letter.first_seen,
        "last_seen": letter.last_seen,
        "error": letter.error,
    }
