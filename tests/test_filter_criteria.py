"""FilterCriteria generated from the registry: exact output, limits, and the property that
matters — no record a projector claims is ever dropped by the filter."""

import json

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddbproj.core import CompiledProjector, ProjectorRegistry, load_registry, parse_record
from ddbproj.core.filter_criteria import (
    FilterCriteriaError,
    filter_criteria,
    filter_patterns,
    pattern_text,
)
from ddbproj.core.filters import EventFilter
from ddbproj.core.projector import Projector
from ddbproj.handlers.cli import main
from ddbproj.handlers.commands.filter_criteria import BLOCK_BEGIN, BLOCK_END, update_template


@attrs.frozen
class Thing:
    id: str


def projector(entity_type, *, key_prefixes=None, table=None):
    return type(f"{entity_type}Projector", (Projector,), {
        "entity_type": entity_type, "model": Thing, "table": table or "things",
        "key": ("id",), "key_prefixes": key_prefixes or {},
    })


def registry_of(*projectors, type_attribute="entity_type"):
    registry = ProjectorRegistry(type_attribute=type_attribute)
    for p in projectors:
        registry.register(p)
    return registry


def test_the_projections_package_gives_exactly_these_filters():
    criteria = filter_criteria(load_registry(["projections"]))
    assert criteria == {"Filters": [
        {"Pattern": '{"dynamodb":{"NewImage":{"entity_type":{"S":["Order","User"]}}}}'},
        {"Pattern": '{"dynamodb":{"OldImage":{"entity_type":{"S":["Order","User"]}}}}'},
        {"Pattern": '{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"ORDER#"}]}}}}'},
    ]}


def test_type_attribute_and_prefix_routes_follow_the_registry():
    registry = registry_of(
        projector("B", key_prefixes={"PK": "B#"}),
        projector("A", key_prefixes={"PK": "A#"}),
        projector("AA", key_prefixes={"PK": "A#SUB#"}),
        projector("C", key_prefixes={"PK": "C#", "SK": "META"}),
        type_attribute="kind",
    )
    assert filter_patterns(registry) == [
        {"dynamodb": {"NewImage": {"kind": {"S": ["A", "AA", "B", "C"]}}}},
        {"dynamodb": {"OldImage": {"kind": {"S": ["A", "AA", "B", "C"]}}}},
        # one pattern per set of key names; A#SUB# is covered by A#
        {"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "A#"}, {"prefix": "B#"}]}}}},
        {"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "C#"}]},
                               "SK": {"S": [{"prefix": "META"}]}}}},
    ]


def test_more_filters_than_a_mapping_takes_is_an_error_not_a_silent_truncation():
    registry = registry_of(
        projector("A", key_prefixes={"PK": "A#"}),
        projector("B", key_prefixes={"SK": "B#"}),
        projector("C", key_prefixes={"GSI": "C#"}),
        projector("D", key_prefixes={"PK": "D#", "SK": "D"}),
    )
    with pytest.raises(FilterCriteriaError) as error:
        filter_patterns(registry)
    assert str(error.value).startswith("the projectors need 6 filters but a mapping takes 5")
    assert len(filter_patterns(registry, max_filters=10)) == 6


def test_an_empty_registry_refuses_to_make_a_filter_that_drops_everything():
    with pytest.raises(FilterCriteriaError, match="no projector is registered"):
        filter_patterns(ProjectorRegistry())


def test_long_type_lists_are_split_within_the_pattern_length_limit():
    names = [f"Entity{i:04d}" + "x" * 40 for i in range(100)]
    registry = registry_of(*(projector(n) for n in names))
    patterns = filter_patterns(registry)
    assert len(patterns) == 4
    assert all(len(pattern_text(p)) <= 4096 for p in patterns)
    new_types = [t for p in patterns if "NewImage" in p["dynamodb"]
                 for t in p["dynamodb"]["NewImage"]["entity_type"]["S"]]
    assert new_types == sorted(names)


def test_numeric_operators_are_never_generated():
    text = json.dumps(filter_criteria(load_registry(["projections"])))
    assert "numeric" not in text


# --- the property: claimed records always pass -------------------------------------------

REGISTRY = registry_of(
    projector("User"),
    projector("Order", key_prefixes={"PK": "ORDER#"}),
    projector("Line", key_prefixes={"PK": "ORDER#", "SK": "LINE#"}),
)
FILTER = EventFilter.from_criteria(filter_criteria(REGISTRY))

type_values = st.one_of(
    st.sampled_from(["User", "Order", "Line", "Other", "user", ""]).map(lambda v: {"S": v}),
    st.just({"N": "1"}),
    st.just({"NULL": True}),
)
images = st.one_of(
    st.none(),
    st.fixed_dictionaries({"id": st.just({"S": "1"})},
                          optional={"entity_type": type_values, "Name": st.just({"S": "x"})}),
)
key_values = st.sampled_from(["ORDER#1", "USER#1", "LINE#2", "ORDER", "META"])


@st.composite
def stream_records(draw):
    keys = {"PK": {"S": draw(key_values)}, "SK": {"S": draw(key_values)}}
    change = {"Keys": keys, "SequenceNumber": str(draw(st.integers(1, 10**22)))}
    event_name = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
    new, old = draw(images), draw(images)
    if new is not None and event_name != "REMOVE":
        change["NewImage"] = new
    if old is not None and event_name != "INSERT":
        change["OldImage"] = old
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": change}


