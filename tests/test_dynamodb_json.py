import base64
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from ddbproj.core.dynamodb_json import (
    DecodeError,
    decode_attributes,
    decode_image,
    decode_value,
    encode_image,
    encode_value,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"S": "héllo 🎉"}, "héllo 🎉"),
        ({"S": ""}, ""),
        ({"N": "17"}, 17),
        ({"N": "0017"}, 17),
        ({"N": "-3"}, -3),
        ({"N": "1.5"}, Decimal("1.5")),
        ({"N": "1E+2"}, 100),
        ({"N": "-2.50"}, Decimal("-2.50")),
        ({"N": "1E-130"}, Decimal("1E-130")),
        ({"B": base64.b64encode(b"\x00\xff").decode()}, b"\x00\xff"),
        ({"B": b"\x00\xff"}, b"\x00\xff"),
        ({"BOOL": True}, True),
        ({"BOOL": False}, False),
        ({"NULL": True}, None),
        ({"M": {"a": {"N": "1"}, "b": {"L": []}}}, {"a": 1, "b": []}),
        ({"L": [{"S": "x"}, {"N": "2"}]}, ["x", 2]),
        ({"SS": ["a", "b"]}, {"a", "b"}),
        ({"NS": ["1", "2.5"]}, {1, Decimal("2.5")}),
        ({"BS": ["AA==", "AQ=="]}, {b"\x00", b"\x01"}),
    ],
)
def test_decodes_every_type_tag(value, expected):
    decoded = decode_value(value)
    assert decoded == expected
    assert type(decoded) is type(expected)


def test_numbers_keep_38_digits_and_never_become_float():
    big = "12345678901234567890123456789012345678"
    frac = "1234567890123456789.0123456789012345678"
    assert decode_value({"N": big}) == int(big)
    assert decode_value({"N": frac}) == Decimal(frac)
    assert str(decode_value({"N": frac})) == frac
    assert decode_value({"N": "-" + big}) == -int(big)


def test_sdk_style_value_with_all_tags_and_one_set_decodes_that_one():
    value = {"S": None, "N": "42", "B": None, "BOOL": None, "NULL": None, "M": None, "L": None,
             "SS": None, "NS": None, "BS": None}
    assert decode_value(value) == 42


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"Address": {"M": {"Zip": {"X": "1"}}}}, "NewImage.Address.Zip: unknown type tag 'X'"),
        ({"Age": {"N": "seventeen"}}, "NewImage.Age: N: invalid value 'seventeen'"),
        ({"Tags": {"L": [{"S": "a"}, {"S": 5}]}}, "NewImage.Tags[1]: S: invalid value 5"),
        ({"Pic": {"B": "not base64!"}}, "NewImage.Pic: B: invalid value 'not base64!'"),
        ({"Odd": {"S": "x", "N": "1"}},
         "NewImage.Odd: expected exactly one type tag, got 'S', 'N'"),
        ({"Raw": "plain"}, "NewImage.Raw: expected a typed attribute value, got str"),
        ({"Flag": {"BOOL": "yes"}}, "NewImage.Flag: BOOL: invalid value 'yes'"),
        ({"Inf": {"N": "Infinity"}}, "NewImage.Inf: N: invalid value 'Infinity'"),
        ({"Age": {"N": 17}}, "NewImage.Age: N: expected the number as a string (DynamoDB JSON "
                             "writes {\"N\": \"1.5\"}), got int 17"),
        ({"Age": {"N": 1.5}}, "NewImage.Age: N: expected the number as a string (DynamoDB JSON "
                              "writes {\"N\": \"1.5\"}), got float 1.5"),
        ({"Age": {"N": True}}, "NewImage.Age: N: expected the number as a string (DynamoDB "
                               "JSON writes {\"N\": \"1.5\"}), got BOOL True"),
        ({"Big": {"N": "1E+126"}}, "NewImage.Big: N: '1E+126' is not a DynamoDB number: "
                                   "DynamoDB numbers have at most 38 significant digits and a "
                                   "magnitude from 1E-130 to "
                                   "9.9999999999999999999999999999999999999E+125"),
        ({"Tags": {"SS": "abc"}}, "NewImage.Tags: SS: expected a list, got str"),
        ({"Tags": {"NS": ["1", "x"]}}, "NewImage.Tags[1]: NS: invalid value 'x'"),
        ({"Doc": {"M": [1]}}, "NewImage.Doc: M: expected a map, got list"),
        ({"Doc": {"L": "ab"}}, "NewImage.Doc: L: expected a list, got str"),
        ({"Name": {"S": "a\ud800"}}, "NewImage.Name: S: lone surrogate U+D800 at character 1: "
                                     "not valid Unicode, and MySQL's utf8mb4 cannot store it"),
        ({"Doc": {"M": {"k\udc00": {"S": "x"}}}},
         "NewImage.Doc.k\\udc00: map key: lone surrogate U+DC00 at character 1: not valid "
         "Unicode, and MySQL's utf8mb4 cannot store it"),
        ({"\ud800": {"S": "x"}}, "NewImage.\\ud800: attribute name: lone surrogate U+D800 at "
                                 "character 0: not valid Unicode, and MySQL's utf8mb4 cannot "
                                 "store it"),
    ],
)
def test_malformed_values_name_their_path(image, message):
    with pytest.raises(DecodeError) as caught:
        decode_image(image, "NewImage")
    assert str(caught.value) == message


def test_encode_matches_boto3_serializer():
    item = {"s": "x", "n": 17, "d": Decimal("1.25"), "b": True, "z": None,
            "m": {"k": [1, "a"]}, "ss": {"a", "b"}, "ns": {1, 2}}
    expected = {k: TypeSerializer().serialize(v) for k, v in item.items()}
    encoded = encode_image(item)
    for name in ("ss", "ns"):
        expected[name] = {t: sorted(v) for t, v in expected[name].items()}
    assert encoded == expected


def test_encode_binary_in_lambda_form_is_base64():
    assert encode_value(b"\x00\x01") == {"B": "AAE="}
    assert encode_value(b"\x00\x01", binary_as_base64=False) == {"B": b"\x00\x01"}


values = st.recursive(
    st.none() | st.booleans() | st.text() | st.binary()
    | st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6,
                  min_value=-(10**20), max_value=10**20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(min_size=1, max_size=5), children, max_size=4),
    max_leaves=12,
)


def _normal(value):
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


@given(values)
def test_decode_inverts_encode(value):
    assert decode_value(encode_value(value)) == _normal(value)


def test_decode_attributes_decodes_only_the_named_ones():
    image = {"PK": {"S": "U#1"}, "Id": {"N": "7"}, "Bad": {"N": "x"}}
    assert decode_attributes(image, ["Id", "PK", "Missing"]) == {"Id": 7, "PK": "U#1"}
    with pytest.raises(DecodeError, match=r"OldImage\.Bad: N: invalid value 'x'"):
        decode_attributes(image, ["Bad"])


def test_a_value_whose_tags_are_all_null_says_so():
    with pytest.raises(DecodeError) as caught:
        decode_image({"Age": {"S": None, "N": None}}, "NewImage")
    assert str(caught.value) == (
        "NewImage.Age: expected exactly one type tag, got only null ones ('S', 'N')")
