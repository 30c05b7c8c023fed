"""Hostile and malformed inputs: every one is refused with a DecodeError/ValueError (or
becomes a malformed record), fast, and never crashes the batch; valid values decode
exactly as boto3's TypeDeserializer reads them."""

from __future__ import annotations

import base64
import datetime
import enum
import time
from decimal import Decimal
from typing import Any

import attrs
import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddbproj.core import Projector, ProjectorRegistry, load_registry, pascal_case
from ddbproj.core.converter import StructureError, make_converter
from ddbproj.core.dynamodb_json import (
    MAX_DEPTH,
    DecodeError,
    decode_image,
    decode_number,
    decode_value,
)
from ddbproj.core.events import StreamEventBuilder
from ddbproj.core.plan import plan_batch
from ddbproj.core.records import parse_event

BOTO3 = TypeDeserializer()


def deep(levels: int, tag: str = "M") -> dict[str, Any]:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(levels):
        value = {"M": {"a": value}} if tag == "M" else {"L": [value]}
    return value


def refused_fast(call: Any, seconds: float = 5.0, match: str | None = r".") -> ValueError:
    started = time.perf_counter()
    with pytest.raises(ValueError, match=match) as caught:
        call()
    assert time.perf_counter() - started < seconds
    return caught.value


# -- numbers -------------------------------------------------------------------------------

HOSTILE_NUMBERS = [
    "1e1000000", "-1e1000000", "1E+126", "1E-131", "1e-1000000", "1" + "0" * 5000,
    "1" + "0" * 4000, "9" * 39, "1" + "0" * 38, "0." + "0" * 300 + "1", "NaN", "-NaN", "sNaN",
    "Infinity", "-inf", "", " ", " 17", "17 ", "1_000", "0x10", "1e", "--1", "²", "1/2",
    "1.2.3", "\ud800", "1\x00", "0E+1000000", "0E-1000",
]


@pytest.mark.parametrize("text", HOSTILE_NUMBERS, ids=lambda t: repr(t)[:24])
def test_numbers_outside_dynamodb_are_refused_fast(text):
    for value in ({"N": text}, {"NS": ["1", text]}):
        error = refused_fast(lambda v=value: decode_value(v))
        assert isinstance(error, DecodeError)
    refused_fast(lambda: decode_number(text), match=None)  # the fast path's bare refusal


@pytest.mark.parametrize("value", [1, 1.5, True, False, None, Decimal("1"), [], {}, b"1"],
                         ids=repr)
def test_a_number_that_is_not_text_is_refused(value):
    with pytest.raises(DecodeError, match="N: expected the number as a string"):
        decode_image({"Age": {"N": value}})


@pytest.mark.parametrize(("text", "expected"), [
    ("9.9999999999999999999999999999999999999E+125",
     int("99999999999999999999999999999999999999" + "0" * 88)),
    ("-9.9999999999999999999999999999999999999E+125",
     -int("99999999999999999999999999999999999999" + "0" * 88)),
    ("1E-130", Decimal("1E-130")), ("-1E-130", Decimal("-1E-130")), ("0", 0), ("-0", 0),
    ("12345678901234567890123456789012345678", 12345678901234567890123456789012345678),
    ("0" * 200 + "1", 1), ("1.50", Decimal("1.50")), ("2.0", 2), ("1E+2", 100), ("٣", 3),
])
def test_numbers_at_dynamodb_limits_are_kept_exactly(text, expected):
    decoded = decode_value({"N": text})
    assert decoded == expected
    assert type(decoded) is type(expected)
    assert decoded == BOTO3.deserialize({"N": text})


def test_keys_with_huge_numbers_are_malformed_records_not_crashes():
    events = StreamEventBuilder()
    good = events.insert({"PK": "USER#1", "SK": "P"})
    bad = events.insert({"PK": "USER#2", "SK": "P"})
    bad["dynamodb"]["Keys"]["PK"] = {"N": "1e1000000"}
    started = time.perf_counter()
    parsed = parse_event({"Records": [good, bad]})
    assert time.perf_counter() - started < 0.5
    assert [r.raw for r in parsed.records] == [good]
    (malformed,) = parsed.malformed
    assert malformed.reason.startswith("Keys.PK: N: '1e1000000' is not a DynamoDB number")


