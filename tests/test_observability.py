"""Powertools logs and EMF metrics: the handler's JSON log line carries the request id and
the batch's sequence numbers; the metrics carry the batch's counts, duration and lag."""

import io
import json
import time

import pytest

from ddbproj.handlers import observability, stream
from ddbproj.handlers.observability import batch_keys, metrics, record_batch
from ddbproj.handlers.processor import BatchResult


class LambdaContext:
    """The attributes of the context object Lambda passes to a handler."""

    function_name = "ddbproj-projector"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:ddbproj"
    aws_request_id = "req-0001"


def record(sequence, event_name, image, *, created=None):
    keys = {"PK": image["PK"], "SK": image["SK"]}
    change = {"Keys": keys, "SequenceNumber": sequence, "StreamViewType": "NEW_AND_OLD_IMAGES",
              "ApproximateCreationDateTime": created or time.time() - 30}
    change["OldImage" if event_name == "REMOVE" else "NewImage"] = image
    return {"eventID": sequence, "eventName": event_name, "eventSource": "aws:dynamodb",
            "dynamodb": change}


def user(i, age):
    return {"PK": {"S": f"USER#{i}"}, "SK": {"S": "PROFILE"}, "entity_type": {"S": "User"},
            "Id": {"N": str(i)}, "Name": {"S": f"user {i}"}, "Age": age,
            "Height": {"N": "170"}, "Weight": {"N": "60"}}


@pytest.fixture
def log_stream():
    """The Powertools handler's output, redirected for the test."""
    handler = observability.logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@pytest.fixture
def clean_metrics():
    metrics.clear_metrics()
    yield metrics
    metrics.clear_metrics()


def emf_documents(text):
    return [doc for doc in map(json.loads, filter(None, text.splitlines())) if "_aws" in doc]


@pytest.mark.mysql
def test_handler_logs_json_with_request_id_and_emits_emf(
        projection_db, monkeypatch, log_stream, clean_metrics, capsys):
    monkeypatch.setenv("DATABASE_URL", projection_db.engine.url.render_as_string(
        hide_password=False))
    monkeypatch.setenv("PROJECTIONS", "projections")
    stream.reset()
    event = {"Records": [
        record("100000000000000000001", "INSERT", user(1, {"N": "17"}), created=time.time() - 90),
        record("100000000000000000002", "INSERT", user(2, {"S": "old"})),
        record("100000000000000000003", "INSERT",
               {"PK": {"S": "META"}, "SK": {"S": "import#1"}, "source": {"S": "api"}}),
        record("100000000000000000004", "MODIFY", user(3, {"N": "40"})),
    ]}
    response = stream.handler(event, LambdaContext())
    stream.reset()
    assert response == {"batchItemFailures": []}

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    batch_line = next(line for line in lines if line["message"].startswith("batch applied"))
    assert batch_line["level"] == "INFO"
    assert batch_line["service"] == "ddbproj"
    assert batch_line["function_request_id"] == "req-0001"
    assert batch_line["function_name"] == "ddbproj-projector"
    assert batch_line["first_sequence_number"] == "100000000000000000001"
    assert batch_line["last_sequence_number"] == "100000000000000000004"
    assert (batch_line["records"], batch_line["applied"], batch_line["dead_lettered"]) == (4, 2, 1)
    assert batch_line["skipped"] == {"no_entity_type": 1}
    assert 85 <= batch_line["stream_lag_seconds"] < 600

    documents = emf_documents(capsys.readouterr().out)
    batch = next(doc for doc in documents if "Records" in doc)
    directive = batch["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ddbproj"
    assert directive["Dimensions"] == [["service"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {"Records": "Count", "Applied": "Count", "Skipped": "Count",
                     "DeadLetters": "Count", "FailedRecords": "Count",
                     "BatchDuration": "Milliseconds", "StreamLag": "Seconds"}
    assert (batch["Records"], batch["Applied"], batch["Skipped"], batch["DeadLetters"],
            batch["FailedRecords"]) == ([4.0], [2.0], [1.0], [1.0], [0.0])
    assert 85 <= batch["StreamLag"][0] < 600
    assert batch["BatchDuration"][0] > 0
    by_reason = next(doc for doc in documents if "Reason" in doc)
    assert by_reason["Reason"] == "no_entity_type"
    assert by_reason["Skipped"] == [1.0]
    assert by_reason["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "Reason"]]


def test_a_failed_batch_counts_its_failed_records(clean_metrics, capsys):
    result = BatchResult(records=3, applied=0, skipped={}, dead_lettered=0,
                         failed_sequence_ids=("1", "2", "3"), error="DatabaseUnavailable: gone",
                         lag_seconds=None, duration_ms=12.5)
    record_batch(result)
    document = metrics.serialize_metric_set()
    assert (document["Records"], document["Applied"], document["FailedRecords"],
            document["BatchDuration"]) == ([3.0], [0.0], [3.0], [12.5])
    assert "StreamLag" not in document
    assert capsys.readouterr().out == ""  # no skip reasons, no single metrics


def test_skip_reasons_become_one_metric_each(clean_metrics, capsys):
    result = BatchResult(records=5, applied=2, skipped={"unclaimed_type": 2, "expired_kept": 1},
                         dead_lettered=0, lag_seconds=-0.5)
    record_batch(result)
    assert metrics.serialize_metric_set()["StreamLag"] == [0.0]  # clock skew is not lag
    reasons = {doc["Reason"]: doc["Skipped"] for doc in emf_documents(capsys.readouterr().out)}
    assert reasons == {"expired_kept": [1.0], "unclaimed_type": [2.0]}


@pytest.mark.parametrize(("event", "expected"), [
    ({"Records": [{"dynamodb": {"SequenceNumber": "7"}}, {"dynamodb": {"SequenceNumber": "9"}}]},
     ("7", "9")),
    ({"Records": []}, (None, None)),
    ({"Records": [{"dynamodb": {}}]}, (None, None)),
    ("not an event", (None, None)),
])
def test_batch_keys_read_the_first_and_last_sequence_numbers(event, expected):
    keys = batch_keys(event)
    assert (keys["first_sequence_number"], keys["last_sequence_number"]) == expected
