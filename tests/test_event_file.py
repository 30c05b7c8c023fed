import io
import json

import pytest

from ddbproj.adapters.event_file import EventFileError, read_event_records


def records_of(text):
    records, document = read_event_records(io.StringIO(text))
    assert document is None
    return list(records)


@pytest.mark.parametrize("indent", [None, 2])
def test_a_records_file_is_streamed_record_by_record(indent, monkeypatch):
    monkeypatch.setattr("ddbproj.adapters.event_file._BLOCK", 7)  # records straddle every read
    event = {"Records": [{"eventName": "INSERT", "n": i, "s": "é,]}"} for i in range(50)]}
    records, document = read_event_records(io.StringIO(json.dumps(event, indent=indent)))
    assert document is None
    assert list(records) == event["Records"]


def test_empty_records_list():
    assert records_of('{"Records": []}') == []


def test_other_documents_are_read_whole():
    records, document = read_event_records(io.StringIO('{"payload": "{}", "Records2": 1}'))
    assert records is None
    assert document == {"payload": "{}", "Records2": 1}


def test_a_broken_record_is_an_error_naming_it():
    records, _ = read_event_records(io.StringIO('{"Records": [{"a": 1}, {"b": ]}'))
    with pytest.raises(EventFileError, match=r"^record 2 is not valid JSON: "):
        list(records)
