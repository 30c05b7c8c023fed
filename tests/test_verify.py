"""``ddbproj verify``: equal sides exit 0; a tampered, a missing and an extra row exit 1
with a report that names them by key and column. Canonical values compare exactly."""

import datetime
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from ddbproj.core.columns import Column, ColumnKind
from ddbproj.core.compare import canonical_value
from ddbproj.handlers.cli import main

REGION = "ap-northeast-1"


def user(i, **changes):
    item = {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"name {i}", "Age": 30 + i, "Height": 170, "Weight": 60}
    item.update(changes)
    return item


@pytest.fixture
def loaded(monkeypatch, projection_db, mysql_url):
    """A table of 12 users, 2 orders and a metadata item, backfilled into MySQL."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        table = boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName="app",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        with table.batch_writer() as batch:
            for i in range(1, 13):
                batch.put_item(Item=user(i))
            for i in (1, 2):
                batch.put_item(Item={
                    "PK": f"ORDER#{i}", "SK": "ORDER", "entity_type": "Order",
                    "OrderId": f"o-{i}", "CustomerId": i,
                    "Total": Decimal("99999999999.99"), "Status": "PAID",
                    "PlacedAt": "2024-07-20T12:30:23.000001+09:00",
                    "ShippingAddress": {"street": "1-1", "city": "東京", "zip": "100-0001"},
                    "Lines": [{"sku": "A", "quantity": 3,
                               "unit_price": Decimal("33333333333.33")}]})
            batch.put_item(Item={"PK": "META", "SK": "import", "count": 3})
        args = ["--database-url", mysql_url]
        assert main(["backfill", "--table", "app", "--segments", "2", *args]) == 0
        yield projection_db, args


def run_verify(args, capsys):
    capsys.readouterr()
    code = main(["verify", "--table", "app", "--chunk", "5", *args])
    return code, capsys.readouterr().out


def counts(out, table):
    (line,) = [line for line in out.splitlines() if line.split()[:1] == [table]]
    return [int(n) for n in line.split()[1:]]


def test_equal_sides_exit_0(loaded, capsys):
    _, args = loaded
    code, out = run_verify(args, capsys)
    assert code == 0, out
    assert out.splitlines()[0] == ("verify app: EQUIVALENT (15 items scanned, 14 rows expected "
                                   "in 2 tables, 1 items skipped)")
    assert counts(out, "users") == [12, 12, 12, 0, 0, 0]


def test_tampered_missing_and_extra_rows_exit_1_with_their_keys_and_columns(loaded, capsys):
    sink, args = loaded
    with sink.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET age = 99 WHERE id = 4")
        conn.exec_driver_sql("UPDATE orders SET total = 99999999999.98 WHERE order_id = 'o-2'")
        conn.exec_driver_sql("DELETE FROM users WHERE id = 7")
        conn.exec_driver_sql("INSERT INTO users (id, name, age, height, weight, ddbproj_seq) "
                             "VALUES (1000, 'ghost', 1, 2, 3, 0)")

    code, out = run_verify(args, capsys)

    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("verify app: NOT EQUIVALENT")
    assert out.splitlines()[1].split() == ["table", "dynamodb", "sql", "equal", "missing",
                                           "extra", "different"]
    assert counts(out, "orders") == [2, 2, 1, 0, 0, 1]
    assert counts(out, "users") == [12, 12, 10, 1, 1, 1]
    assert ("  different  orders order_id=o-2: total: dynamodb 99999999999.99, "
            "sql 99999999999.98") in lines
    assert "  different  users id=4: age: dynamodb 34, sql 99" in lines
    assert "  extra      users id=1000: in SQL, not in DynamoDB" in lines
    assert "  missing    users id=7: in DynamoDB, not in SQL" in lines
    assert "Traceback" not in out


def test_a_json_column_spelled_differently_by_the_server_is_still_equal(loaded, capsys):
    sink, args = loaded
    with sink.engine.begin() as conn:
        conn.exec_driver_sql(
            """UPDATE orders SET `lines` = '[ {"unit_price": 33333333333.330, "sku": "A",
            "quantity": 3.0} ]' WHERE order_id = 'o-1'""")
    code, out = run_verify(args, capsys)
    assert code == 0, out


def test_a_json_decimal_off_in_the_last_digit_is_a_difference(loaded, capsys):
    sink, args = loaded
    with sink.engine.begin() as conn:
        conn.exec_driver_sql(
            """UPDATE orders SET `lines` = '[{"quantity": 3, "sku": "A",
            "unit_price": 33333333333.34}]' WHERE order_id = 'o-1'""")
    code, out = run_verify(args, capsys)
    assert code == 1
    assert 'different  orders order_id=o-1: lines: dynamodb [{"quantity":3,"sku":"A"' in out


@pytest.mark.parametrize(("kind", "left", "right", "equal"), [
    (ColumnKind.DECIMAL, Decimal("19.99"), Decimal("19.9900000000"), True),
    (ColumnKind.DECIMAL, Decimal("19.99"), "19.99", True),  # SQLite keeps the text
    (ColumnKind.DECIMAL, Decimal("0.1"), Decimal("0.10000000001"), False),
    (ColumnKind.DECIMAL, Decimal("1E+2"), "100.00", True),
    (ColumnKind.INTEGER, 2**63 - 1, Decimal(2**63 - 1), True),
    (ColumnKind.DATETIME, datetime.datetime(2024, 1, 1, 0, 0, 0, 1),
     "2024-01-01 00:00:00.000001", True),
    (ColumnKind.DATETIME, datetime.datetime(2024, 1, 1, 0, 0, 0, 1),
     datetime.datetime(2024, 1, 1), False),
    (ColumnKind.DATETIME, datetime.datetime(2024, 1, 1, 9, tzinfo=datetime.timezone(
        datetime.timedelta(hours=9))), datetime.datetime(2024, 1, 1), True),
    (ColumnKind.BOOLEAN, True, 1, True),
    (ColumnKind.BINARY, b"\x00\xff", bytearray(b"\x00\xff"), True),
    (ColumnKind.JSON, '{"a":[1,2.50]}', '{"a": [1.0, 2.5]}', True),
    (ColumnKind.JSON, '{"a":0.30000000000000001}', '{"a":0.3}', False),
    (ColumnKind.TEXT, "東京 ✨", "東京 ✨", True),
    (ColumnKind.TEXT, "a", "a ", False),
])
def test_canonical_values_compare_exactly(kind, left, right, equal):
    column = Column(name="c", field="c", kind=kind, nullable=True)
    assert (canonical_value(column, left) == canonical_value(column, right)) is equal
