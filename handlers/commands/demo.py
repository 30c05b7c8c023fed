"""``ddbproj demo``: the whole life of a projection on embedded defaults — an in-process
DynamoDB (moto) and an SQLite file — with no AWS account and no server.

A table holds items before its stream is enabled; more arrive after. A backfill loads
what was there, the stream consumer runs until idle, items are updated and deleted, the
consumer catches up again, and ``verify`` proves that SQL equals DynamoDB.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

from ddbproj.adapters.dead_letters import DeadLetterStore
from ddbproj.adapters.scanner import TableScanner
from ddbproj.adapters.stream_reader import StreamReader, latest_stream_arn
from ddbproj.adapters.verifier import Verifier
from ddbproj.handlers.backfill import Backfill
from ddbproj.handlers.commands.common import CommandError, add_database_options, open_processor
from ddbproj.handlers.consumer import StreamConsumer
from ddbproj.handlers.processor import BatchProcessor
from ddbproj.handlers.progress import ProgressMeter

REGION = "ap-northeast-1"
TABLE = "demo"
#: the sample projectors the demo writes items for (in the repository, not in the package)
DEMO_PROJECTIONS = "projections.users,projections.orders"
DEFAULT_ITEMS = 20_000
#: Share of the items written before the stream is enabled (the backfill's work).
BEFORE_STREAM = 0.9


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="the whole story (backfill, run, verify) on an in-process DynamoDB",
        description="Write items (users, orders and metadata) to an in-process DynamoDB table, "
        "backfill what existed before its stream, consume the stream until idle, update and "
        "delete items, consume again, verify, and print a summary.",
    )
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS,
                        help=f"items to write (default {DEFAULT_ITEMS})")
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # the demo's entities are the samples, whatever PROJECTIONS says; both they and moto
    # come with a checkout, not with the package
    try:
        from moto import mock_aws

        import projections.orders
        import projections.users  # noqa: F401
    except ImportError as error:
        raise CommandError(
            "the demo needs the repository's sample projectors (projections/users.py, "
            f"projections/orders.py) and moto (the dev extra) ({error}): run make demo in a "
            "checkout of ddbproj") from error
    args.projections = DEMO_PROJECTIONS
    for name, value in (("AWS_ACCESS_KEY_ID", "demo"), ("AWS_SECRET_ACCESS_KEY", "demo"),
                        ("AWS_DEFAULT_REGION", REGION)):
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with tempfile.TemporaryDirectory() as workdir, mock_aws():
        if not args.database_url and not os.environ.get("DATABASE_URL"):
            args.database_url = f"sqlite:///{workdir}/demo.db"
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import boto3

    started = time.perf_counter()
    processor = open_processor(args)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rng = random.Random(7)
    before = int(args.items * BEFORE_STREAM)
    step = _Steps()
    with step("write items before the stream"), table.batch_writer() as batch:
        for i in range(before):
            batch.put_item(Item=_item(i, rng))
    dynamodb.update_table(TableName=TABLE, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    with step("write items after it"), table.batch_writer() as batch:
        for i in range(before, args.items):
            batch.put_item(Item=_item(i, rng))

    scans = _InProcessScans(dynamodb)
    scanner = TableScanner(scans, TABLE)
    meter = ProgressMeter("  backfill", scanner.item_count(), out=_quiet_unless_tty())
    with step("backfill (4 segments)"):
        filled = Backfill(processor, scanner, segments=4, progress=meter.update).run()
    meter.update(filled.items, final=True)
    reader = StreamReader(boto3.client("dynamodbstreams", region_name=REGION),
                          latest_stream_arn(dynamodb, TABLE))
    consumer = StreamConsumer(processor, reader)
    with step("run until idle"):
        first = consumer.run(until_idle=True)
    with step("update and delete items"):
        changed, deleted = _change_items(table, args.items, rng)
    with step("run until idle again"):
        second = consumer.run(until_idle=True)
    verifier = Verifier(processor.registry, processor.sink.engine, processor.sink.metadata,
                        TableScanner(scans, TABLE, consistent_read=True))
    with step("verify"):
        report = verifier.verify()
    elapsed = time.perf_counter() - started

    print(f"{'items written':<28}{args.items:>9}")
    print(f"{'  before the stream':<28}{before:>9}")
    print(f"{'  updated / deleted after':<28}{changed:>9} / {deleted}")
    print(f"{'backfill items scanned':<28}{filled.items:>9}")
    print(f"{'stream records':<28}{first.records + second.records:>9}")
    print(f"{'rows applied':<28}{filled.applied + first.applied + second.applied:>9}")
    print(f"{'skipped (no projector)':<28}{filled.skipped + first.skipped + second.skipped:>9}")
    print(f"{'dead letters':<28}{_dead_letters(processor):>9}")
    for name, count in _row_counts(processor).items():
        print(f"{'rows in ' + name:<28}{count:>9}")
    for label, seconds in step.timings:
        print(f"{'  ' + label:<28}{seconds:>8.1f}s")
    print(f"{'time':<28}{elapsed:>8.1f}s")
    print()
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


class _Steps:
    """Times the demo's steps for the summary."""

    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []
        self._label = ""
        self._started = 0.0

    def __call__(self, label: str) -> _Steps:
        self._label = label
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.timings.append((self._label, time.perf_counter() - self._started))


