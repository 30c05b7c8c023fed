"""The VALUES text rendered for MySQL is byte-equal to PyMySQL's, and the server reads it
back as the same values; with NO_BACKSLASH_ESCAPES the sink binds through PyMySQL."""

import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from ddbproj.adapters import literals
from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.sink import SqlSink
from ddbproj.core import load_registry
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor

pytestmark = pytest.mark.mysql

SPECIALS = "\\\0\n\r\032'\"%"
values = (
    st.none()
    | st.text(alphabet=st.characters() | st.sampled_from(SPECIALS), max_size=12)
    | st.integers(-(2**70), 2**70)
    | st.booleans()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sampled_from([Decimal("-0"), Decimal("1E+5"), Decimal("0.000"), Decimal("-1.50")])
    | st.datetimes()
    | st.datetimes(timezones=st.just(datetime.UTC))
    | st.dates()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.binary(max_size=6)
)


@pytest.fixture(scope="module")
def driver(mysql_engine):
    raw = mysql_engine.raw_connection()
    yield raw.driver_connection
    raw.close()


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(1, 4).flatmap(
    lambda width: st.lists(st.tuples(*[values] * width), min_size=1, max_size=5)))
def test_rendered_text_is_what_pymysql_builds(driver, rows):
    placeholders = "(" + ",".join(["%s"] * len(rows[0])) + ")"
    cursor = driver.cursor()
    expected = "INSERT INTO t VALUES " + ",".join(
        cursor.mogrify(placeholders, row) for row in rows) + " ON DUPLICATE KEY UPDATE x"
    got = list(literals.statements("INSERT INTO t VALUES ", rows, " ON DUPLICATE KEY UPDATE x",
                                   driver.escape))
    assert got == [expected]


def test_long_batches_split_under_the_limit_and_keep_every_row_in_order():
    rows = [(i, f"name {i}") for i in range(100)]
    got = list(literals.statements("I ", rows, " T", repr, max_chars=120))
    assert len(got) > 1
    assert all(len(text) <= 120 for text in got)
    bodies = ",".join(text.removeprefix("I ").removesuffix(" T") for text in got)
    assert bodies == ",".join(f"({i},'name {i}')" for i in range(100))


def test_a_row_longer_than_the_limit_still_gets_its_own_statement():
    got = list(literals.statements("I ", [(1,), ("x" * 50,), (2,)], " T", repr, max_chars=20))
    assert got == ["I (1) T", "I ('" + "x" * 50 + "') T", "I (2) T"]


def test_the_server_reads_back_every_special_character(mysql_engine):
    texts = ["it's", 'say "hi"', "back\\slash", "nul\0byte", "line\nbreak\r", "ctrl\032z",
             "100%", "%s", "山田 🎉", "\\'", "'; DROP TABLE lit; --"]
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE lit (id INT PRIMARY KEY, body TEXT, "
                             "amount DECIMAL(20,4), at DATETIME(6))")
        driver = conn.connection.driver_connection
        rows = [(i, text, Decimal("-12.3400"), datetime.datetime(2024, 2, 29, 23, 59, 59, 5))
                for i, text in enumerate(texts)]
        for statement in literals.statements("INSERT INTO lit VALUES ", rows, "",
                                             driver.escape):
            conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
        got = conn.exec_driver_sql("SELECT id, body, amount, at FROM lit ORDER BY id").all()
    assert [tuple(row) for row in got] == rows


def test_no_backslash_escapes_mode_is_seen_and_the_sink_still_writes_exact_text(mysql_url):
    engine = make_engine(mysql_url)

    @sa.event.listens_for(engine, "connect")
    def _quotes_only(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        cursor.close()

    sink = SqlSink(engine, load_registry(["projections"]))
    sink.create_schema()
    name = "a\\b 'c' \"d\" \\'"
    try:
        with engine.connect() as conn:
            assert not literals.backslash_escapes(conn.connection.driver_connection)
        events = StreamEventBuilder()
        item = {"PK": "USER#901", "SK": "PROFILE", "entity_type": "User", "Id": 901,
                "Name": name, "Age": 1, "Height": 2, "Weight": 3}
        result = BatchProcessor(sink.registry, sink).process_event(
            events.event([events.insert(item)]))
        assert result.applied == 1
        with engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT name FROM users WHERE id = 901").scalar()
            conn.exec_driver_sql("DELETE FROM users WHERE id = 901")
            conn.commit()
        assert stored == name
    finally:
        engine.dispose()


def test_default_session_reads_backslash_escapes(driver):
    assert literals.backslash_escapes(driver)


#: Codecs in which a multi-byte character can hold byte 0x5C (the backslash).
BACKSLASH_CODECS = ("shift_jis", "cp932", "gbk", "big5")


def _holds_a_backslash_byte(char):
    for codec in BACKSLASH_CODECS:
        try:
            if b"\\" in char.encode(codec):
                return True
        except UnicodeEncodeError:
            pass
    return False


BACKSLASH_CHARS = [chr(cp) for cp in range(0x80, 0x10000)
                   if not 0xD800 <= cp < 0xE000 and _holds_a_backslash_byte(chr(cp))]
PAYLOADS = ["¥' OR 1=1 --", "¥'), (999, 'injected') -- ", "ソ' OR '1'='1",
            "表\\'; DROP TABLE lit; --",
            "¥\\'¥\\\\'", *(f"{char}' OR 1=1 -- {char}" for char in BACKSLASH_CHARS),
            "".join(BACKSLASH_CHARS) + "'"]


def test_the_backslash_characters_are_the_ones_that_make_the_attack():
    assert "¥" in BACKSLASH_CHARS  # 0x5C itself in Shift JIS
    assert "ソ".encode("shift_jis") == b"\x83\\"
    assert "表".encode("cp932") == b"\x95\\"
    assert len(BACKSLASH_CHARS) > 200


def test_text_with_backslash_bytes_in_other_charsets_round_trips_exactly(mysql_engine):
    rows = list(enumerate(PAYLOADS))
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE lit_charsets (id INT PRIMARY KEY, body TEXT)")
        driver = conn.connection.driver_connection
        assert driver.charset == "utf8mb4"
        for statement in literals.statements("INSERT INTO lit_charsets VALUES ", rows, "",
                                             driver.escape):
            conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
        rendered = conn.exec_driver_sql("SELECT id, body FROM lit_charsets ORDER BY id").all()
        conn.exec_driver_sql("DELETE FROM lit_charsets")
        cursor = driver.cursor()
        cursor.executemany("INSERT INTO lit_charsets VALUES (%s, %s)", rows)
        bound = conn.exec_driver_sql("SELECT id, body FROM lit_charsets ORDER BY id").all()
        conn.exec_driver_sql("DROP TEMPORARY TABLE lit_charsets")
    assert [tuple(row) for row in rendered] == rows
    assert [tuple(row) for row in bound] == rows


def test_a_connection_charset_where_escaping_is_unsafe_is_refused():
    with pytest.raises(ValueError, match=r"charset=sjis is not allowed.*remove it from the URL"):
        make_engine("mysql+pymysql://root@127.0.0.1:3306/test?charset=sjis")
