"""The local Lambda filter matcher, on cases taken from the AWS documentation's examples
("Control which events Lambda sends to your function", "Using event filtering with a
DynamoDB event source")."""

import json

import pytest

from ddbproj.core.filters import EventFilter, FilterPatternError, matches, validate_pattern

#: The documentation's DynamoDB stream record (table key CustomerName).
DOC_RECORD = {
    "eventID": "1",
    "eventVersion": "1.0",
    "dynamodb": {
        "ApproximateCreationDateTime": "1678831218.0",
        "Keys": {"CustomerName": {"S": "AnyCompany Industries"}},
        "NewImage": {
            "AccountManager": {"S": "Pat Candella"},
            "PaymentTerms": {"S": "60 days"},
            "CustomerName": {"S": "AnyCompany Industries"},
        },
        "SequenceNumber": "111",
        "SizeBytes": 26,
        "StreamViewType": "NEW_IMAGE",
    },
}

# (pattern, record, expected) — the operator table of the Lambda documentation, each with
# a record that matches and one that does not.
OPERATOR_CASES = [
    # Null: UserID is null
    ({"UserID": [None]}, {"UserID": None}, True),
    ({"UserID": [None]}, {"UserID": "u-1"}, False),
    ({"UserID": [None]}, {}, False),
    # Empty: LastName is empty
    ({"LastName": [""]}, {"LastName": ""}, True),
    ({"LastName": [""]}, {"LastName": "Doe"}, False),
    ({"LastName": [""]}, {"LastName": None}, False),
    # Equals: Name is "Alice" (exact, case-sensitive)
    ({"Name": ["Alice"]}, {"Name": "Alice"}, True),
    ({"Name": ["Alice"]}, {"Name": "alice"}, False),
    ({"Name": ["Alice"]}, {"Name": "Alice "}, False),
    # Equals (ignore case)
    ({"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "ALICE"}, True),
    ({"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "Alicia"}, False),
    # And: Location is "New York" and Day is "Monday"
    ({"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Monday"},
     True),
    ({"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York", "Day": "Tuesday"},
     False),
    ({"Location": ["New York"], "Day": ["Monday"]}, {"Location": "New York"}, False),
    # Or: PaymentType is "Credit" or "Debit"
    ({"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Debit"}, True),
    ({"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Cash"}, False),
    # Or (multiple fields): Location is "New York", or Day is "Monday"
    ({"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}, {"Day": "Monday"}, True),
    ({"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]},
     {"Location": "Boston", "Day": "Sunday"}, False),
    # Not: Weather is anything but "Raining"
    ({"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Sunny"}, True),
    ({"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Raining"}, False),
    ({"Weather": [{"anything-but": ["Raining"]}]}, {}, False),
    ({"Weather": [{"anything-but": "Raining"}]}, {"Weather": "Snowing"}, True),
    ({"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "eu-west-1"}, True),
    ({"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "us-east-1"}, False),
    # Numeric (equals): Price is 100
    ({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100}, True),
    ({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100.0}, True),
    ({"Price": [{"numeric": ["=", 100]}]}, {"Price": 101}, False),
    ({"Price": [{"numeric": ["=", 100]}]}, {"Price": "100"}, False),
    # Numeric (range): more than 10, at most 20
    ({"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, True),
    ({"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 10}, False),
    ({"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20.5}, False),
    ({"Price": [{"numeric": [">=", 0]}]}, {"Price": True}, False),
    # Exists / does not exist (leaf nodes only)
    ({"ProductName": [{"exists": True}]}, {"ProductName": "Chocolate"}, True),
    ({"ProductName": [{"exists": True}]}, {"ProductName": ""}, True),
    ({"ProductName": [{"exists": True}]}, {}, False),
    ({"ProductName": [{"exists": True}]}, {"ProductName": {"S": "x"}}, False),
    ({"ProductName": [{"exists": False}]}, {}, True),
    ({"ProductName": [{"exists": False}]}, {"ProductName": "Chocolate"}, False),
    ({"Item": {"ProductName": [{"exists": False}]}}, {}, True),
    # Begins with: Region is in the US
    ({"Region": [{"prefix": "us-"}]}, {"Region": "us-east-1"}, True),
    ({"Region": [{"prefix": "us-"}]}, {"Region": "eu-west-1"}, False),
    ({"Region": [{"prefix": "us-"}]}, {"Region": 5}, False),
    # Ends with: FileName ends with .png
    ({"FileName": [{"suffix": ".png"}]}, {"FileName": "photo.png"}, True),
    ({"FileName": [{"suffix": ".png"}]}, {"FileName": "photo.png.jpg"}, False),
    # Arrays in the record: any element may match
    ({"Tags": ["red"]}, {"Tags": ["blue", "red"]}, True),
    ({"Tags": ["red"]}, {"Tags": ["blue"]}, False),
    # Booleans match booleans only
    ({"Flag": [True]}, {"Flag": True}, True),
    ({"Flag": [True]}, {"Flag": 1}, False),
]


@pytest.mark.parametrize(("pattern", "record", "expected"), OPERATOR_CASES)
def test_operator_table(pattern, record, expected):
    assert matches(pattern, record) is expected


# The DynamoDB examples: filtering on Keys, on NewImage attributes, Boolean expressions and
# exists, always through the type wrapper.
DYNAMODB_CASES = [
    ({"dynamodb": {"Keys": {"CustomerName": {"S": ["AnyCompany Industries"]}}}}, True),
    ({"dynamodb": {"Keys": {"CustomerName": {"S": ["Other Company"]}}}}, False),
    ({"dynamodb": {"NewImage": {"AccountManager": {"S": ["Pat Candella"]}}}}, True),
    ({"dynamodb": {"NewImage": {"AccountManager": {"S": ["Pat Candella"]},
                                "PaymentTerms": {"S": ["60 days"]}}}}, True),
    ({"dynamodb": {"NewImage": {"AccountManager": {"S": ["Pat Candella"]},
                                "PaymentTerms": {"S": ["30 days"]}}}}, False),
    ({"dynamodb": {"NewImage": {"AccountManager": {"S": [{"exists": True}]}}}}, True),
    ({"dynamodb": {"NewImage": {"Discount": {"S": [{"exists": False}]}}}}, True),
    ({"dynamodb": {"NewImage": {"AccountManager": {"S": [{"exists": False}]}}}}, False),
    # the type wrapper is part of the path: an untyped pattern never matches
    ({"dynamodb": {"NewImage": {"AccountManager": ["Pat Candella"]}}}, False),
    # the wrong type tag does not match either
    ({"dynamodb": {"NewImage": {"AccountManager": {"N": ["Pat Candella"]}}}}, False),
    # REMOVE-style patterns on OldImage need an OldImage in the record
    ({"dynamodb": {"OldImage": {"AccountManager": {"S": ["Pat Candella"]}}}}, False),
    ({"dynamodb": {"Keys": {"CustomerName": {"S": [{"prefix": "AnyCompany"}]}}}}, True),
]


@pytest.mark.parametrize(("pattern", "expected"), DYNAMODB_CASES)
def test_dynamodb_documentation_examples(pattern, expected):
    assert matches(pattern, DOC_RECORD) is expected


def test_numeric_never_matches_a_dynamodb_number_because_it_is_a_string():
    record = {"dynamodb": {"NewImage": {"quantity": {"N": "50"}}}}
    assert not matches({"dynamodb": {"NewImage": {"quantity": {"N": [{"numeric": [">", 0]}]}}}},
                       record)
    assert matches({"dynamodb": {"NewImage": {"quantity": {"N": ["50"]}}}}, record)


def test_filters_are_ored_and_an_empty_filter_admits_everything():
    criteria = {"Filters": [
        {"Pattern": json.dumps({"dynamodb": {"Keys": {"CustomerName": {"S": ["Nobody"]}}}})},
        {"Pattern": json.dumps({"dynamodb": {"NewImage": {"PaymentTerms": {"S": ["60 days"]}}}})},
    ]}
    event_filter = EventFilter.from_criteria(criteria)
    other = {"dynamodb": {"Keys": {"CustomerName": {"S": "Else"}}}}
    assert event_filter.admits(DOC_RECORD)
    assert not event_filter.admits(other)
    assert event_filter.split([other, DOC_RECORD, other]) == ([DOC_RECORD], [other, other])
    assert EventFilter().admits(other)


@pytest.mark.parametrize(("criteria", "message"), [
    ({}, "FilterCriteria has no 'Filters' list"),
    ({"Filters": [{"Pattern": "{"}]}, "Filters[0].Pattern is not JSON"),
    ({"Filters": [{"Pattern": '{"a": "b"}'}]},
     "Filters[0].a: expected an object or a list of values, got str"),
    ({"Filters": [{"Pattern": '{"a": []}'}]}, "Filters[0].a: an empty list matches nothing"),
    ({"Filters": [{"Pattern": '{"a": [{"begins-with": "x"}]}'}]},
     "Filters[0].a: unknown operator 'begins-with'"),
    ({"Filters": [{"Pattern": '{"a": [{"numeric": [">", "1"]}]}'}]},
     "Filters[0].a: numeric term '>' '1' is not valid"),
    ({"Filters": [{"Pattern": '{"a": [{"exists": "yes"}]}'}]},
     "Filters[0].a: exists takes true or false"),
])
def test_patterns_lambda_would_reject_are_errors_naming_the_path(criteria, message):
    with pytest.raises(FilterPatternError) as error:
        EventFilter.from_criteria(criteria)
    assert str(error.value).startswith(message)


def test_validate_pattern_accepts_every_documented_operator():
    for pattern, _record, _expected in OPERATOR_CASES:
        validate_pattern(pattern)