class _InProcessScans:
    """``describe_table`` and ``scan`` with boto3's answer shape, read straight from the
    in-process moto backend. moto turns each response into wire JSON attribute by
    attribute (over a millisecond per item), which would make the demo's two full scans
    take most of a minute; ``backfill`` and ``verify`` go through boto3 everywhere else.
    Should another moto version change its backend, the scan falls back to boto3."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def describe_table(self, **kwargs: Any) -> Any:
        return self.client.describe_table(**kwargs)

    def scan(
        self,
        *,
        TableName: str,
        Segment: int | None = None,
        TotalSegments: int | None = None,
        ExclusiveStartKey: dict[str, Any] | None = None,
        Limit: int | None = None,
        ConsistentRead: bool = False,
    ) -> dict[str, Any]:
        try:
            from moto.core.models import DEFAULT_ACCOUNT_ID
            from moto.dynamodb.models import dynamodb_backends
            from moto.dynamodb.models.utilities import dynamo_to_dict

            backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
            segments: Any = (Segment, TotalSegments)
            scan: Any = backend.scan
            items, _, last_key = scan(TableName, {}, Limit, ExclusiveStartKey, None, {}, {},
                                      None, ConsistentRead, None, segments)
        except (ImportError, AttributeError, TypeError, KeyError, ValueError):
            arguments = {"TableName": TableName, "ConsistentRead": ConsistentRead}
            if TotalSegments is not None:
                arguments |= {"Segment": Segment, "TotalSegments": TotalSegments}
            if ExclusiveStartKey:
                arguments["ExclusiveStartKey"] = ExclusiveStartKey
            if Limit:
                arguments["Limit"] = Limit
            page: dict[str, Any] = self.client.scan(**arguments)
            return page
        answer: dict[str, Any] = {"Items": dynamo_to_dict([item.attrs for item in items])}
        if last_key:
            answer["LastEvaluatedKey"] = dynamo_to_dict(last_key)
        return answer


def _quiet_unless_tty() -> Any:
    """The bar on a terminal; in logs the summary says it all."""
    return sys.stderr if sys.stderr.isatty() else io.StringIO()


def _item(i: int, rng: random.Random) -> dict[str, Any]:
    """Items as the team's ingestion writes them: users, orders, and metadata items."""
    if i % 10 == 9:
        return {"PK": "META", "SK": f"import#{i}", "source": "public-api", "count": i}
    if i % 3 == 2:
        return {
            "PK": f"ORDER#{i}", "SK": "ORDER", "entity_type": "Order", "OrderId": str(i),
            "CustomerId": rng.randrange(1, 1000),
            "Total": Decimal(rng.randrange(100, 10**7)) / 100, "Status": "PAID",
            "PlacedAt": "2024-07-20T12:30:23.000001+09:00",
            "ShippingAddress": {"street": "1-1 Chiyoda", "city": "東京", "zip": "100-0001"},
            "Lines": [{"sku": f"SKU-{rng.randrange(50)}", "quantity": 1,
                       "unit_price": Decimal("19.99")}],
        }
    return {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"user {i}", "Age": rng.randrange(10, 90), "Height": rng.randrange(140, 200),
            "Weight": rng.randrange(40, 120)}


def _change_items(table: Any, items: int, rng: random.Random) -> tuple[int, int]:
    """Every 20th item changes, every 50th goes: users age, orders ship."""
    changed = deleted = 0
    for i in range(0, items, 20):
        if i % 10 == 9:
            continue
        if i % 3 == 2:
            table.update_item(Key={"PK": f"ORDER#{i}", "SK": "ORDER"},
                              UpdateExpression="SET #s = :s, Note = :n",
                              ExpressionAttributeNames={"#s": "Status"},
                              ExpressionAttributeValues={":s": "SHIPPED", ":n": "left the depot"})
        else:
            table.update_item(Key={"PK": f"USER#{i}", "SK": "PROFILE"},
                              UpdateExpression="SET Age = Age + :one",
                              ExpressionAttributeValues={":one": 1})
        changed += 1
    with table.batch_writer() as batch:
        for i in range(1, items, 50):
            if i % 10 == 9:
                continue
            batch.delete_item(Key={"PK": f"ORDER#{i}", "SK": "ORDER"} if i % 3 == 2
                              else {"PK": f"USER#{i}", "SK": "PROFILE"})
            deleted += 1
    rng.random()
    return changed, deleted


def _row_counts(processor: BatchProcessor) -> dict[str, int]:
    return {name: count or 0 for name, count in processor.sink.row_counts().items()}


def _dead_letters(processor: BatchProcessor) -> int:
    return DeadLetterStore(processor.sink.engine).count()
