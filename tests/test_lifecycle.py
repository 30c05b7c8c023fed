"""The life of a projection on moto and MySQL: backfill, the stream consumer (restarts,
failed pages, shard lineage), and verify."""

import contextlib
import datetime
from decimal import Decimal

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from ddbproj.adapters.scanner import TableScanner
from ddbproj.adapters.sink import SqlSink
from ddbproj.adapters.stream_reader import StreamReader, latest_stream_arn
from ddbproj.adapters.verifier import Verifier
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.backfill import Backfill
from ddbproj.handlers.consumer import ConsumerFailed, StreamConsumer
from ddbproj.handlers.processor import BatchProcessor
from ddbproj.handlers.progress import ProgressMeter

pytestmark = pytest.mark.mysql

REGION = "ap-northeast-1"


def user(i, **changes):
    item = {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"ユーザー {i}", "Age": 20 + i % 50, "Height": 170, "Weight": 60}
    item.update(changes)
    return item


def order(i, total="12345678.91"):
    return {"PK": f"ORDER#{i}", "SK": "ORDER", "entity_type": "Order", "OrderId": f"o-{i}",
            "CustomerId": i, "Total": Decimal(total), "Status": "PAID",
            "PlacedAt": "2024-07-20T12:30:23.000001+09:00",
            "ShippingAddress": {"street": "1-1", "city": "東京", "zip": "100-0001"},
            "Lines": [{"sku": "A", "quantity": 2, "unit_price": Decimal("0.10")}]}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def create_table(stream=True):
    kwargs = {}
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True,
                                         "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName="app",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST", **kwargs)


def enable_stream():
    boto3.client("dynamodb", region_name=REGION).update_table(
        TableName="app",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})


def reader(page_limit=1000):
    client = boto3.client("dynamodb", region_name=REGION)
    return StreamReader(boto3.client("dynamodbstreams", region_name=REGION),
                        latest_stream_arn(client, "app"), page_limit=page_limit)


def scanner(page_limit=None):
    return TableScanner(boto3.client("dynamodb", region_name=REGION), "app",
                        page_limit=page_limit)


def verify(sink):
    return Verifier(sink.registry, sink.engine, sink.metadata, scanner(), chunk_size=7).verify()


def users(sink):
    with sink.engine.connect() as conn:
        return {r.id: (r.name, r.age) for r in conn.exec_driver_sql(
            "SELECT id, name, age FROM users")}


def put_all(table, items):
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def test_backfill_then_run_makes_sql_equal_to_dynamodb(aws, projection_db):
    table = create_table(stream=False)
    put_all(table, [*(user(i) for i in range(1, 31)), order(1),
                    {"PK": "META", "SK": "import", "last_run": "2024-07-20"}])
    enable_stream()
    put_all(table, [user(i) for i in range(31, 36)])
    table.update_item(Key={"PK": "USER#3", "SK": "PROFILE"}, UpdateExpression="SET Age = :a",
                      ExpressionAttributeValues={":a": 99})
    table.delete_item(Key={"PK": "USER#4", "SK": "PROFILE"})
    processor = BatchProcessor(projection_db.registry, projection_db)

    filled = Backfill(processor, scanner(page_limit=4), segments=3).run()
    streamed = StreamConsumer(processor, reader(page_limit=5)).run(until_idle=True)

    assert filled.complete
    assert filled.items == 36  # 35 users, one of them deleted, an order and a metadata item
    assert (filled.applied, filled.skipped) == (35, 1)
    assert streamed.records == 7
    got = users(projection_db)
    assert sorted(got) == [i for i in range(1, 36) if i != 4]
    assert got[3] == ("ユーザー 3", 99)
    with projection_db.engine.connect() as conn:
        (row,) = conn.exec_driver_sql("SELECT total, placed_at FROM orders").all()
    assert row.total == Decimal("12345678.91")
    assert row.placed_at == datetime.datetime(2024, 7, 20, 3, 30, 23, 1)
    report = verify(projection_db)
    assert report.ok, report.lines()
    assert (report.tables["users"].equal, report.tables["orders"].equal) == (34, 1)


