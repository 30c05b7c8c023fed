"""What the commands print: ``--version``, ``-v`` after the command, the SQLite default
said on stderr, ``--json`` documents (read back and compared with a real database and a
moto table), verify's progress, and dlq's ``--sql-table``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import ddbproj
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.cli import build_parser, main

REPOSITORY = Path(__file__).resolve().parents[1]
REGION = "ap-northeast-1"


def command_line(*args, cwd=REPOSITORY, env=None):
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("AWS_", "DATABASE_")) and name != "PROJECTIONS"}
    clean["PYTHONPATH"] = str(REPOSITORY)
    clean.update(env or {})
    return subprocess.run([sys.executable, "-m", "ddbproj.handlers.cli", *map(str, args)],
                          capture_output=True, text=True, env=clean, cwd=cwd, timeout=120,
                          check=False)


def user(i, **changes):
    item = {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": f"name {i}", "Age": 30 + i, "Height": 170, "Weight": 60}
    item.update(changes)
    return item


def write_event(path, *items):
    events = StreamEventBuilder()
    path.write_text(json.dumps(events.event(events.insert(item) for item in items)),
                    encoding="utf-8")
    return path


# -- version, verbosity, the SQLite default -------------------------------------------------

def test_version():
    result = command_line("--version")
    assert (result.returncode, result.stdout) == (0, f"ddbproj {ddbproj.__version__}\n")


@pytest.mark.parametrize(("argv", "verbose", "debug"), [
    (["status"], False, False),
    (["-v", "status"], True, False),
    (["status", "-v"], True, False),
    (["status", "--verbose", "--debug"], True, True),
    (["--debug", "dlq", "list", "-v"], True, True),
])
def test_verbose_and_debug_before_or_after_the_command(argv, verbose, debug):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.debug) == (verbose, debug)


def test_verbose_after_the_command_logs_each_batch(tmp_path):
    event = write_event(tmp_path / "event.json", user(1))
    database = f"sqlite:///{tmp_path / 'p.db'}"
    quiet = command_line("replay", event, "--database-url", database)
    loud = command_line("replay", event, "--database-url", database, "-v")
    assert (quiet.returncode, loud.returncode) == (0, 0)
    assert quiet.stderr == ""
    assert loud.stderr.startswith("batch applied records=1 applied=")


def test_the_sqlite_default_is_said_first_on_stderr(tmp_path):
    result = command_line("status", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "using sqlite:///ddbproj.db (no DATABASE_URL)"
    assert (tmp_path / "ddbproj.db").exists()


def test_no_sqlite_line_with_a_database_url(tmp_path):
    result = command_line("status", "--database-url", f"sqlite:///{tmp_path / 'p.db'}")
    assert result.returncode == 0, result.stderr
    assert "using sqlite" not in result.stderr


# -- --json -----------------------------------------------------------------------------

def test_projectors_json(capsys):
    assert main(["projectors", "--json", "--projections", "projections"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "type_attribute": "entity_type",
        "projectors": [
            {"entity_type": "Order", "projector": "projections.orders.OrderProjector",
             "table": "orders", "key": ["order_id"], "origin": "PROJECTIONS",
             "module": "projections.orders"},
            {"entity_type": "User", "projector": "projections.users.UserProjector",
             "table": "users", "key": ["id"], "origin": "PROJECTIONS",
             "module": "projections.users"},
        ],
    }


@pytest.fixture
def world(monkeypatch, tmp_path, projection_db, mysql_url):
    """A moto table of 5 users with a stream, backfilled and consumed into MySQL, and one
    record whose age is not a number in the dead letters."""
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
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        for i in range(1, 6):
            table.put_item(Item=user(i))
        database = ["--database-url", str(mysql_url)]
        assert main(["backfill", "--table", "app", "--segments", "2", *database]) == 0
        assert main(["run", "--table", "app", "--until-idle", *database]) == 0
        poison = write_event(tmp_path / "poison.json", user(99, Age="old"))
        assert main(["replay", str(poison), *database]) == 0
        yield projection_db, database


def document(argv, capsys, expect=0):
    capsys.readouterr()
    assert main(argv) == expect
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


@pytest.mark.mysql
def test_status_json(world, capsys):
    _, database = world
    status, _ = document(["status", "--json", "--table", "app", *database], capsys)
    assert list(status) == ["stream_checkpoints", "backfills", "rows", "dead_letters",
                            "missing_tables"]
    (shard,) = status["stream_checkpoints"]
    assert shard["shard_id"].startswith("shardId-")
    assert shard["stream_arn"].startswith(f"arn:aws:dynamodb:{REGION}:")
    assert isinstance(shard["sequence_number"], str)
    assert (shard["started"], shard["finished"], shard["lag_seconds"]) == (True, False, 0.0)
    assert status["backfills"] == [
        {"table": "app", "segments": 2, "segments_done": 2, "items": 5, "complete": True}]
    assert status["rows"] == [{"table": "orders", "rows": 0}, {"table": "users", "rows": 5}]
    letters = status["dead_letters"]
    assert (letters["total"], letters["by_table"]) == (1, [{"table": "users", "count": 1}])
    (error,) = letters["latest_errors"]
    assert "age" in error.lower()
    assert status["missing_tables"] is False


@pytest.mark.mysql
def test_dlq_list_json_and_sql_table(world, capsys):
    sink, database = world
    listed, _ = document(["dlq", "list", "--json", *database], capsys)
    assert (listed["table_exists"], listed["count"]) == (True, 1)
    (letter,) = listed["dead_letters"]
    assert list(letter) == ["record_id", "table", "projector", "entity_type", "event_kind",
                            "sequence_number", "item_key", "attempts", "first_seen",
                            "last_seen", "error"]
    with sink.engine.connect() as conn:
        record_id, sequence, first_seen = conn.exec_driver_sql(
            "SELECT record_id, sequence_number, first_seen FROM ddbproj_dead_letters").one()
    assert (letter["record_id"], letter["sequence_number"]) == (record_id, str(sequence))
    assert letter["first_seen"] == first_seen.isoformat()
    assert (letter["table"], letter["entity_type"], letter["event_kind"]) == (
        "users", "User", "INSERT")
    assert letter["projector"].endswith("UserProjector")
    assert letter["attempts"] == 1
    only_users, _ = document(["dlq", "list", "--json", "--sql-table", "users", *database],
                             capsys)
    only_orders, _ = document(["dlq", "list", "--json", "--sql-table", "orders", *database],
                              capsys)
    assert (only_users["count"], only_orders["count"]) == (1, 0)


@pytest.mark.mysql
def test_verify_json_equivalent_and_not(world, capsys):
    sink, database = world
    verify = ["verify", "--table", "app", "--json", *database]
    equal, _ = document(verify, capsys)
    assert equal["equivalent"] is True
    assert (equal["table"], equal["items_scanned"], equal["items_skipped"],
            equal["unprojectable"]) == ("app", 5, 0, 0)
    assert equal["tables"] == [
        {"table": "orders", "dynamodb": 0, "sql": 0, "equal": 0, "missing": 0, "extra": 0,
         "different": 0, "examples": []},
        {"table": "users", "dynamodb": 5, "sql": 5, "equal": 5, "missing": 0, "extra": 0,
         "different": 0, "examples": []},
    ]
    with sink.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE users SET age = 99 WHERE id = 3")
    different, _ = document(verify, capsys, expect=1)
    assert different["equivalent"] is False
    users = different["tables"][1]
    assert (users["equal"], users["different"]) == (4, 1)
    assert users["examples"] == [{"kind": "different", "key": {"id": "3"},
                                  "columns": [{"column": "age", "dynamodb": "33",
                                               "sql": "99"}]}]


# -- verify's progress ---------------------------------------------------------------------

@pytest.mark.mysql
@pytest.mark.parametrize(("flags", "shown"), [
    (["--progress"], True),
    (["--no-progress"], False),
    ([], False),  # stderr is not a terminal here
    (["--progress", "--json"], False),
])
def test_verify_progress(world, capsys, flags, shown):
    _, database = world
    capsys.readouterr()
    assert main(["verify", "--table", "app", *flags, *database]) == 0
    lines = capsys.readouterr().err.splitlines()
    passes = [line.split(" [")[0].split(" 5 items")[0] for line in lines
              if line.startswith("verify app: ")]
    if not shown:
        assert passes == []
        return
    assert "verify app: scan" in passes
    assert "verify app: compare" in passes
    assert any(line.startswith("verify app: compare [####################] 5/5 100%")
               for line in lines), lines


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    clean = {k: v for k, v in os.environ.items() if k not in ("PROJECTIONS", "DATABASE_URL")}
    clean["PYTHONPATH"] = str(REPOSITORY)
    done = subprocess.Popen(
        [sys.executable, "-m", "ddbproj.handlers.cli", "projectors", "--json"],
        cwd=REPOSITORY, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done.stdout.close()  # as `| head -c 0` does: every write finds no reader
    stderr = done.stderr.read().decode()
    done.stderr.close()
    assert done.wait(timeout=60) == 141
    assert stderr == ""
