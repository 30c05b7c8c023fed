import datetime
import enum
from decimal import Decimal

import attrs
import pytest

from ddbproj.core import Projector, ProjectorRegistry, pascal_case


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Inner:
    zip: str


@attrs.frozen
class Thing:
    id: int
    price: Decimal
    ratio: float
    name: str
    active: bool
    blob: bytes
    at: datetime.datetime
    day: datetime.date
    color: Color
    inner: Inner
    tags: list[str]
    codes: frozenset[int]
    extra: dict[str, int]
    note: str | None = None


class ThingProjector(Projector[Thing]):
    entity_type = "Thing"
    model = Thing
    table = "things"
    key = ("id",)
    attribute_names = pascal_case


@pytest.fixture
def compiled():
    registry = ProjectorRegistry()
    registry.register(ThingProjector)
    return registry.get("Thing")


GOOD = {
    "Id": 7, "Price": Decimal("12.50"), "Ratio": 1, "Name": "n", "Active": True,
    "Blob": b"\x01", "At": "2024-01-02T03:04:05.123456+09:00", "Day": "2024-01-02",
    "Color": "red", "Inner": {"zip": "100"}, "Tags": ["a"], "Codes": {1, 2},
    "Extra": {"a": 1}, "entity_type": "Thing", "PK": "THING#7",
}


def test_structures_every_supported_type(compiled):
    thing = compiled.structure(GOOD)
    assert thing == Thing(
        id=7, price=Decimal("12.50"), ratio=1.0, name="n", active=True, blob=b"\x01",
        at=datetime.datetime(2024, 1, 1, 18, 4, 5, 123456, tzinfo=datetime.UTC),
        day=datetime.date(2024, 1, 2), color=Color.RED, inner=Inner("100"), tags=["a"],
        codes=frozenset({1, 2}), extra={"a": 1}, note=None,
    )
    assert type(thing.ratio) is float


def test_epoch_seconds_become_utc_datetimes(compiled):
    thing = compiled.structure({**GOOD, "At": Decimal("1700000000.25")})
    assert thing.at == datetime.datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Id": "seventeen"}, "attribute 'Id': expected a number, got S \"seventeen\""),
        ({"Id": Decimal("1.5")}, "attribute 'Id': expected an integer, got N 1.5"),
        ({"Name": 5}, "attribute 'Name': expected a string, got N 5"),
        ({"Active": 1}, "attribute 'Active': expected a boolean, got N 1"),
        ({"Color": "green"}, "attribute 'Color': expected one of 'red', 'blue', got S \"green\""),
        ({"At": "yesterday"},
         "attribute 'At': expected an ISO-8601 timestamp, got S \"yesterday\""),
        ({"Inner": {"zip": 100}}, "attribute 'Inner.zip': expected a string, got N 100"),
        ({"Tags": ["a", 2]}, "attribute 'Tags[1]': expected a string, got N 2"),
    ],
)
def test_errors_name_the_dynamodb_attribute_and_what_was_expected(compiled, change, message):
    with pytest.raises(ValueError, match=r".") as caught:
        compiled.structure({**GOOD, **change})
    assert str(caught.value) == message


def test_missing_attribute_is_named(compiled):
    image = dict(GOOD)
    del image["Price"]
    with pytest.raises(ValueError, match=r".") as caught:
        compiled.structure(image)
    assert str(caught.value) == "attribute 'Price': required attribute is missing"


def test_row_is_sql_ready(compiled):
    row = compiled.row_of(compiled.structure(GOOD))
    names = [c.name for c in compiled.columns]
    values = dict(zip(names, row, strict=True))
    assert values["at"] == datetime.datetime(2024, 1, 1, 18, 4, 5, 123456)
    assert values["color"] == "red"
    assert values["inner"] == '{"zip":"100"}'
    assert values["codes"] == "[1,2]"
    assert values["price"] == Decimal("12.50")
