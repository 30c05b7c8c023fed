"""The session ddbproj's engines open is set in the connection handshake itself: whatever
the server's global sql_mode, init_connect or character set, schema creation and batches
run with a strict, UTC, utf8mb4 session and identifiers quoted with backquotes."""

import datetime
import uuid
from decimal import Decimal

import pymysql
import pytest
import sqlalchemy as sa

from ddbproj.adapters.engine import (
    SESSION_SQL_MODE,
    UnsafeConnectionSetting,
    make_engine,
    normalise_url,
)
from ddbproj.adapters.sink import SqlSink
from ddbproj.core import load_registry
from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers.processor import BatchProcessor

HOSTILE_SQL_MODE = ("ANSI_QUOTES,NO_BACKSLASH_ESCAPES,PAD_CHAR_TO_FULL_LENGTH,NO_ZERO_DATE,"
                    "NO_ZERO_IN_DATE,ONLY_FULL_GROUP_BY,PIPES_AS_CONCAT,IGNORE_SPACE,"
                    "REAL_AS_FLOAT,NO_UNSIGNED_SUBTRACTION,HIGH_NOT_PRECEDENCE")
PASSWORD = "pw-Ch4rset!x"
TRICKY = "it's \\ \"q\" ¥' OR 1=1 -- ソ表"


@pytest.mark.parametrize("charset", ["sjis", "cp932", "gbk", "big5", "latin1", "utf8", "SJIS"])
def test_a_charset_other_than_utf8mb4_in_the_url_is_refused(charset):
    with pytest.raises(ValueError, match=r"charset=\w+ is not allowed") as raised:
        make_engine(f"mysql+pymysql://app:{PASSWORD}@db.example:3306/app?charset={charset}")
    assert isinstance(raised.value, UnsafeConnectionSetting)
    assert "URL parameter" in str(raised.value)
    assert "remove it from the URL" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_utf8mb4_in_the_url_is_accepted_and_the_handshake_always_says_utf8mb4():
    for url in ("mysql://app@db.example/app", "mysql://app@db.example/app?charset=UTF8MB4"):
        engine = make_engine(url)
        _args, params = engine.dialect.create_connect_args(engine.url)
        assert engine.url.query == {"charset": "utf8mb4"}
        engine.dispose()
    assert params["charset"] == "utf8mb4"


@pytest.mark.parametrize(("args", "name"), [
    ({"charset": "gbk"}, "charset"),
    ({"init_command": "SET NAMES big5"}, "init_command"),
    ({"sql_mode": "ANSI_QUOTES"}, "sql_mode"),
])
def test_connect_args_that_would_replace_the_session_are_refused(args, name):
    with pytest.raises(UnsafeConnectionSetting, match=f"connect argument {name}="):
        make_engine("mysql+pymysql://app@db.example/app", connect_args=args)


def test_an_init_command_in_the_url_is_refused_without_echoing_it():
    with pytest.raises(UnsafeConnectionSetting, match=r"init_command=\.\.\. is not allowed"):
        make_engine(f"mysql://app:{PASSWORD}@h/app?init_command=SET+@x%3D'{PASSWORD}'")


def session_of(engine):
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@character_set_client, "
            "@@character_set_connection, @@character_set_results").one()
    return tuple(row)


EXPECTED_SESSION = (
    # the server lists modes in its own order
    "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
    "+00:00", "utf8mb4", "utf8mb4", "utf8mb4")


def test_the_expected_session_is_the_engine_s_sql_mode():
    assert set(EXPECTED_SESSION[0].split(",")) == set(SESSION_SQL_MODE.split(","))


@pytest.fixture
def fresh_database(mysql_server_url):
    """An empty database of its own: schema creation is part of what is tested."""
    name = f"ddbproj_session_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(mysql_server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name, admin
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def user(i, name):
    return {"PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User", "Id": i,
            "Name": name, "Age": 30, "Height": 170, "Weight": 60}


def order(i):
    return {"PK": f"ORDER#o-{i}", "SK": "ORDER", "entity_type": "Order", "OrderId": f"o-{i}",
            "CustomerId": i, "Total": Decimal("12345678.91"), "Status": "PAID",
            "PlacedAt": "2024-07-20T12:30:23.000001+09:00",
            "ShippingAddress": {"street": "1-1", "city": "東京", "zip": "100-0001"},
            "Lines": [{"sku": "A", "quantity": 2, "unit_price": Decimal("0.10")}]}