# -- shapes: sets, lists, maps, tags ---------------------------------------------------------

BAD_SHAPES = [
    ({"SS": "abc"}, "value: SS: expected a list, got str"),
    ({"NS": "12"}, "value: NS: expected a list, got str"),
    ({"BS": "AA=="}, "value: BS: expected a list, got str"),
    ({"SS": {"a": 1}}, "value: SS: expected a list, got dict"),
    ({"SS": ["a", 1]}, "value[1]: SS: invalid value 1"),
    ({"L": "ab"}, "value: L: expected a list, got str"),
    ({"L": {"a": 1}}, "value: L: expected a list, got dict"),
    ({"M": "ab"}, "value: M: expected a map, got str"),
    ({"M": [["a", {"S": "x"}]]}, "value: M: expected a map, got list"),
    ({"M": {1: {"S": "x"}}}, "value.1: map key: expected a string, got int"),
    ({"S": 5}, "value: S: invalid value 5"),
    ({"S": ["a"]}, "value: S: invalid value ['a']"),
    ({"BOOL": 1}, "value: BOOL: invalid value 1"),
    ({"BOOL": "true"}, "value: BOOL: invalid value 'true'"),
    ({"NULL": False}, "value: NULL: invalid value False"),
    ({"B": "not base64"}, "value: B: invalid value 'not base64'"),
    ({"B": "\u00e9A=="}, "value: B: invalid value 'éA=='"),
    ({"B": 5}, "value: B: invalid value 5"),
    ({}, "value: expected exactly one type tag, got none"),
    ({"X": 1}, "value: unknown type tag 'X'"),
    ("S", "value: expected a typed attribute value, got str"),
    (["S", "x"], "value: expected a typed attribute value, got list"),
    (None, "value: expected a typed attribute value, got NoneType"),
]


@pytest.mark.parametrize(("value", "message"), BAD_SHAPES, ids=lambda v: repr(v)[:30])
def test_values_of_another_shape_are_refused_with_the_path(value, message):
    with pytest.raises(DecodeError) as caught:
        decode_value(value)
    assert str(caught.value) == message


def test_empty_sets_and_lists_still_decode():
    assert decode_value({"SS": []}) == set()
    assert decode_value({"L": []}) == []
    assert decode_value({"M": {}}) == {}


# -- lone surrogates -------------------------------------------------------------------------

SURROGATE_PLACES = [
    ({"Name": {"S": "a\ud800"}}, "NewImage.Name: S: lone surrogate U+D800 at character 1"),
    ({"Tags": {"SS": ["ok", "\udfff"]}}, "NewImage.Tags[1]: SS: lone surrogate U+DFFF"),
    ({"Doc": {"M": {"\ud800": {"S": "x"}}}}, "NewImage.Doc.\\ud800: map key: lone surrogate"),
    ({"Doc": {"L": [{"M": {"k": {"S": "\udc00"}}}]}}, "NewImage.Doc[0].k: S: lone surrogate"),
    ({"\ud83d": {"S": "x"}}, "NewImage.\\ud83d: attribute name: lone surrogate U+D83D"),
]


@pytest.mark.parametrize(("image", "message"), SURROGATE_PLACES, ids=lambda v: repr(v)[:30])
def test_lone_surrogates_are_refused_wherever_they_are(image, message):
    with pytest.raises(DecodeError) as caught:
        decode_image(image)
    assert str(caught.value).startswith(message)
    str(caught.value).encode("utf-8")  # the message itself is storable


def test_a_surrogate_pair_written_whole_is_a_character():
    assert decode_value({"S": "\U0001f389"}) == "🎉"


