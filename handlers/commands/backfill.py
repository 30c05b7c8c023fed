"""``ddbproj backfill --table T``: the initial load of a table that already holds data.

A parallel ``Scan`` whose items become synthetic INSERTs ranked below every stream
record (docs/design.md, "The contract"), so a backfill running beside the stream consumer never
overwrites a newer change nor revives a deleted item. Each page's rows and its segment's
progress commit in one transaction: a stopped backfill resumes where it stopped.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from ddbproj.adapters.errors import SinkError
from ddbproj.adapters.scanner import TableScanner
from ddbproj.handlers.backfill import Backfill, BackfillMismatch
from ddbproj.handlers.commands.common import (
    CommandError,
    add_aws_options,
    add_database_options,
    add_progress_option,
    aws_client,
    open_processor,
    positive_int,
    progress_meter,
    stop_on_sigint,
)

__all__ = ["register", "run"]


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "backfill", help="load a table's existing items into SQL (parallel Scan, resumable)",
        description="Scan the table in parallel segments and apply every item as an image "
        "older than any stream record. Safe beside the stream consumer; stopped (Ctrl-C) or "
        "failed, it resumes from the last committed page of each segment.",
    )
    parser.add_argument("--table", required=True, help="DynamoDB table name")
    parser.add_argument("--segments", type=positive_int, default=4,
                        help="parallel Scan segments (default 4)")
    parser.add_argument("--page-size", type=positive_int, default=None,
                        help="items per Scan call (default: DynamoDB's 1 MB pages)")
    parser.add_argument("--restart", action="store_true",
                        help="forget the stored progress and scan the whole table again")
    add_progress_option(parser, default_text="a bar on a terminal, else a line every 5 s")
    add_aws_options(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    processor = open_processor(args)
    scanner = TableScanner(aws_client(args, "dynamodb"), args.table, page_limit=args.page_size)
    try:
        total = scanner.item_count()
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"cannot describe table {args.table!r}: {error}") from error
    meter = progress_meter(args, f"backfill {args.table}", total, default=True)
    backfill = Backfill(processor, scanner, segments=args.segments, progress=meter)
    if not args.restart:
        state = backfill.state()
        if state and all(p.done for p in state.values()):
            print(f"backfill {args.table}: already complete "
                  f"({sum(p.items for p in state.values())} items); --restart scans again")
            return 0
    stop = threading.Event()
    started = time.perf_counter()
    try:
        with stop_on_sigint(stop, "the backfill"):
            stats = backfill.run(restart=args.restart, stop=stop)
    except BackfillMismatch as error:
        raise CommandError(str(error)) from error
    except SinkError as error:
        raise CommandError(f"the database refused a page ({error}); nothing of it was "
                           "committed: run the same command again to resume") from error
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"scanning {args.table!r} failed: {error}; run the same command "
                           "again to resume") from error
    if meter is not None:
        meter(stats.resumed_items + stats.items, final=True)
    verdict = "complete" if stats.complete else "stopped; run the same command to resume"
    print(f"backfill {args.table}: {verdict}: {stats.items} items in {stats.pages} pages "
          f"({stats.resumed_items} before resuming), {stats.applied} applied, "
          f"{stats.skipped} skipped, {stats.dead_lettered} dead letters, "
          f"{time.perf_counter() - started:.1f}s")
    if not (stats.complete or stop.is_set()):
        raise CommandError("the scan ended before every segment was done: run the same "
                           "command again to resume")
    return 0
