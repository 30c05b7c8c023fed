"""``ddbproj replay`` on a saved Lambda event of 10,000 User INSERTs (the original
deployment's batch size), every row checked against the event."""

import json
import random

import pytest

from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.cli import main

pytestmark = pytest.mark.mysql


def test_replay_applies_a_10k_batch_exactly(tmp_path, projection_db, capsys):
    rng = random.Random(42)
    events = StreamEventBuilder()
    users = [
        {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
         "Name": "".join(rng.choice("abcxyzアイウ🎉 ") for _ in range(rng.randrange(1, 30))),
         "Age": rng.randrange(0, 120), "Height": rng.randrange(100, 220),
         "Weight": rng.randrange(-5, 2**62)}
        for i in range(10_000)
    ]
    path = tmp_path / "event.json"
    path.write_text(json.dumps(events.event(events.insert(u) for u in users)), encoding="utf-8")
    url = projection_db.engine.url.render_as_string(hide_password=False)

    status = main(["replay", str(path), "--database-url", url])

    assert status == 0
    assert "records=10000 applied=10000 skipped=0 dead_lettered=0" in capsys.readouterr().out
    with projection_db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, name, age, height, weight FROM users ORDER BY id").all()
    assert [tuple(r) for r in rows] == [
        (u["Id"], u["Name"], u["Age"], u["Height"], u["Weight"]) for u in users
    ]


def test_replay_of_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    status = main(["replay", str(tmp_path / "nope.json"), "--database-url", "sqlite://"])
    assert status == 2
    assert capsys.readouterr().err.startswith("ddbproj replay: error: cannot read ")


def test_replay_takes_an_invocation_record_from_the_failure_bucket(tmp_path, capsys):
    events = StreamEventBuilder()
    user = {"PK": "USER#1", "SK": "PROFILE", "entity_type": "User", "Id": 1, "Name": "a",
            "Age": 1, "Height": 2, "Weight": 3}
    record = {"requestContext": {"condition": "RetryAttemptsExhausted"},
              "payload": json.dumps(events.event([events.insert(user)]))}
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    status = main(["replay", str(path), "--database-url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert status == 0
    assert "records=1 applied=1" in capsys.readouterr().out