def test_lone_surrogates_in_keys_and_record_fields_make_malformed_records():
    events = StreamEventBuilder()
    records = [events.insert({"PK": "A", "SK": "B"}) for _ in range(3)]
    records[0]["dynamodb"]["Keys"]["PK"] = {"S": "\ud800"}
    records[1]["dynamodb"]["Keys"]["\ud800"] = {"S": "x"}
    records[2]["eventID"] = "id-\udc00"
    parsed = parse_event({"Records": records})
    assert parsed.records == []
    assert [m.reason for m in parsed.malformed] == [
        "Keys.PK: S: lone surrogate U+D800 at character 0: not valid Unicode, and MySQL's "
        "utf8mb4 cannot store it",
        "Keys.\\ud800: attribute name: lone surrogate U+D800 at character 0: not valid "
        "Unicode, and MySQL's utf8mb4 cannot store it",
        "eventID: lone surrogate U+DC00 at character 3: not valid Unicode, and MySQL's "
        "utf8mb4 cannot store it",
    ]


# -- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["M", "L"])
def test_dynamodb_nesting_limit_is_kept_and_deeper_is_refused(tag):
    assert decode_value(deep(MAX_DEPTH - 1, tag)) is not None
    error = refused_fast(lambda: decode_value(deep(MAX_DEPTH, tag)))
    assert f"{tag}: nested deeper than DynamoDB's 32 levels" in str(error)


@pytest.mark.parametrize("tag", ["M", "L"])
def test_100000_levels_are_refused_without_recursion_error(tag):
    error = refused_fast(lambda: decode_image({"Doc": deep(100_000, tag)}))
    assert isinstance(error, DecodeError)
    assert "nested deeper than DynamoDB's 32 levels" in str(error)


# -- record fields ---------------------------------------------------------------------------


def record_with(**dynamodb: Any) -> dict[str, Any]:
    record = StreamEventBuilder().insert({"PK": "A", "SK": "B"})
    record["dynamodb"].update(dynamodb)
    return record


@pytest.mark.parametrize("created", [
    10**30, -1, float("nan"), float("inf"), True, False, "soon", "1e400", [1], {"a": 1},
    "9" * 5000, 253_402_300_800, "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00",
], ids=lambda v: repr(v)[:24])
def test_creation_times_out_of_range_or_of_another_type_are_malformed(created):
    parsed = parse_event({"Records": [record_with(ApproximateCreationDateTime=created)]})
    assert parsed.records == []
    (malformed,) = parsed.malformed
    assert malformed.reason.startswith(
        "dynamodb.ApproximateCreationDateTime is not epoch seconds from 1970 to 9999 or an "
        "ISO-8601 timestamp")


@pytest.mark.parametrize(("created", "expected"), [
    (0, datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)),
    (1.5, datetime.datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=datetime.UTC)),
    (Decimal("1700000000"), datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC)),
    ("1700000000", datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC)),
    ("2024-01-01T09:00:00+09:00", datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)),
])
def test_creation_times_in_every_form_become_utc(created, expected):
    (record,) = parse_event({"Records": [record_with(ApproximateCreationDateTime=created)]}).records
    assert record.created_at == expected
    assert record.created_at.tzinfo is datetime.UTC


@pytest.mark.parametrize(("sequence", "reason"), [
    ("1" * 41, "dynamodb.SequenceNumber has 41 digits; DynamoDB's have at most 40"),
    ("1" * 5000, "dynamodb.SequenceNumber has 5000 digits; DynamoDB's have at most 40"),
    ("²", "dynamodb.SequenceNumber is not a decimal string: '²'"),
    ("١٢", "dynamodb.SequenceNumber is not a decimal string: '١٢'"),
    ("-1", "dynamodb.SequenceNumber is not a decimal string: '-1'"),
    (17, "dynamodb.SequenceNumber is not a decimal string: 17"),
])
def test_sequence_numbers_beyond_40_digits_or_not_digits_are_malformed(sequence, reason):
    (malformed,) = parse_event({"Records": [record_with(SequenceNumber=sequence)]}).malformed
    assert malformed.reason == reason
    assert malformed.sequence_number is None


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("eventID", 5, "eventID is not a string but int"),
    ("eventID", ["x"], "eventID is not a string but list"),
    ("eventSourceARN", {"a": 1}, "eventSourceARN is not a string but dict"),
    ("userIdentity", "dynamodb.amazonaws.com", "userIdentity is not an object but str"),
    ("userIdentity", [1], "userIdentity is not an object but list"),
])
def test_record_fields_of_another_type_are_malformed(field, value, reason):
    record = record_with()
    record[field] = value
    (malformed,) = parse_event({"Records": [record]}).malformed
    assert malformed.reason == reason


