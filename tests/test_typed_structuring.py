"""Structuring straight from DynamoDB JSON gives exactly what decoding then structuring
gives: the same model, or the same error."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ProjectorRegistry
from core.dynamodb_json import DecodeError, decode_attributes, encode_value
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
])


@pytest.mark.parametrize(("projector", "item"), CASES, ids=lambda v: getattr(v, "__name__", ""))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_typed_path_equals_decode_then_structure(projector, item, data):
    registry = ProjectorRegistry()
    registry.register(projector)
    compiled = registry.get(projector.entity_type)
    raw = {name: encode_value(value) for name, value in item.items()}
    for name in data.draw(st.lists(st.sampled_from(sorted(raw)), max_size=3, unique=True)):
        change = data.draw(st.sampled_from(["value", "odd", "drop"]))
        if change == "drop":
            del raw[name]
        elif change == "odd":
            raw[name] = data.draw(odd_values)
        else:
            raw[name] = encode_value(data.draw(plain_values))

    def slow():
        return compiled.structure(decode_attributes(raw, compiled.image_attributes, "NewImage"))

    assert outcome(lambda: compiled.structure_image(raw)) == outcome(slow)


def outcome(structure):
    """The model, or the type and text of the error."""
    try:
        return structure()
    except (ValueError, DecodeError) as error:
        return type(error), str(error)
