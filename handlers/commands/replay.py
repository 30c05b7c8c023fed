"""``ddbproj replay EVENT.json``: run a saved Lambda event through the projectors.

Records pass the event filter first — by default the one generated from the projectors,
as deployed — so a replay drops exactly what Lambda would have dropped.

A file that is not a Lambda event (not JSON, cut short, records that are not objects) is
refused before anything touches the database: the file is read through once to check it,
record by record, then again to replay it, so memory stays one chunk however big it is."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from typing import IO, Any

from ddbproj.adapters.event_file import (
    EventFileError,
    lambda_event_records,
    read_event_records,
)
from ddbproj.handlers.commands.common import (
    CommandError,
    add_database_options,
    add_filter_option,
    event_filter,
    open_processor,
    positive_int,
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
    parser.add_argument("--chunk", type=positive_int, default=DEFAULT_CHUNK,
                        help=f"records per transaction (default {DEFAULT_CHUNK})")
    add_filter_option(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


_EXPECTED = ('expected a Lambda event {"Records": [...]} or an invocation record of the '
             "on-failure destination")


def run(args: argparse.Namespace) -> int:
    listed: list[Any] | None = None
    count = 0
    with _event_file(args.event) as handle:
        records, document = _records_or_document(args.event, handle)
        if records is None:
            listed = _lambda_records(args.event, document)
        else:
            count = sum(1 for _ in _checked(args.event, records))
    del document
    processor = open_processor(args)
    admitted = event_filter(args.filter_criteria, processor.registry)
    if listed is not None:
        return _replay(args, processor, admitted, iter(listed))
    with _event_file(args.event) as handle:
        again, _ = _records_or_document(args.event, handle)
        assert again is not None  # the same file, checked above
        return _replay(args, processor, admitted, _counted(args.event, again, count))


@contextlib.contextmanager
def _event_file(path: str) -> Iterator[IO[str]]:
    """The file as text; a byte order mark is skipped (``utf-8-sig``)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            yield handle
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise CommandError(f"{path} is not UTF-8 text (byte {error.start}); "
                           f"{_EXPECTED}") from error


def _records_or_document(path: str, handle: IO[str]) -> tuple[Iterator[Any] | None, Any]:
    try:
        return read_event_records(handle)
    except EventFileError as error:
        raise CommandError(f"{path} is not a Lambda event: {error}; {_EXPECTED}") from error


def _checked(path: str, records: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from records
    except EventFileError as error:
        raise CommandError(f"{path} is not a Lambda event: {error}; {_EXPECTED}") from error


def _counted(path: str, records: Iterator[Any], count: int) -> Iterator[Any]:
    """The second reading must hold what the first did: a file changed in between is
    refused, after the chunks already applied (each its own transaction)."""
    seen = 0
    for record in _checked(path, records):
        seen += 1
        yield record
    if seen != count:
        raise CommandError(f"{path} changed while it was replayed ({count} records, then "
                           f"{seen}); replay it again")


def _lambda_records(path: str, document: Any) -> list[Any]:
    try:
        return lambda_event_records(_unwrapped(document))
    except EventFileError as error:
        raise CommandError(f"{path} is not a Lambda event: {error}; {_EXPECTED}") from error


def _replay(args: argparse.Namespace, processor: Any, admitted: Any,
            records: Iterator[Any]) -> int:
    """Stream the records in chunks of ``--chunk``: one chunk alive at a time."""
    results: list[BatchResult] = []
    filtered = 0
    for chunk in _chunks(records, args.chunk):
        kept, dropped = admitted.split(chunk)
        filtered += len(dropped)
        result = processor.process_event({"Records": kept})
        if not result.ok:
            raise CommandError(
                f"chunk {len(results) + 1} failed and nothing of it was committed "
                f"({len(results)} chunks before it were): {result.error}; replay the file "
                "again once the cause is fixed (records already applied are skipped)")
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
            raise EventFileError(f"the invocation record's payload is not JSON: "
                                 f"{error.msg}") from error
    return event