def project_a_batch(engine):
    """Schema creation and one batch through the sink and processor, read back."""
    sink = SqlSink(engine, load_registry(["projections"]))
    created = sink.create_schema()
    events = StreamEventBuilder()
    processor = BatchProcessor(sink.registry, sink)
    result = processor.process_event(events.event([
        events.insert(user(1, TRICKY)), events.insert(user(2, "two")),
        events.insert(order(1)), events.remove(user(2, "two")),
    ]))
    with engine.connect() as conn:
        users = conn.execute(sa.text("SELECT id, name FROM users ORDER BY id")).all()
        orders = conn.execute(sa.text("SELECT order_id, total, placed_at FROM orders")).all()
    return created, result, [tuple(r) for r in users], [tuple(r) for r in orders]


def check_projected(created, result, users, orders):
    assert {"users", "orders", "ddbproj_tomb_users"} <= set(created)
    assert result.ok, result.error
    assert result.applied == 4
    assert users == [(1, TRICKY)]
    assert orders == [("o-1", Decimal("12345678.91"),
                       datetime.datetime(2024, 7, 20, 3, 30, 23, 1))]


@pytest.mark.mysql
def test_a_hostile_global_sql_mode_does_not_reach_the_session(fresh_database, mysql_server_url):
    name, admin = fresh_database
    url = normalise_url(mysql_server_url).set(database=name)
    with admin.connect() as conn:
        previous = conn.exec_driver_sql("SELECT @@GLOBAL.sql_mode").scalar_one()
    engine = make_engine(url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SET GLOBAL sql_mode = '{HOSTILE_SQL_MODE}'")
        # the global value is what a connection without ddbproj's session gets
        plain = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username,
                                password=url.password or "", database=name)
        with plain.cursor() as cursor:
            cursor.execute("SELECT @@SESSION.sql_mode")
            assert "ANSI_QUOTES" in cursor.fetchone()[0]
        plain.close()
        # every connection here is new: the engine has not connected before
        assert session_of(engine) == EXPECTED_SESSION
        assert engine.dialect._server_ansiquotes is False
        check_projected(*project_a_batch(engine))
        raw = engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            cursor.execute("SELECT @@SESSION.sql_mode")
            assert cursor.fetchone()[0] == EXPECTED_SESSION[0]
        finally:
            raw.close()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("SET GLOBAL sql_mode = %s", (previous,))


@pytest.fixture
def plain_user(fresh_database):
    """A user without SUPER (the server runs init_connect only for such users)."""
    database, admin = fresh_database
    name = f"sess_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        conn.exec_driver_sql(f"GRANT ALL ON `{database}`.* TO '{name}'@'%%'")
    yield name, database, admin
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")


@pytest.mark.mysql
def test_a_server_init_connect_cannot_change_the_session(plain_user, mysql_server_url):
    name, database, admin = plain_user
    url = normalise_url(mysql_server_url).set(username=name, password=PASSWORD,
                                              database=database)
    with admin.connect() as conn:
        previous = conn.exec_driver_sql("SELECT @@GLOBAL.init_connect").scalar_one()
    engine = make_engine(url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SET GLOBAL init_connect = 'SET NAMES sjis; SET SESSION sql_mode = "
                "''ANSI_QUOTES,NO_BACKSLASH_ESCAPES''; SET time_zone = ''+09:00'''")
        plain = pymysql.connect(host=url.host, port=url.port or 3306, user=name,
                                password=PASSWORD, database=database, charset="utf8mb4")
        with plain.cursor() as cursor:
            cursor.execute("SELECT @@SESSION.sql_mode, @@SESSION.time_zone")
            assert cursor.fetchone() == ("ANSI_QUOTES,NO_BACKSLASH_ESCAPES", "+09:00")
        plain.close()
        assert session_of(engine) == EXPECTED_SESSION
        check_projected(*project_a_batch(engine))
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("SET GLOBAL init_connect = %s", (previous,))