def test_consumer_stopped_after_k_pages_resumes_with_no_loss_and_no_repeat(aws, projection_db):
    table = create_table()
    put_all(table, [user(i) for i in range(1, 41)])
    for i in range(1, 11):
        table.update_item(Key={"PK": f"USER#{i}", "SK": "PROFILE"},
                          UpdateExpression="SET Age = :a", ExpressionAttributeValues={":a": 70 + i})
    for i in range(11, 16):
        table.delete_item(Key={"PK": f"USER#{i}", "SK": "PROFILE"})
    processor = BatchProcessor(projection_db.registry, projection_db)
    stream_reader = reader(page_limit=7)

    first = StreamConsumer(processor, stream_reader).run(until_idle=True, max_pages=3)

    assert (first.pages, first.records) == (3, 21)
    (checkpoint,) = projection_db.checkpoints(stream_reader.stream_arn).values()
    records = boto3.client("dynamodbstreams", region_name=REGION).get_records(
        ShardIterator=stream_reader.iterator(stream_reader.shards()[0]), Limit=100)["Records"]
    assert len(records) == 55
    assert checkpoint.sequence_number == records[20]["dynamodb"]["SequenceNumber"]
    assert sorted(users(projection_db)) == list(range(1, 22))

    # a new process: it starts from the committed checkpoint, not from the start
    second = StreamConsumer(processor, reader(page_limit=7)).run(until_idle=True)

    assert first.records + second.records == 55
    got = users(projection_db)
    assert sorted(got) == [*range(1, 11), *range(16, 41)]
    assert [got[i][1] for i in range(1, 11)] == [70 + i for i in range(1, 11)]
    assert verify(projection_db).ok


class FailingSink(SqlSink):
    """Fails inside the transaction of its ``fail_on``-th write, after the rows were sent."""

    def __init__(self, sink, fail_on):
        super().__init__(sink.engine, sink.registry, attempts=1)
        self._metadata = sink.metadata
        self.writes = 0
        self.fail_on = fail_on

    @contextlib.contextmanager
    def transaction(self):
        with super().transaction() as tx:
            yield tx
            self.writes += 1
            if self.writes == self.fail_on:
                raise sa.exc.OperationalError("COMMIT", {}, Exception("server has gone away"))


def test_a_failed_page_commits_neither_its_rows_nor_its_checkpoint(aws, projection_db):
    table = create_table()
    put_all(table, [user(i) for i in range(1, 21)])
    failing = FailingSink(projection_db, fail_on=2)
    consumer = StreamConsumer(BatchProcessor(failing.registry, failing), reader(page_limit=5),
                              retries=0, sleep=lambda _: None)

    with pytest.raises(ConsumerFailed, match="the checkpoint stays at"):
        consumer.run(until_idle=True)

    assert sorted(users(projection_db)) == [1, 2, 3, 4, 5]
    (checkpoint,) = projection_db.checkpoints(consumer.stream_arn).values()
    resumed = StreamConsumer(BatchProcessor(projection_db.registry, projection_db),
                             reader(page_limit=5)).run(until_idle=True)
    assert resumed.records == 15
    assert sorted(users(projection_db)) == list(range(1, 21))
    assert checkpoint.sequence_number is not None


def test_backfill_stopped_midway_resumes_without_rescanning(aws, projection_db):
    table = create_table(stream=False)
    put_all(table, [user(i) for i in range(1, 51)])
    processor = BatchProcessor(projection_db.registry, projection_db)

    first = Backfill(processor, scanner(page_limit=3), segments=2).run(max_pages=2)
    assert not first.complete
    assert first.items == 12
    assert len(users(projection_db)) == 12
    progress = Backfill(processor, scanner(), segments=2).state()
    assert sorted(p.items for p in progress.values()) == [6, 6]
    assert all(p.last_key for p in progress.values())

    second = Backfill(processor, scanner(page_limit=3), segments=2).run()
    assert second.complete
    assert (second.resumed_items, second.items) == (12, 38)
    assert sorted(users(projection_db)) == list(range(1, 51))


def test_backfill_never_revives_a_deleted_item_nor_overwrites_a_newer_change(aws, projection_db):
    """A scan that read an item before the stream deleted or changed it ranks below both."""
    table = create_table(stream=False)
    put_all(table, [user(1, Age=20), user(2, Age=20)])
    enable_stream()
    processor = BatchProcessor(projection_db.registry, projection_db)
    events = StreamEventBuilder()
    processor.process_event(events.event([events.remove(user(1, Age=20)),
                                          events.modify(user(2, Age=20), user(2, Age=21))]))

    Backfill(processor, scanner(), segments=1).run()  # the table still holds the old images

    assert users(projection_db) == {2: ("ユーザー 2", 21)}


