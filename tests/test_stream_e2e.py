"""End to end: items written to a (moto) DynamoDB table, its stream read with boto3,
wrapped as a Lambda event, given to ``ddbproj.handlers.stream.handler``, and compared with MySQL."""

import base64
import datetime
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from ddbproj.core import jsontext
from ddbproj.handlers import stream

pytestmark = pytest.mark.mysql

REGION = "ap-northeast-1"


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        yield dynamodb.create_table(
            TableName="app",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )


def lambda_event(table):
    """Read the whole stream with boto3 and shape it as Lambda delivers it."""
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    description = streams.describe_stream(StreamArn=table.latest_stream_arn)["StreamDescription"]
    records = []
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=table.latest_stream_arn, ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return {"Records": [_as_lambda_json(r, table.latest_stream_arn) for r in records]}


def _as_lambda_json(record, arn):
    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, datetime.datetime):
            return int(value.timestamp())
        return value

    lambda_record = convert(record)
    lambda_record["eventSourceARN"] = arn
    return lambda_record


def test_handler_projects_a_real_stream_value_by_value(table, projection_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", projection_db.engine.url.render_as_string(
        hide_password=False))
    monkeypatch.setenv("PROJECTIONS", "projections")
    stream.reset()
    users = [
        {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
         "Name": f"ユーザー{i} ✨", "Age": 17 + i, "Height": 160 + i, "Weight": 50 + i}
        for i in range(1, 41)
    ]
    order = {
        "PK": "ORDER#A-1", "SK": "ORDER", "entity_type": "Order", "OrderId": "A-1",
        "CustomerId": 1, "Total": Decimal("99999999999.99"), "Status": "SHIPPED",
        "PlacedAt": "2024-07-20T12:30:23.000001Z",
        "ShippingAddress": {"street": "x", "city": "y", "zip": "z"},
        "Lines": [{"sku": "S", "quantity": 3, "unit_price": Decimal("33333333333.33")}],
    }
    with table.batch_writer() as batch:
        for item in [*users, order, {"PK": "META", "SK": "import", "last_run": "2024-07-20"}]:
            batch.put_item(Item=item)
    table.update_item(Key={"PK": "USER#1", "SK": "PROFILE"}, UpdateExpression="SET Age = :a",
                      ExpressionAttributeValues={":a": 99})
    table.delete_item(Key={"PK": "USER#2", "SK": "PROFILE"})

    response = stream.handler(lambda_event(table), None)

    assert response == {"batchItemFailures": []}
    items = {i["Id"]: i for i in table.scan()["Items"] if i.get("entity_type") == "User"}
    with projection_db.engine.connect() as conn:
        sql_users = conn.exec_driver_sql(
            "SELECT id, name, age, height, weight FROM users ORDER BY id").all()
        sql_order = conn.exec_driver_sql("SELECT * FROM orders").mappings().one()
        tables = conn.exec_driver_sql("SHOW TABLES").scalars().all()
    expected = sorted(
        (int(i["Id"]), i["Name"], int(i["Age"]), int(i["Height"]), int(i["Weight"]))
        for i in items.values()
    )
    assert [tuple(r) for r in sql_users] == expected
    assert len(expected) == 39
    assert dict(zip([r[0] for r in expected], [r[2] for r in expected], strict=True))[1] == 99
    assert sql_order["total"] == Decimal("99999999999.99")
    assert sql_order["placed_at"] == datetime.datetime(2024, 7, 20, 12, 30, 23, 1)
    assert jsontext.loads(sql_order["lines"])[0]["unit_price"] == Decimal("33333333333.33")
    assert not any("meta" in t.lower() for t in tables)
