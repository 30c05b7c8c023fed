"""``ddbproj verify --table T``: prove that SQL holds what DynamoDB holds.

Exit 0 when every projected row is present and equal, 1 (with a report naming the first
differences by key and column) when not. Memory stays bounded: see ``adapters.verifier``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ddbproj.adapters.errors import SinkError
from ddbproj.adapters.scanner import TableScanner
from ddbproj.adapters.verifier import Verifier
from ddbproj.handlers.commands.common import (
    CommandError,
    add_aws_options,
    add_database_options,
    aws_client,
    open_processor,
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "verify", help="compare the SQL tables with the DynamoDB table (exit 1 if they differ)",
        description="Scan the table, run every item through its projector and compare with "
        "the SQL rows table by table: missing, extra and different rows. Exit status 0 when "
        "equivalent, 1 when not. Changes arriving while it runs may show as differences: run "
        "it again, or when the stream consumer is idle.",
    )
    parser.add_argument("--table", required=True, help="DynamoDB table name")
    parser.add_argument("--examples", type=int, default=5,
                        help="differences shown per table (default 5)")
    parser.add_argument("--chunk", type=int, default=1000,
                        help="SQL rows compared at a time (default 1000)")
    add_aws_options(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    processor = open_processor(args)
    scanner = TableScanner(aws_client(args, "dynamodb"), args.table, consistent_read=True)
    verifier = Verifier(processor.registry, processor.sink.engine, processor.sink.metadata,
                        scanner, chunk_size=args.chunk, examples=args.examples)
    try:
        report = verifier.verify()
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"cannot scan {args.table!r}: {error}") from error
    except (SinkError, OSError) as error:
        raise CommandError(f"cannot read the SQL tables: {error}") from error
    print("\n".join(report.lines()))
    return 0 if report.ok else 1
