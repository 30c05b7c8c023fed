"""``ddbproj demo``: items written to an in-process DynamoDB table (moto), its stream
projected into SQL, and a summary — no AWS account, no server."""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from decimal import Decimal
from typing import Any

from handlers.commands.common import add_database_options, open_processor

REGION = "ap-northeast-1"


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="project an in-process DynamoDB table's stream into SQL, end to end",
        description="Write items (users, orders and metadata) to an in-process DynamoDB table "
        "with a stream, project the stream into SQL, and print what landed.",
    )
    parser.add_argument("--items", type=int, default=2_000, help="items to write (default 2000)")
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from moto import mock_aws

    for name, value in (("AWS_ACCESS_KEY_ID", "demo"), ("AWS_SECRET_ACCESS_KEY", "demo"),
                        ("AWS_DEFAULT_REGION", REGION)):
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory() as workdir, mock_aws():
        if not args.database_url and not os.environ.get("DATABASE_URL"):
            args.database_url = f"sqlite:///{workdir}/demo.db"
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import boto3

    started = time.perf_counter()
    processor = open_processor(args)
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="demo",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    rng = random.Random(7)
    with table.batch_writer() as batch:
        for i in range(args.items):
            batch.put_item(Item=_item(i, rng))
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    shards = streams.describe_stream(StreamArn=table.latest_stream_arn)["StreamDescription"]
    totals = {"records": 0, "applied": 0, "skipped": 0, "dead_lettered": 0}
    for shard in shards["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=table.latest_stream_arn, ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not page["Records"]:
                break
            result = processor.process_event(page)
            totals["records"] += result.records
            totals["applied"] += result.applied
            totals["skipped"] += sum(result.skipped.values())
            totals["dead_lettered"] += result.dead_lettered
            iterator = page.get("NextShardIterator")
    counts = _row_counts(processor)
    print(f"items written   {args.items:>8}")
    for name, value in totals.items():
        print(f"{name:<15} {value:>8}")
    for table_name, count in counts.items():
        print(f"rows {table_name:<10} {count:>8}")
    print(f"time            {time.perf_counter() - started:>7.1f}s")
    return 0


def _item(i: int, rng: random.Random) -> dict[str, Any]:
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


def _row_counts(processor: Any) -> dict[str, int]:
    import sqlalchemy as sa

    counts = {}
    with processor.sink.engine.connect() as conn:
        for name in processor.registry.tables():
            table = processor.sink.table(name)
            counts[name] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return counts
