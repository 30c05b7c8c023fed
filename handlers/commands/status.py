"""``ddbproj status``: where each consumer and backfill is, what the tables hold, and what
went to the dead letters — read from the SQL database; with ``--table``, also the lag of
each shard (the age of its oldest record not yet applied)."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from ddbproj.adapters.backfill_progress import every_backfill
from ddbproj.adapters.checkpoints import CheckpointStore
from ddbproj.adapters.dead_letters import DeadLetterStore
from ddbproj.adapters.stream_reader import (
    DataTrimmed,
    StreamNotEnabled,
    StreamReader,
    latest_stream_arn,
)
from ddbproj.handlers.commands.common import (
    CommandError,
    add_aws_options,
    add_database_options,
    add_json_option,
    aws_client,
    json_document,
    open_processor,
)
from ddbproj.handlers.processor import BatchProcessor

JSON_KEYS = """\
--json prints one object:
  stream_checkpoints  one object per shard: shard_id, stream_arn (null for a shard
                      not started), sequence_number (text, null before the first
                      record), started, finished, lag_seconds (with --table: the age
                      of the oldest record not applied, 0 when caught up; else null)
  backfills           one object per table: table, segments, segments_done, items,
                      complete
  rows                one object per projected table: table, rows (null: no table)
  dead_letters        total, by_table (objects: table, null for unrouted records;
                      count), latest_errors (strings, newest first)
  missing_tables      true when some tables do not exist yet ('schema --apply')"""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "status", help="checkpoints and lag per shard, rows per table, dead letters",
        description="Show the stream checkpoints (and, with --table, each shard's lag), the "
        "backfill progress, the row count of every projected table and the dead letters.",
        epilog=JSON_KEYS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--table", default=None,
                        help="DynamoDB table whose stream lag to measure (reads one record "
                        "per shard)")
    add_json_option(parser)
    add_aws_options(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    processor = open_processor(args, create_schema=False)
    engine = processor.sink.engine
    letters_store = DeadLetterStore(engine)
    checkpoints = CheckpointStore(engine).load()
    backfills = every_backfill(engine)
    letters = letters_store.count_by_table()
    recent = letters_store.latest_errors()
    counts = processor.sink.row_counts()
    lags = _lags(args, processor) if args.table else {}

    missing = None in counts.values() or not letters_store.exists()
    if args.json:
        print(json_document({
            "stream_checkpoints": [
                *({"shard_id": cp.shard_id, "stream_arn": cp.stream_arn,
                   "sequence_number": cp.sequence_number, "started": True,
                   "finished": cp.finished,
                   "lag_seconds": None if cp.finished else lags.get(cp.shard_id)}
                  for cp in checkpoints),
                *({"shard_id": shard_id, "stream_arn": None, "sequence_number": None,
                   "started": False, "finished": False, "lag_seconds": lag}
                  for shard_id, lag in lags.items()
                  if shard_id not in {cp.shard_id for cp in checkpoints}),
            ],
            "backfills": [
                {"table": name, "segments": len(segments),
                 "segments_done": sum(1 for p in segments.values() if p.done),
                 "items": sum(p.items for p in segments.values()),
                 "complete": all(p.done for p in segments.values())}
                for name, segments in backfills.items()
            ],
            "rows": [{"table": name, "rows": count} for name, count in counts.items()],
            "dead_letters": {
                "total": sum(letters.values()),
                "by_table": [{"table": name, "count": n} for name, n in letters.items()],
                "latest_errors": list(recent),
            },
            "missing_tables": missing,
        }))
        return 0

    lines: list[str] = []
    lines.append("stream checkpoints:" if checkpoints or lags else "stream checkpoints: none")
    shown = set()
    for cp in checkpoints:
        shown.add(cp.shard_id)
        state = "finished" if cp.finished else _lag_text(lags.get(cp.shard_id))
        lines.append(f"  {cp.shard_id}  at {cp.sequence_number or '-'}  {state}")
    for shard_id, lag in lags.items():
        if shard_id not in shown:
            lines.append(f"  {shard_id}  not started  {_lag_text(lag)}")
    if backfills:
        lines.append("backfill:")
        for name, segments in backfills.items():
            done = sum(1 for p in segments.values() if p.done)
            items = sum(p.items for p in segments.values())
            state = ("complete" if done == len(segments)
                     else f"{done}/{len(segments)} segments done")
            lines.append(f"  {name}: {state}, {items} items")
    lines.append("rows:")
    lines.extend(f"  {name:<24}{'(no table)' if count is None else count:>10}"
                 for name, count in counts.items())
    lines.append(f"dead letters: {sum(letters.values())}")
    lines.extend(f"  {name or '(no table)':<24}{n:>10}" for name, n in letters.items())
    lines.extend(f"  latest: {error}" for error in recent)
    if missing:
        lines.append("some tables do not exist yet: run 'ddbproj schema --apply' to create them")
    print("\n".join(lines))
    return 0


def _lags(args: argparse.Namespace, processor: BatchProcessor) -> dict[str, float | None]:
    """Per unfinished shard, the age in seconds of its oldest unapplied record (0: none)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        arn = latest_stream_arn(aws_client(args, "dynamodb"), args.table)
        reader = StreamReader(aws_client(args, "dynamodbstreams"), arn, page_limit=1)
        checkpoints = processor.sink.checkpoints(arn)
        lags: dict[str, float | None] = {}
        for shard in reader.shards():
            checkpoint = checkpoints.get(shard.shard_id)
            if checkpoint is not None and checkpoint.finished:
                continue
            after = checkpoint.sequence_number if checkpoint else None
            try:
                page = reader.read(reader.iterator(shard, after=after))
            except DataTrimmed:
                lags[shard.shard_id] = None
                continue
            created = (page.records[0].get("dynamodb") or {}).get(
                "ApproximateCreationDateTime") if page.records else None
            lags[shard.shard_id] = _age(created) if page.records else 0.0
    except StreamNotEnabled as error:
        raise CommandError(str(error)) from error
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"cannot read the stream of {args.table!r}: {error}") from error
    return lags


def _age(created: Any) -> float | None:
    if created is None:
        return None
    if not isinstance(created, datetime.datetime):
        created = datetime.datetime.fromtimestamp(float(created), tz=datetime.UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    age: float = (datetime.datetime.now(datetime.UTC) - created).total_seconds()
    return max(age, 0.0)


def _lag_text(lag: float | None) -> str:
    if lag is None:
        return "lag unknown"
    return "caught up" if lag == 0 else f"behind by {lag:.0f}s"
