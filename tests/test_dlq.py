"""``ddbproj dlq``: a poison record waits in the dead letters; once the projector is
fixed, a replay applies it (with the sequence guard) and removes the letter."""

from __future__ import annotations

import textwrap
from typing import Any

import attrs
import pytest

from ddbproj.core import (
    Projector,
    ProjectorRegistry,
    jsontext,
    load_registry,
    pascal_case,
    plan_batch,
)
from ddbproj.core.dynamodb_json import encode_image
from ddbproj.core.events import StreamEventBuilder
from ddbproj.core.records import ParsedBatch, scanned_item
from ddbproj.handlers.cli import main
from ddbproj.handlers.dead_letter_replay import replay_dead_letters
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql


@attrs.frozen
class Member:
    id: int
    name: str


class BrokenMemberProjector(Projector[Member]):
    """Reads the name from an attribute the writers never wrote: every item fails."""

    entity_type = "Member"
    model = Member
    table = "dlq_members"
    key = ("id",)
    attribute_names = pascal_case
    renames = {"name": "FullName"}


FIXED_MODULE = textwrap.dedent('''
    import attrs
    from ddbproj.core import Projector, pascal_case

    @attrs.frozen
    class Member:
        id: int
        name: str

    class MemberProjector(Projector[Member]):
        entity_type = "Member"
        model = Member
        table = "dlq_members"
        key = ("id",)
        attribute_names = pascal_case
''')


@pytest.fixture
def projection_registry() -> ProjectorRegistry:
    registry = ProjectorRegistry()
    registry.register(BrokenMemberProjector)
    return registry


@pytest.fixture
def fixed_module(tmp_path, monkeypatch) -> str:
    name = f"dlq_fixed_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(FIXED_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def member(i: int, **changes: Any) -> dict[str, Any]:
    return {"PK": f"MEMBER#{i}", "SK": "A", "entity_type": "Member", "Id": i,
            "Name": f"member {i}", **changes}


def members(sink) -> list[tuple]:
    with sink.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT id, name, ddbproj_seq FROM dlq_members ORDER BY id").all()]


def cli(projection_db, module: str, *argv: str) -> list[str]:
    url = projection_db.engine.url.render_as_string(hide_password=False)
    return ["dlq", *argv, "--database-url", url, "--projections", module]


def test_poison_record_is_replayed_once_the_projector_is_fixed(projection_db, fixed_module,
                                                               capsys):
    events = StreamEventBuilder()
    poison = events.insert(member(1))
    still_bad = events.insert(member(2, Id="two"))
    result = BatchProcessor(projection_db.registry, projection_db).process_event(
        events.event([poison, still_bad]))
    assert (result.response, result.dead_lettered) == ({"batchItemFailures": []}, 2)
    assert members(projection_db) == []

    assert main(cli(projection_db, fixed_module, "list")) == 0
    listed = capsys.readouterr().out
    seq = poison["dynamodb"]["SequenceNumber"]
    assert f"    Member (PK=MEMBER#1, SK=A, seq {seq}): attribute 'FullName': required " \
           "attribute is missing\n" in listed
    assert f"{poison['eventID']}  table=dlq_members  INSERT  seq={seq}  attempts=1" in listed
    assert listed.endswith("2 dead letters\n")

    assert main(cli(projection_db, fixed_module, "replay")) == 1  # one is still failing
    out = capsys.readouterr().out
    bad_seq = still_bad["dynamodb"]["SequenceNumber"]
    assert f"    Member (PK=MEMBER#2, SK=A, seq {bad_seq}): attribute 'Id': expected a " \
           "number, got S \"two\"\n" in out
    assert out.endswith("replayed=2 applied=1 skipped=0 still_failing=1\n")
    assert members(projection_db) == [(1, "member 1", int(seq))]
    with projection_db.engine.connect() as conn:
        letters = conn.exec_driver_sql(
            "SELECT record_id, attempts, error FROM ddbproj_dead_letters").all()
    assert [(r[0], r[1]) for r in letters] == [(still_bad["eventID"], 2)]
    assert letters[0][2].endswith("attribute 'Id': expected a number, got S \"two\"")


def test_replay_keeps_the_sequence_guard(projection_db, fixed_module):
    """A dead letter older than the row already there is applied as an older change is:
    it changes nothing, and its letter goes."""
    events = StreamEventBuilder()
    old = events.insert(member(1, Name="old"))
    BatchProcessor(projection_db.registry, projection_db).process_event(events.event([old]))
    fixed = BatchProcessor(load_registry([fixed_module]), projection_db)
    newer = events.modify(member(1, Name="old"), member(1, Name="new"))
    assert fixed.process_event(events.event([newer])).ok

    report = replay_dead_letters(fixed)

    assert (report.replayed, report.applied, report.still_failing) == (1, 1, ())
    assert members(projection_db) == [(1, "new", int(newer["dynamodb"]["SequenceNumber"]))]
    with projection_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM ddbproj_dead_letters").scalar() == 0


def test_a_scanned_item_that_failed_can_be_replayed(projection_db, fixed_module):
    raw = encode_image(member(3))
    plan = plan_batch(ParsedBatch([scanned_item(raw, ("PK", "SK"))], []),
                      projection_db.registry)
    projection_db.commit(plan)
    with projection_db.engine.connect() as conn:
        (stored,) = conn.exec_driver_sql("SELECT raw_record FROM ddbproj_dead_letters").all()
    assert jsontext.loads(stored[0])["dynamodb"]["SequenceNumber"] == "0"

    report = replay_dead_letters(BatchProcessor(load_registry([fixed_module]), projection_db))

    assert (report.replayed, report.applied, report.still_failing) == (1, 1, ())
    assert members(projection_db) == [(3, "member 3", 0)]