class FakeStreams:
    """A stream after a shard split, shaped as boto3 answers: the parent is closed (it has
    an EndingSequenceNumber and its last page no NextShardIterator), the child is open.
    ``describe_stream`` lists the child first, as nothing promises an order."""

    def __init__(self, parent_records, child_records):
        self.shards = {
            "shardId-child": {"parent": "shardId-parent", "records": child_records,
                              "closed": False},
            "shardId-parent": {"parent": None, "records": parent_records, "closed": True},
        }
        self.calls = []

    def describe_stream(self, StreamArn, ExclusiveStartShardId=None):
        shards = []
        for shard_id, shard in self.shards.items():
            numbers = {"StartingSequenceNumber": shard["records"][0]["dynamodb"][
                "SequenceNumber"]}
            if shard["closed"]:
                numbers["EndingSequenceNumber"] = shard["records"][-1]["dynamodb"][
                    "SequenceNumber"]
            described = {"ShardId": shard_id, "SequenceNumberRange": numbers}
            if shard["parent"]:
                described["ParentShardId"] = shard["parent"]
            shards.append(described)
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        self.calls.append(("iterator", ShardId, ShardIteratorType))
        records = self.shards[ShardId]["records"]
        position = 0
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            position = 1 + next(i for i, r in enumerate(records)
                                if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": f"{ShardId}|{position}"}

    def get_records(self, ShardIterator, Limit):
        shard_id, position = ShardIterator.split("|")
        shard = self.shards[shard_id]
        start = int(position)
        page = shard["records"][start:start + Limit]
        self.calls.append(("records", shard_id, len(page)))
        end = start + len(page)
        done = shard["closed"] and end == len(shard["records"])
        return {"Records": page, "NextShardIterator": None if done else f"{shard_id}|{end}"}


def test_parent_shard_is_read_to_its_end_before_its_child(projection_db):
    events = StreamEventBuilder()
    parent = events.event([events.insert(user(i, Age=30)) for i in range(1, 6)])["Records"]
    child = events.event([events.modify(user(i, Age=30), user(i, Age=31 + i))
                          for i in range(1, 6)] + [events.remove(user(5, Age=36))])["Records"]
    fake = FakeStreams(parent, child)
    processor = BatchProcessor(projection_db.registry, projection_db)
    consumer = StreamConsumer(processor, StreamReader(fake, "arn:fake/stream", page_limit=2))

    stopped = consumer.run(until_idle=True, max_pages=2)  # stops inside the parent
    assert stopped.shard_order == ["shardId-parent"]
    assert not any(call[1] == "shardId-child" for call in fake.calls)
    stats = consumer.run(until_idle=True)

    reads = [call[1] for call in fake.calls if call[0] == "records" and call[2]]
    assert reads == ["shardId-parent"] * 3 + ["shardId-child"] * 3
    first_child = next(i for i, call in enumerate(fake.calls) if call[1] == "shardId-child")
    assert all(call[1] == "shardId-parent" for call in fake.calls[:first_child])
    assert stats.shard_order == ["shardId-parent", "shardId-child"]
    assert stats.shards_finished == 1
    assert users(projection_db) == {i: (f"ユーザー {i}", 31 + i) for i in range(1, 5)}
    checkpoints = projection_db.checkpoints("arn:fake/stream")
    assert checkpoints["shardId-parent"].finished
    assert checkpoints["shardId-parent"].sequence_number == parent[-1]["dynamodb"][
        "SequenceNumber"]
    assert checkpoints["shardId-child"].sequence_number == child[-1]["dynamodb"][
        "SequenceNumber"]
    assert not checkpoints["shardId-child"].finished


def test_progress_meter_prints_rate_and_eta_lines_when_not_a_terminal():
    import io

    out = io.StringIO()
    clock = iter([0.0, 2.0, 4.0]).__next__
    meter = ProgressMeter("backfill app", 1000, out=out, interval=0.0, clock=clock)
    meter.update(250)
    meter.update(500, final=True)
    assert out.getvalue().splitlines() == [
        "backfill app [#####               ] 250/1,000  25%  125 items/s  ETA 6s",
        "backfill app [##########          ] 500/1,000  50%  125 items/s  ETA 4s",
    ]


def test_consumer_drops_what_the_event_filter_drops(aws, projection_db):
    from ddbproj.core.filters import EventFilter

    table = create_table()
    for i in range(1, 5):
        table.put_item(Item=user(i))
    only_even = EventFilter.from_criteria({"Filters": [
        {"Pattern": '{"dynamodb": {"NewImage": {"Id": {"N": ["2", "4"]}}}}'}]})
    consumer = StreamConsumer(BatchProcessor(projection_db.registry, projection_db), reader(),
                              event_filter=only_even)
    stats = consumer.run(until_idle=True)
    assert stats.filtered == 2
    with projection_db.engine.connect() as conn:
        ids = conn.exec_driver_sql("SELECT id FROM users ORDER BY id").scalars().all()
    assert ids == [2, 4]
