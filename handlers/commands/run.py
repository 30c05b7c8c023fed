"""``ddbproj run --table T``: a stream consumer that does what the Lambda event source
mapping does, for local development and for teams that run it as a container.

Every page of ``get_records`` goes through the same pipeline as the Lambda handler, and
the shard's checkpoint is committed in the same transaction as the page's rows: a crash
at any moment neither skips nor repeats a record.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from ddbproj.adapters.stream_reader import (
    Shard,
    StartPosition,
    StreamNotEnabled,
    StreamReader,
    latest_stream_arn,
)
from ddbproj.handlers.commands.common import (
    CommandError,
    add_aws_options,
    add_database_options,
    add_filter_option,
    aws_client,
    event_filter,
    open_processor,
    stop_on_sigint,
)
from ddbproj.handlers.consumer import ConsumerFailed, StreamConsumer
from ddbproj.handlers.processor import BatchResult

__all__ = ["register", "run"]

def register(commands: Any) -> None:
    parser = commands.add_parser(
        "run", help="consume a table's stream into SQL (what the Lambda mapping does)",
        description="Follow every shard of the table's stream (parents before children), "
        "apply each page of records and commit the shard's checkpoint with its rows. "
        "Ctrl-C stops after the current page.",
    )
    parser.add_argument("--table", required=True, help="DynamoDB table name")
    parser.add_argument("--from", dest="start", choices=["trim_horizon", "latest"],
                        default="trim_horizon",
                        help="where to start on a stream never read before (default: "
                        "trim_horizon, the oldest record kept)")
    parser.add_argument("--until-idle", action="store_true",
                        help="exit once every shard is read to its current end")
    parser.add_argument("--page-size", type=int, default=1000,
                        help="records per get_records call (default 1000, the maximum)")
    add_aws_options(parser)
    add_database_options(parser)
    add_filter_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    processor = open_processor(args)
    try:
        arn = latest_stream_arn(aws_client(args, "dynamodb"), args.table)
    except StreamNotEnabled as error:
        raise CommandError(str(error)) from error
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"cannot describe table {args.table!r}: {error}") from error
    reader = StreamReader(aws_client(args, "dynamodbstreams"), arn, page_limit=args.page_size)

    def report(shard: Shard, result: BatchResult) -> None:
        print(f"{shard.shard_id}: {result.records} records, {result.applied} applied, "
              f"{sum(result.skipped.values())} skipped, {result.dead_lettered} dead letters, "
              f"up to {result.last_sequence_id}", file=sys.stderr)

    consumer = StreamConsumer(processor, reader, start=StartPosition(args.start), on_page=report,
                              event_filter=event_filter(args.filter_criteria, processor.registry))
    stop = threading.Event()
    started = time.perf_counter()
    try:
        with stop_on_sigint(stop, "the consumer"):
            stats = consumer.run(until_idle=args.until_idle, stop=stop)
    except ConsumerFailed as error:
        raise CommandError(f"{error}: run the same command again to resume from the "
                           "checkpoint once the cause is fixed") from error
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"reading the stream of {args.table!r} failed: {error}") from error
    print(f"run {args.table}: {stats.records} records in {stats.pages} pages, "
          f"{stats.applied} applied, {stats.skipped} skipped, {stats.filtered} filtered, "
          f"{stats.dead_lettered} dead letters, {stats.shards_finished} shards finished, "
          f"{time.perf_counter() - started:.1f}s")
    return 0
