"""``ddbproj replay EVENT.json``: run a saved Lambda event through the projectors."""

from __future__ import annotations

import argparse
import json
from typing import Any

from handlers.commands.common import CommandError, add_database_options, open_processor

DEFAULT_CHUNK = 10_000


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "replay", help="apply a saved Lambda DynamoDB stream event",
        description="Apply a saved Lambda event ({\"Records\": [...]}) exactly as the Lambda "
        "handler would, in chunks of --chunk records.",
    )
    parser.add_argument("event", help="path of the event JSON file")
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                        help=f"records per transaction (default {DEFAULT_CHUNK})")
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.event, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise CommandError(f"cannot read {args.event}: {error}") from error
    processor = open_processor(args)
    records = event.get("Records") if isinstance(event, dict) else None
    chunks = ([event] if not isinstance(records, list) else
              [{"Records": records[i:i + args.chunk]} for i in range(0, len(records), args.chunk)]
              or [event])
    totals = {"records": 0, "applied": 0, "skipped": 0, "dead_lettered": 0}
    for chunk in chunks:
        result = processor.process_event(chunk)
        if not result.ok:
            print(f"batch failed, nothing of it committed: {result.error}")
            return 1
        totals["records"] += result.records
        totals["applied"] += result.applied
        totals["skipped"] += sum(result.skipped.values())
        totals["dead_lettered"] += result.dead_lettered
    print(" ".join(f"{name}={value}" for name, value in totals.items()))
    return 0
