"""The commands against a real endpoint: ``moto_server`` on a free local port (as one would
use DynamoDB Local or LocalStack) and MySQL — backfill, run, verify and status."""

import os
import shutil
import socket
import subprocess
import sys
import time

import boto3
import pytest

from ddbproj.handlers.cli import main

pytestmark = pytest.mark.mysql

REGION = "ap-northeast-1"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):  # wait until it listens (a readiness poll, not a timing)
            if process.poll() is not None:
                pytest.fail("moto_server exited at start")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def user(i, age=30):
    return {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"name {i}", "Age": age, "Height": 170, "Weight": 60}


def test_backfill_run_verify_and_status_through_moto_server(endpoint, projection_db, mysql_url,
                                                            capsys):
    dynamodb = boto3.resource("dynamodb", region_name=REGION, endpoint_url=endpoint)
    table = dynamodb.create_table(
        TableName="app",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    with table.batch_writer() as batch:
        for i in range(1, 9):
            batch.put_item(Item=user(i))
    dynamodb.meta.client.update_table(TableName="app", StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    for i in range(9, 12):
        table.put_item(Item=user(i))
    table.put_item(Item=user(2, age=77))
    table.delete_item(Key={"PK": "USER#3", "SK": "PROFILE"})
    common = ["--table", "app", "--endpoint-url", endpoint, "--region", REGION,
              "--database-url", mysql_url]

    assert main(["backfill", "--segments", "2", *common]) == 0
    assert main(["run", "--until-idle", *common]) == 0
    capsys.readouterr()
    assert main(["verify", *common]) == 0
    verdict = capsys.readouterr().out
    assert main(["status", *common]) == 0
    status = capsys.readouterr().out

    assert verdict.startswith("verify app: EQUIVALENT (10 items scanned, 10 rows expected")
    with projection_db.engine.connect() as conn:
        ages = dict(conn.exec_driver_sql("SELECT id, age FROM users").all())
    assert ages == {**{i: 30 for i in range(1, 12) if i != 3}, 2: 77}
    assert "caught up" in status
    assert "  app: complete, 10 items" in status
    assert "  users                           10" in status
    assert "dead letters: 0" in status