@settings(max_examples=400, deadline=None)
@given(stream_records())
def test_every_record_a_projector_claims_passes_the_filter(record):
    routed = REGISTRY.route(parse_record(record))
    if isinstance(routed, CompiledProjector):
        assert FILTER.admits(record)


def test_records_nothing_claims_are_dropped():
    meta = {"eventName": "INSERT", "dynamodb": {
        "Keys": {"PK": {"S": "META"}, "SK": {"S": "import#1"}}, "SequenceNumber": "1",
        "NewImage": {"PK": {"S": "META"}, "source": {"S": "api"}}}}
    other = {"eventName": "REMOVE", "dynamodb": {
        "Keys": {"PK": {"S": "X#1"}, "SK": {"S": "X"}}, "SequenceNumber": "2",
        "OldImage": {"entity_type": {"S": "Other"}}}}
    bare_user_remove = {"eventName": "REMOVE", "dynamodb": {
        "Keys": {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}, "SequenceNumber": "3"}}
    bare_order_remove = {"eventName": "REMOVE", "dynamodb": {
        "Keys": {"PK": {"S": "ORDER#1"}, "SK": {"S": "ORDER"}}, "SequenceNumber": "4"}}
    user_remove = {"eventName": "REMOVE", "dynamodb": {
        "Keys": {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}, "SequenceNumber": "5",
        "OldImage": {"entity_type": {"S": "User"}}}}
    admitted, dropped = FILTER.split([meta, other, bare_user_remove, bare_order_remove,
                                      user_remove])
    assert admitted == [bare_order_remove, user_remove]
    assert dropped == [meta, other, bare_user_remove]


# --- the command ---------------------------------------------------------------------------

def test_command_prints_the_generated_criteria(capsys, monkeypatch):
    monkeypatch.delenv("ENTITY_TYPE_ATTRIBUTE", raising=False)
    assert main(["filter-criteria", "--projections", "projections"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == filter_criteria(load_registry(["projections"]))


def test_command_writes_the_template_block_and_checks_it(tmp_path, capsys):
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n"
        "  BatchSize:\n    Type: Number\n"
        f"  {BLOCK_BEGIN}\n  FilterPattern1:\n    Type: String\n    Default: 'stale'\n"
        f"  {BLOCK_END}\n"
        "Resources: {}\n",
        encoding="utf-8",
    )
    args = ["filter-criteria", "--projections", "projections", "--template", str(template)]
    assert main([*args, "--check"]) == 1
    assert main(args) == 0
    text = template.read_text(encoding="utf-8")
    assert text.startswith("Parameters:\n  BatchSize:\n    Type: Number\n")
    assert text.endswith(f"  {BLOCK_END}\nResources: {{}}\n")
    assert ("  FilterPattern3:\n    Type: String\n"
            in text)
    assert """Default: '{"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"ORDER#"}]}}}}'""" in text
    assert "  FilterPattern5:\n" in text
    assert main([*args, "--check"]) == 0
    assert "up to date (3 filters)" in capsys.readouterr().out


def test_single_quotes_in_a_pattern_are_yaml_escaped():
    criteria = {"Filters": [{"Pattern": '{"a":["it\'s"]}'}]}
    text = update_template(f"{BLOCK_BEGIN}\n{BLOCK_END}\n", criteria)
    assert """Default: '{"a":["it''s"]}'""" in text


def replay_event(tmp_path):
    def insert(sequence, image):
        return {"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {
            "Keys": {"PK": image["PK"], "SK": image["SK"]}, "SequenceNumber": sequence,
            "NewImage": image}}

    user = {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}, "entity_type": {"S": "User"},
            "Id": {"N": "1"}, "Name": {"S": "a"}, "Age": {"N": "1"}, "Height": {"N": "1"},
            "Weight": {"N": "1"}}
    meta = {"PK": {"S": "META"}, "SK": {"S": "import#1"}, "source": {"S": "api"}}
    other = {"PK": {"S": "X#1"}, "SK": {"S": "X"}, "entity_type": {"S": "Other"}}
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"Records": [insert("1", user), insert("2", meta),
                                            insert("3", other)]}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("option", "expected"), [
    ([], "records=1 applied=1 skipped=0 dead_lettered=0 filtered=2"),
    (["--filter-criteria", "none"], "records=3 applied=1 skipped=2 dead_lettered=0 filtered=0"),
    (["--filter-criteria", "FILE"], "records=1 applied=0 skipped=1 dead_lettered=0 filtered=2"),
])
def test_replay_drops_what_the_filter_drops(tmp_path, capsys, option, expected):
    criteria = tmp_path / "criteria.json"
    criteria.write_text(json.dumps({"FilterCriteria": {"Filters": [{"Pattern": json.dumps(
        {"dynamodb": {"Keys": {"PK": {"S": ["META"]}}}})}]}}), encoding="utf-8")
    option = [str(criteria) if o == "FILE" else o for o in option]
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    status = main(["replay", str(replay_event(tmp_path)), "--database-url", url,
                   "--projections", "projections", *option])
    assert status == 0
    assert capsys.readouterr().out.strip() == expected


def test_replay_with_a_bad_filter_file_is_a_one_line_error(tmp_path, capsys):
    criteria = tmp_path / "criteria.json"
    criteria.write_text('{"Filters": [{"Pattern": "{\\"a\\": 1}"}]}', encoding="utf-8")
    status = main(["replay", str(replay_event(tmp_path)), "--database-url",
                   f"sqlite:///{tmp_path / 'r.db'}", "--filter-criteria", str(criteria)])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "ddbproj replay: error: filter criteria: Filters[0].a: expected an object or a list "
        "of values, got int")
