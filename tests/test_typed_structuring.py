"""Structuring straight from DynamoDB JSON gives exactly what decoding then structuring
gives: the same model, or the same error."""

from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddbproj.core import ProjectorRegistry
from ddbproj.core.dynamodb_json import DecodeError, decode_attributes, encode_value
from projections.orders import OrderProjector
from projections.users import UserProjector
from tests.test_converter import GOOD, ThingProjector

USER = {"Id": 7, "Name": "n", "Age": 17, "Height": 170, "Weight": 50}
ORDER = {
    "OrderId": "o-1", "CustomerId": 3, "Total": Decimal("12.50"), "Status": "PAID",
    "PlacedAt": "2024-01-02T03:04:05.123456+09:00",
    "ShippingAddress": {"street": "s", "city": "c", "zip": "z"},
    "Lines": [{"sku": "a", "quantity": 1, "unit_price": Decimal("1.5")}],
    "Note": None, "Tags": {"x"},
}
CASES = [(UserProjector, USER), (OrderProjector, ORDER),
         (ThingProjector, {k: v for k, v in GOOD.items() if k not in ("PK", "entity_type")})]

plain_values = (st.none() | st.booleans() | st.text(max_size=4) | st.binary(max_size=3)
                | st.integers(-(2**70), 2**70) | st.sampled_from(["red", "PAID", "1.5", "17"])
                | st.decimals(allow_nan=False, allow_infinity=False, places=3,
                              min_value=-1000, max_value=1000))
odd_values = st.sampled_from([
    {"N": "1E+2"}, {"N": " 17"}, {"N": "1.0"}, {"S": "x", "N": "1"}, {"S": None, "N": "5"},
    {"NULL": True, "S": None}, {"NULL": False}, {"X": "1"}, {"N": "abc"}, {"BOOL": "yes"},
    {"L": [{"S": "a"}]}, {"M": {"zip": {"S": "1"}}}, {"SS": ["a"]}, {"NS": ["1", "2"]},
    {"SS": ["a", 1]}, {"SS": "ab"}, {"L": "ab"}, {"M": [1]}, {"M": {}, "L": []},
    {"N": "2.0"}, {"N": "1.50"}, {"N": "-0"}, {"N": "NaN"}, {"S": "2024-01-02"},
    {"S": "2024-01-02T03:04:05"}, {"N": "1700000000.5"}, {"S": "SHIPPED"}, {"S": "shipped"},
])
#: nested values whose leaves are drawn like ``plain_values``: maps and lists of maps
nested_values = st.one_of(
    st.fixed_dictionaries({"street": plain_values, "city": plain_values, "zip": plain_values},
                          optional={"extra": plain_values}),
    st.lists(st.fixed_dictionaries({"sku": plain_values, "quantity": plain_values,
                                    "unit_price": plain_values}), max_size=3),
    st.lists(plain_values, max_size=3),
    st.frozensets(st.text(max_size=3), min_size=1, max_size=3),
)


@pytest.mark.parametrize(("projector", "item"), CASES, ids=lambda v: getattr(v, "__name__", ""))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_typed_path_equals_decode_then_structure(projector, item, data):
    registry = ProjectorRegistry()
    registry.register(projector)
    compiled = registry.get(projector.entity_type)
    raw = {name: encode_value(value) for name, value in item.items()}
    for name in data.draw(st.lists(st.sampled_from(sorted(raw)), max_size=3, unique=True)):
        change = data.draw(st.sampled_from(["value", "odd", "drop", "nested"]))
        if change == "drop":
            del raw[name]
        elif change == "odd":
            raw[name] = data.draw(odd_values)
        elif change == "nested":
            raw[name] = encode_value(data.draw(nested_values))
        else:
            raw[name] = encode_value(data.draw(plain_values))

    def slow():
        return compiled.structure(decode_attributes(raw, compiled.image_attributes, "NewImage"))

    assert outcome(lambda: compiled.structure_image(raw)) == outcome(slow)


ORDER_VARIANTS = [
    ("Total", {"N": "2.0"}), ("Total", {"N": "1.50"}), ("Total", {"N": "-0"}),
    ("Total", {"N": "1E+2"}), ("Total", {"S": "1.5"}), ("Tags", {"SS": ["a", 1]}),
    ("Tags", {"SS": ["b", "a", "b"]}), ("Tags", {"L": [{"S": "a"}]}), ("Status", {"S": "paid"}),
    ("PlacedAt", {"N": "1700000000.25"}), ("PlacedAt", {"S": "2024-01-02"}),
    ("ShippingAddress", {"M": {"street": {"S": "s"}, "city": {"S": "c"}}}),
    ("ShippingAddress", {"M": {"street": {"S": "s"}, "city": {"S": "c"}, "zip": {"N": "1"},
                               "extra": {"S": "x"}}}),
    ("Lines", {"L": [{"M": {"sku": {"S": "a"}, "quantity": {"N": "2.0"},
                            "unit_price": {"N": "3.10"}}}]}),
    ("Lines", {"L": [{"M": {"sku": {"S": "a"}, "quantity": {"N": "2.5"},
                            "unit_price": {"N": "3"}}}]}),
    ("Lines", {"L": [{"S": "a"}]}), ("Lines", {"SS": ["a"]}), ("Note", {"NULL": True}),
]


@pytest.mark.parametrize(("name", "value"), ORDER_VARIANTS, ids=lambda v: str(v)[:30])
def test_typed_path_reads_each_order_shape_exactly_as_the_slow_path(name, value):
    registry = ProjectorRegistry()
    registry.register(OrderProjector)
    compiled = registry.get("Order")
    raw = {key: encode_value(v) for key, v in ORDER.items()} | {name: value}

    def slow():
        return compiled.structure(decode_attributes(raw, compiled.image_attributes, "NewImage"))

    assert outcome(lambda: compiled.structure_image(raw)) == outcome(slow)


def outcome(structure):
    """The model as exact values (Decimal text, element types), or the error's type and text."""
    try:
        return exact(structure())
    except (ValueError, DecodeError) as error:
        return type(error), str(error)


def exact(value):
    if isinstance(value, Decimal):
        return "Decimal", str(value)
    if attrs.has(type(value)):
        return type(value), [exact(getattr(value, f.name)) for f in attrs.fields(type(value))]
    if isinstance(value, list | tuple):
        return type(value), [exact(v) for v in value]
    if isinstance(value, set | frozenset):
        return type(value), sorted((exact(v) for v in value), key=repr)
    if isinstance(value, dict):
        return dict, sorted(((k, exact(v)) for k, v in value.items()), key=repr)
    return type(value), value
