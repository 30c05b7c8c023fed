"""``ddbproj verify --table T``: prove that SQL holds what DynamoDB holds.

Exit 0 when every projected row is present and equal, 1 (with a report naming the first
differences by key and column) when not. Memory stays bounded: see ``adapters.verifier``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ddbproj.adapters.errors import SinkError
from ddbproj.adapters.scanner import TableScanner
from ddbproj.adapters.verifier import PHASE_SCAN, Verifier
from ddbproj.core.compare import VerifyReport
from ddbproj.handlers.commands.common import (
    CommandError,
    add_aws_options,
    add_database_options,
    add_json_option,
    add_progress_option,
    aws_client,
    json_document,
    open_processor,
    positive_int,
    wants_progress,
)
from ddbproj.handlers.progress import ProgressMeter

JSON_KEYS = """\
--json prints one object:
  table                   the DynamoDB table scanned
  equivalent              true when SQL holds exactly what DynamoDB holds (exit 0)
  items_scanned           items read from DynamoDB
  items_skipped           items no projector claims
  unprojectable           items their projector rejects
  unprojectable_examples  the first of their errors (strings)
  tables                  one object per SQL table, by name:
    table, dynamodb, sql, equal, missing, extra, different   (row counts)
    examples              the first differences: kind ("missing", "extra",
                          "different"), key (column -> value), columns (for
                          "different": column, dynamodb, sql)
Values of rows are their canonical text (numbers exact, times in UTC)."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "verify", help="compare the SQL tables with the DynamoDB table (exit 1 if they differ)",
        description="Scan the table, run every item through its projector and compare with "
        "the SQL rows table by table: missing, extra and different rows. Exit status 0 when "
        "equivalent, 1 when not. Changes arriving while it runs may show as differences: run "
        "it again, or when the stream consumer is idle.",
        epilog=JSON_KEYS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--table", required=True, help="DynamoDB table name")
    parser.add_argument("--examples", type=int, default=5,
                        help="differences shown per table (default 5)")
    parser.add_argument("--chunk", type=positive_int, default=1000,
                        help="SQL rows compared at a time (default 1000)")
    add_progress_option(parser, default_text="on a terminal")
    add_json_option(parser)
    add_aws_options(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    if args.examples < 0:
        raise CommandError("--examples must be 0 or more")
    processor = open_processor(args)
    scanner = TableScanner(aws_client(args, "dynamodb"), args.table, consistent_read=True)
    meters = (_PassMeters(args.table, scanner) if wants_progress(args, default=sys.stderr.isatty())
              else None)
    verifier = Verifier(processor.registry, processor.sink.engine, processor.sink.metadata,
                        scanner, chunk_size=args.chunk, examples=args.examples,
                        progress=meters)
    try:
        report = verifier.verify()
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"cannot scan {args.table!r}: {error}") from error
    except (SinkError, OSError) as error:
        raise CommandError(f"cannot read the SQL tables: {error}") from error
    if meters is not None:
        meters.close()
    if args.json:
        print(json_document(report_document(report)))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


class _PassMeters:
    """One progress meter per pass of the verifier: the scan (DynamoDB's approximate item
    count as its total) and the comparison (the rows expected)."""

    def __init__(self, table: str, scanner: TableScanner) -> None:
        self.table = table
        self.scanner = scanner
        self.phase: str | None = None
        self.meter: Callable[..., None] | None = None
        self.done = 0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase != self.phase:
            self.close()
            if phase == PHASE_SCAN:
                total = self.scanner.item_count()
            self.meter = ProgressMeter(f"verify {self.table}: {phase}", total).update
            self.phase = phase
        self.done = done
        if self.meter is not None:
            self.meter(done)

    def close(self) -> None:
        if self.meter is not None:
            self.meter(self.done, final=True)
            self.meter = None


def report_document(report: VerifyReport) -> dict[str, Any]:
    """The ``--json`` document (keys in ``JSON_KEYS``)."""
    return {
        "table": report.source,
        "equivalent": report.ok,
        "items_scanned": report.items,
        "items_skipped": report.skipped,
        "unprojectable": report.unprojectable,
        "unprojectable_examples": list(report.unprojectable_examples),
        "tables": [
            {
                "table": name,
                "dynamodb": t.expected,
                "sql": t.actual,
                "equal": t.equal,
                "missing": t.missing,
                "extra": t.extra,
                "different": t.different,
                "examples": [
                    {
                        "kind": example.kind,
                        "key": dict(example.key),
                        "columns": [
                            {"column": c.column, "dynamodb": c.expected, "sql": c.actual}
                            for c in example.columns
                        ],
                    }
                    for example in t.examples
                ],
            }
            for name, t in sorted(report.tables.items())
        ],
    }
