"""``ddbproj replay EVENT.json``: run a saved Lambda event through the projectors.

Records pass the event filter first — by default the one generated from the projectors,
as deployed — so a replay drops exactly what Lambda would have dropped."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

from ddbproj.adapters.event_file import EventFileError, read_event_records
from ddbproj.handlers.commands.common import (
    CommandError,
    add_database_options,
    add_filter_option,
    event_filter,
    open_processor,
)
from ddbproj.handlers.processor import BatchResult

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
            return _replay(args, handle)
    except (OSError, EventFileError) as error:
        raise CommandError(f"cannot read {args.event}: {error}") from error


def _replay(args: argparse.Namespace, handle: Any) -> int:
    """Stream the records in chunks of ``--chunk``: one chunk alive at a time."""
    records, document = read_event_records(handle)
    processor = open_processor(args)
    admitted = event_filter(args.filter_criteria, processor.registry)
    if records is None:
        event = _unwrapped(document)
        listed = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(listed, list):
            return _report([processor.process_event(event)], filtered=0)
        records = iter(listed)
    results = []
    filtered = 0
    for chunk in _chunks(records, args.chunk):
        kept, dropped = admitted.split(chunk)
        filtered += len(dropped)
        result = processor.process_event({"Records": kept})
        if not result.ok:
            print(f"batch failed, nothing of it committed: {result.error}")
            return 1
        results.append(result)
    return _report(results, filtered=filtered)


def _chunks(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _report(results: list[BatchResult], *, filtered: int) -> int:
    if any(not r.ok for r in results):
        failed = next(r for r in results if not r.ok)
        print(f"batch failed, nothing of it committed: {failed.error}")
        return 1
    totals = {
        "records": sum(r.records for r in results),
        "applied": sum(r.applied for r in results),
        "skipped": sum(sum(r.skipped.values()) for r in results),
        "dead_lettered": sum(r.dead_lettered for r in results),
        "filtered": filtered,
    }
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