@pytest.mark.parametrize(("key", "reason"), [
    ({"M": {"a": {"S": "x"}}}, "Keys.PK: a key attribute is a string (S), a number (N) or a "
                               "binary (B), not M"),
    ({"BOOL": True}, "Keys.PK: a key attribute is a string (S), a number (N) or a binary (B), "
                     "not BOOL"),
    ({"S": "x" * 2049}, "Keys.PK: 2049 bytes: longer than any DynamoDB key attribute (2048 "
                        "bytes at most)"),
    ({"S": "é" * 1025}, "Keys.PK: 2050 bytes: longer than any DynamoDB key attribute (2048 "
                        "bytes at most)"),
])
def test_key_attributes_dynamodb_cannot_have_are_malformed(key, reason):
    record = record_with()
    record["dynamodb"]["Keys"]["PK"] = key
    (malformed,) = parse_event({"Records": [record]}).malformed
    assert malformed.reason == reason


# -- structuring: bool is never a number, timestamps stay in range ---------------------------


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Gauge:
    id: int
    level: Level
    amount: Decimal
    ratio: float
    at: datetime.datetime
    version: int


class GaugeProjector(Projector[Gauge]):
    entity_type = "Gauge"
    model = Gauge
    table = "gauges"
    key = ("id",)
    attribute_names = pascal_case
    version = "version"


GAUGE = {"Id": {"N": "1"}, "Level": {"N": "1"}, "Amount": {"N": "1.5"}, "Ratio": {"N": "0.5"},
         "At": {"S": "2024-01-01T00:00:00Z"}, "Version": {"N": "3"}}


@pytest.fixture
def gauge():
    registry = ProjectorRegistry()
    registry.register(GaugeProjector)
    return registry.get("Gauge")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("Level", {"BOOL": True}, "attribute 'Level': expected one of 1, 2, got BOOL True"),
    ("Id", {"BOOL": True}, "attribute 'Id': expected a number, got BOOL True"),
    ("Amount", {"BOOL": False}, "attribute 'Amount': expected a number, got BOOL False"),
    ("Ratio", {"BOOL": True}, "attribute 'Ratio': expected a number, got BOOL True"),
    ("Version", {"BOOL": True}, "attribute 'Version': expected a number, got BOOL True"),
    ("Level", {"N": "1.0E+0"}, None),
    ("At", {"S": "9999-12-31T23:59:59-05:00"},
     "attribute 'At': expected a timestamp within years 1 to 9999 in UTC, got S "
     "\"9999-12-31T23:59:59-05:00\""),
    ("At", {"S": "0001-01-01T00:00:00+01:00"},
     "attribute 'At': expected a timestamp within years 1 to 9999 in UTC, got S "
     "\"0001-01-01T00:00:00+01:00\""),
    ("At", {"N": "1E+100"}, "attribute 'At': expected epoch seconds within years 1 to 9999, "
                            "got N 1.000000E+100"),
    ("Id", {"N": "1" + "0" * 37}, None),
    ("Id", {"N": " 1"}, "NewImage.Id: N: invalid value ' 1'"),
    ("Id", {"N": "1_0"}, "NewImage.Id: N: invalid value '1_0'"),
])
def test_structuring_refuses_what_does_not_fit_exactly(gauge, name, value, message):
    image = {**GAUGE, name: value}
    if message is None:
        gauge.structure_image(image)
        return
    with pytest.raises(ValueError, match=r".") as caught:
        gauge.structure_image(image)
    assert str(caught.value) == message


