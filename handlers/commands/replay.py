"""``ddbproj replay EVENT.json``: run a saved Lambda event through the projectors.

Records pass the event filter first — by default the one generated from the projectors,
as deployed — so a replay drops exactly what Lambda would have dropped."""

from __future__ import annotations

import argparse
import json
from typing import Any

from handlers.commands.common import (
    CommandError,
    add_database_options,
    add_filter_option,
    event_filter,
    open_processor,
)

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
    add_filter_option(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        with open(args.event, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise CommandError(f"cannot read {args.event}: {error}") from error
    event = _unwrapped(event)
    processor = open_processor(args)
    records = event.get("Records") if isinstance(event, dict) else None
    filtered = 0
    if isinstance(records, list):
        admitted = event_filter(args.filter_criteria, processor.registry)
        records, dropped = admitted.split(records)
        filtered = len(dropped)
    chunks = ([event] if not isinstance(records, list) else
              [{"Records": records[i:i + args.chunk]} for i in range(0, len(records), args.chunk)])
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
    totals["filtered"] = filtered
    print(" ".join(f"{name}={value}" for name, value in totals.items()))
    return 0


def _unwrapped(event: Any) -> Any:
    """An invocation record from the S3 on-failure destination carries the original event
    under ``payload`` (as JSON text or an object); a plain Lambda event is used as it is."""
    if isinstance(event, dict) and "Records" not in event and "payload" in event:
        payload = event["payload"]
        try:
            return json.loads(payload) if isinstance(payload, str) else payload
        except json.JSONDecodeError as error:
            raise CommandError(f"the invocation record's payload is not JSON: {error}") from error
    return event
