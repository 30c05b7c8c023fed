import datetime
from decimal import Decimal

import attrs
from hypothesis import given
from hypothesis import strategies as st

from ddbproj.core import jsontext
from projections.orders import Address, OrderLine

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4,
                       min_value=-(10**12), max_value=10**12)
texts = st.text(max_size=8)
lines = st.builds(OrderLine, sku=texts, quantity=st.integers(-(2**70), 2**70),
                  unit_price=decimals)
addresses = st.builds(Address, street=texts, city=texts, zip=texts)


@attrs.frozen
class Nested:
    name: str
    maybe: Decimal | None
    tags: frozenset[str]
    scores: dict[str, int]
    lines: list[OrderLine]
    anything: object = None


nested = st.builds(
    Nested, name=texts, maybe=st.none() | decimals, tags=st.frozensets(texts, max_size=4),
    scores=st.dictionaries(texts, st.integers(), max_size=4), lines=st.lists(lines, max_size=3),
    anything=st.none() | st.integers() | st.just(datetime.date(2024, 1, 2)),
)


@given(st.lists(lines, max_size=5), addresses, nested)
def test_compiled_writers_write_what_dumps_writes(order_lines, address, value):
    assert jsontext.writer_for(list[OrderLine])(order_lines) == jsontext.dumps(order_lines)
    assert jsontext.writer_for(Address)(address) == jsontext.dumps(address)
    assert jsontext.writer_for(Nested)(value) == jsontext.dumps(value)
    assert jsontext.loads(jsontext.writer_for(Nested)(value))["name"] == value.name


def test_decimals_keep_every_digit():
    line = OrderLine("a", 1, Decimal("12345678901234567890.1234567890123456789"))
    assert jsontext.writer_for(OrderLine)(line) == (
        '{"quantity":1,"sku":"a","unit_price":12345678901234567890.1234567890123456789}')
    assert jsontext.dumps(Decimal("1E+3")) == "1000"