def test_bool_is_not_an_int_enum_member_in_the_plain_converter():
    with pytest.raises(StructureError):
        make_converter().structure(True, Level)
    assert make_converter().structure(2, Level) is Level.HIGH


def test_ranks_beyond_decimal_40_raise(gauge):
    model = gauge.structure_image({**GAUGE, "Version": {"N": "5E+39"}})
    with pytest.raises(ValueError, match=r"outside 0 to 10\*\*40 - 1"):
        gauge.upsert_rank(1, model)
    with pytest.raises(ValueError, match=r"outside 0 to 10\*\*40 - 1"):
        gauge.delete_rank(1, {"Version": 5 * 10**39})
    assert gauge.upsert_rank(1, gauge.structure_image(GAUGE)) == 6
    assert gauge.delete_rank(1, {"Version": 3}) == 7


# -- check_key and check_row -----------------------------------------------------------------


@pytest.fixture
def order():
    return load_registry(["projections"]).get("Order")


@pytest.mark.parametrize(("key", "problem"), [
    (("o-1",), None),
    (("x" * 64,), None),
    (("x" * 65,), "column 'order_id': 65 characters exceed the column length 64; raise "
                  "column(length=...)"),
    ((5,), "column 'order_id': expected a string, got int"),
    ((None,), "column 'order_id': required attribute is null"),
    (("a\ud800",), "column 'order_id': lone surrogate U+D800 at character 1: not valid "
                   "Unicode, and MySQL's utf8mb4 cannot store it"),
    (("a", "b"), "expected 1 values for the columns ['order_id'], got 2"),
])
def test_check_key_names_the_column_a_key_does_not_fit(order, key, problem):
    assert order.check_key(key) == problem


def test_check_key_of_a_decimal_and_an_int_key():
    from ddbproj.core.columns import column

    @attrs.frozen
    class Entry:
        amount: Decimal = attrs.field(metadata=column(precision=6, scale=2))
        n: int = 0

    class EntryProjector(Projector[Entry]):
        entity_type = "Entry"
        model = Entry
        table = "entries"
        key = ("amount", "n")

    registry = ProjectorRegistry()
    registry.register(EntryProjector)
    entry = registry.get("Entry")
    assert entry.check_key((Decimal("1234.50"), 1)) is None
    assert entry.check_key((Decimal("1.500"), 1)) is None
    assert entry.check_key((Decimal("1.555"), 1)) == (
        "column 'amount': 1.555 does not fit DECIMAL(6, 2) without rounding; widen it with "
        "column(precision=..., scale=...)")
    assert entry.check_key((Decimal("12345"), 1)) == (
        "column 'amount': 12345 does not fit DECIMAL(6, 2) without rounding; widen it with "
        "column(precision=..., scale=...)")
    assert entry.check_key((Decimal("1"), 2**63)) == (
        "column 'n': 9223372036854775808 does not fit a 64-bit integer column; annotate the "
        "field as Decimal or give it column(kind='decimal', precision=38, scale=0)")
    assert entry.check_key((Decimal("1"), True)) == "column 'n': expected an integer, got bool"
    assert entry.check_key((Decimal("NaN"), 1)) == "column 'amount': NaN is not a finite number"


