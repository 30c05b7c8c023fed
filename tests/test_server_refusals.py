"""A value only the server refuses is a dead letter, the rest of the batch commits; a failed
batch that holds a record without a sequence number is never acknowledged."""

from __future__ import annotations

import attrs
import pytest
import sqlalchemy as sa

from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.sink import SqlSink
from ddbproj.core import Projector, ProjectorRegistry, column
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor, UnnamedRecords


@attrs.frozen
class Code:
    id: str = attrs.field(metadata=column(length=20))
    # a type ddbproj's own checks cannot read: only the server knows it holds 3 characters
    short: str = attrs.field(metadata=column(sql_type="VARCHAR(3)"))


class CodeProjector(Projector[Code]):
    entity_type = "Code"
    model = Code
    table = "refusal_codes"
    key = ("id",)
    renames = {"id": "Id", "short": "Short"}


def item(i: int, short: str) -> dict:
    return {"PK": f"C#{i}", "SK": "A", "entity_type": "Code", "Id": f"c{i}", "Short": short}


@pytest.fixture
def code_sink(mysql_engine: sa.Engine) -> SqlSink:
    registry = ProjectorRegistry()
    registry.register(CodeProjector)
    sink = SqlSink(mysql_engine, registry)
    sink.create_schema()
    with mysql_engine.begin() as conn:
        for table in reversed(sink.metadata.sorted_tables):
            conn.execute(table.delete())
    return sink


@pytest.mark.mysql
@pytest.mark.parametrize("chunk_records", [None, 1])
def test_a_value_the_server_refuses_is_a_dead_letter_and_the_rest_commits(
        code_sink, chunk_records):
    events = StreamEventBuilder()
    records = [events.insert(item(1, "abc")), events.insert(item(2, "toolong")),
               events.insert(item(3, "xyz")), events.remove(item(1, "abc"))]
    processor = BatchProcessor(code_sink.registry, code_sink, chunk_records=chunk_records)

    result = processor.process_event(events.event(records))

    assert (result.ok, result.applied, result.dead_lettered) == (True, 3, 1)
    with code_sink.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, short FROM refusal_codes ORDER BY id").all()
        letters = conn.exec_driver_sql(
            "SELECT entity_type, error FROM ddbproj_dead_letters").all()
    assert [tuple(r) for r in rows] == [("c3", "xyz")]
    [(entity_type, error)] = letters
    assert entity_type == "Code"
    assert error.startswith("Code (PK=C#2, SK=A, seq ")
    assert "the database refused the values" in error
    assert "1406" in error


@pytest.mark.mysql
def test_a_failed_batch_with_an_unnamed_record_raises(code_sink):
    broken = SqlSink(make_engine("mysql+pymysql://root@127.0.0.1:1/"), code_sink.registry,
                     attempts=1)
    events = StreamEventBuilder()
    named = events.insert(item(1, "abc"))
    unnamed = events.insert(item(2, "def"))
    del unnamed["dynamodb"]["SequenceNumber"]
    processor = BatchProcessor(code_sink.registry, broken)

    result = processor.process_event(events.event([named]))
    assert not result.ok
    assert result.response == {"batchItemFailures": [
        {"itemIdentifier": named["dynamodb"]["SequenceNumber"]}]}
    with pytest.raises(UnnamedRecords, match="1 of its records have no sequence number"):
        processor.process_event(events.event([named, unnamed]))