def test_check_row_refuses_what_a_column_cannot_store(order):
    image = {"OrderId": {"S": "o"}, "CustomerId": {"N": "1"}, "Total": {"N": "1.5"},
             "Status": {"S": "PAID"}, "PlacedAt": {"S": "2024-01-01T00:00:00Z"},
             "ShippingAddress": {"M": {"street": {"S": "s"}, "city": {"S": "東京"},
                                       "zip": {"S": "z"}}}, "Lines": {"L": []}}
    row = order.row_of(order.structure_image(image))
    assert order.check_row(row) is None
    names = [c.name for c in order.columns]

    def with_value(name, value):
        changed = list(row)
        changed[names.index(name)] = value
        return order.check_row(tuple(changed))

    assert with_value("total", Decimal("1.505")) == (
        "column 'total': 1.505 does not fit DECIMAL(14, 2) without rounding; widen it with "
        "column(precision=..., scale=...)")
    assert with_value("customer_id", -(2**63) - 1).startswith(
        "column 'customer_id': -9223372036854775809 does not fit a 64-bit integer column")
    assert with_value("customer_id", "1") == "column 'customer_id': expected an integer, got str"
    assert with_value("note", "a\udfff") == (
        "column 'note': lone surrogate U+DFFF at character 1: not valid Unicode, and MySQL's "
        "utf8mb4 cannot store it")
    assert with_value("note", None) is None
    aware = datetime.datetime(9999, 12, 31, 23, tzinfo=datetime.timezone(-datetime.timedelta(
        hours=5)))
    assert with_value("placed_at", aware) == (
        "column 'placed_at': 9999-12-31T23:00:00-05:00 is outside years 1 to 9999 once "
        "converted to UTC")
    assert with_value("shipping_address", '{"city":"\ud800"}') == (
        "column 'shipping_address': lone surrogate U+D800 at character 9: not valid Unicode, "
        "and MySQL's utf8mb4 cannot store it")


# -- the oracle: boto3's TypeDeserializer -----------------------------------------------------

#: Numbers DynamoDB holds, as text in the forms writers use.
dynamodb_numbers = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20),
                max_value=10**20).map(str),
    st.builds(lambda digits, exponent: f"{digits}E{exponent:+d}",
              st.integers(1, 10**20), st.integers(-130, 105)),
)
plain_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
valid_values = st.recursive(
    st.one_of(
        plain_text.map(lambda s: {"S": s}),
        dynamodb_numbers.map(lambda n: {"N": n}),
        st.binary(max_size=6).map(lambda b: {"B": base64.b64encode(b).decode()}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.lists(plain_text, min_size=1, max_size=4, unique=True).map(lambda v: {"SS": v}),
        st.lists(dynamodb_numbers, min_size=1, max_size=4).map(lambda v: {"NS": v}),
    ),
    lambda children: st.lists(children, max_size=3).map(lambda v: {"L": v})
    | st.dictionaries(plain_text, children, max_size=3).map(lambda v: {"M": v}),
    max_leaves=10,
)


def boto3_value(value: Any) -> Any:
    """boto3's reading in ddbproj's terms: integral Decimals are ints, binaries bytes."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, list):
        return [boto3_value(v) for v in value]
    if isinstance(value, dict):
        return {k: boto3_value(v) for k, v in value.items()}
    if isinstance(value, set):
        return {boto3_value(v) for v in value}
    return value


def lambda_form_for_boto3(value: Any) -> Any:
    """boto3 reads binaries as bytes (a low-level client's form), the Lambda event has them
    as base64 text: hand boto3 the bytes."""
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if tag == "L":
        return {"L": [lambda_form_for_boto3(v) for v in inner]}
    if tag == "M":
        return {"M": {k: lambda_form_for_boto3(v) for k, v in inner.items()}}
    return value


@settings(max_examples=500, deadline=None)
@given(valid_values)
def test_valid_values_decode_as_boto3_reads_them(value):
    expected = boto3_value(BOTO3.deserialize(lambda_form_for_boto3(value)))
    decoded = decode_value(value)
    assert decoded == expected
    assert type(decoded) is type(expected)


hostile_leaves = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS).map(lambda n: {"N": n}),
    st.one_of(st.integers(), st.floats(), st.booleans(), st.none()).map(lambda n: {"N": n}),
    st.text(max_size=4).map(lambda s: {"SS": s}),
    st.text(max_size=4).map(lambda s: {"L": s}),
    st.lists(st.integers(), max_size=2).map(lambda v: {"M": v}),
    st.sampled_from(["\ud800", "a\udfff", "\udc00\ud800"]).map(lambda s: {"S": s}),
    st.sampled_from([{"S": 5}, {"BOOL": "x"}, {"NULL": False}, {"B": "!"}, {}, {"Q": "1"},
                     {"S": "a", "N": "1"}, "S", 5, None, [], {"M": {"\ud800": {"S": "x"}}}]),
    st.integers(MAX_DEPTH, 200).map(deep),
)
hostile_values = st.recursive(
    hostile_leaves,
    lambda children: st.lists(children, min_size=1, max_size=3).map(lambda v: {"L": v})
    | st.dictionaries(plain_text, children, min_size=1, max_size=3).map(lambda v: {"M": v}),
    max_leaves=6,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_values)
def test_hostile_values_raise_decode_error_and_nothing_else_fast(value):
    started = time.perf_counter()
    with pytest.raises(DecodeError):
        decode_value(value)
    with pytest.raises(DecodeError):
        decode_image({"A": value})
    assert time.perf_counter() - started < 0.5


# -- whole batches: nothing escapes, every record is counted ----------------------------------

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
TAG_NAMES = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]
attribute_values = st.one_of(
    valid_values, hostile_values, json_like,
    st.builds(lambda tag, inner: {tag: inner}, st.sampled_from(TAG_NAMES), json_like),
)
images = st.dictionaries(
    st.sampled_from(["PK", "SK", "entity_type", "Id", "Name", "Age", "Height", "Weight",
                     "OrderId", "CustomerId", "Total", "Status", "PlacedAt", "Lines", "Tags",
                     "ShippingAddress", "Note", "\ud800"]),
    attribute_values | st.sampled_from([{"S": "User"}, {"S": "Order"}, {"N": "7"}]),
    max_size=10,
)


def user_item(i):
    return {"PK": f"USER#{i}", "SK": "P", "entity_type": "User", "Id": i, "Name": "n",
            "Age": 1, "Height": 2, "Weight": 3}


@st.composite
def hostile_records(draw):
    events = StreamEventBuilder()
    kind = draw(st.sampled_from(["insert", "modify", "remove", "junk"]))
    if kind == "junk":
        return draw(json_like)
    item = user_item(draw(st.integers(1, 5)))
    record = (events.insert(item) if kind == "insert" else events.modify(item, item)
              if kind == "modify" else events.remove(item))
    change = record["dynamodb"]
    for name in draw(st.lists(st.sampled_from(["NewImage", "OldImage", "Keys"]), max_size=3)):
        change[name] = draw(images | json_like)
    for name in draw(st.lists(st.sampled_from(
            ["SequenceNumber", "ApproximateCreationDateTime", "eventID", "eventName",
             "userIdentity", "eventSourceARN", "dynamodb"]), max_size=2)):
        target = change if name in ("SequenceNumber", "ApproximateCreationDateTime") else record
        target[name] = draw(json_like | st.sampled_from(
            ["1" * 41, "1" * 5000, "²", 10**30, -1, float("nan"), True, "\ud800",
             "9999-12-31T23:59:59-05:00"]))
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_records(), max_size=6))
def test_hostile_batches_never_raise_and_every_record_is_counted(raw_records):
    registry = load_registry(["projections"])
    events = StreamEventBuilder()
    good = [events.insert(user_item(100 + i)) for i in range(2)]
    batch = parse_event({"Records": [good[0], *raw_records, good[1]]})
    assert len(batch.records) + len(batch.malformed) == len(raw_records) + 2
    plan = plan_batch(batch, registry)
    applied, skipped, dead = _tally(plan)
    assert applied + skipped + dead == len(raw_records) + 2
    assert applied >= 2


def _tally(plan: Any) -> tuple[int, int, int]:
    """Applied, skipped and dead-lettered records of a plan (its tally, or its own counts)."""
    if hasattr(plan, "tally"):
        plan = plan.tally()
    if hasattr(plan, "applied"):
        return plan.applied, sum(plan.skipped.values()), len(plan.dead_letters)
    applied = skipped = dead = 0
    for chunk in getattr(plan, "chunks", plan):
        applied += chunk.applied
        skipped += sum(chunk.skipped.values())
        dead += len(chunk.dead_letters)
    return applied, skipped, dead
