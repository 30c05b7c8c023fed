"""``ddbproj schema``: DDL per dialect, --apply, and --check against a live MySQL."""

import uuid

import pytest

from ddbproj.adapters.engine import make_engine, normalise_url
from ddbproj.handlers.cli import main


@pytest.fixture
def empty_database(mysql_server_url):
    """A database of its own: drift is made here, never in the shared test database."""
    name = f"ddbproj_schema_{uuid.uuid4().hex[:10]}"
    admin = make_engine(mysql_server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = normalise_url(mysql_server_url).set(database=name)
    engine = make_engine(url)
    yield url.render_as_string(hide_password=False), engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE `{name}`")
    admin.dispose()


def schema(*args):
    return main(["schema", "--projections", "projections", *args])


def test_mysql_ddl_keeps_exact_types_and_binary_keys(capsys):
    assert schema() == 0
    out = capsys.readouterr().out
    users = out[out.index("CREATE TABLE users"):]
    users = users[:users.index(";")]
    assert "\tid BIGINT NOT NULL, \n" in users
    assert "\tname MEDIUMTEXT NOT NULL, \n" in users
    assert "\tddbproj_seq NUMERIC(40, 0) NOT NULL, \n" in users
    assert "COLLATE utf8mb4_0900_bin" in users
    assert "\ttotal NUMERIC(14, 2) NOT NULL, \n" in out
    assert "\tplaced_at DATETIME(6) NOT NULL, \n" in out


def test_other_dialects(capsys):
    assert schema("--dialect", "mariadb") == 0
    assert "COLLATE utf8mb4_nopad_bin" in capsys.readouterr().out
    assert schema("--dialect", "sqlite") == 0
    out = capsys.readouterr().out
    assert "\ttotal VARCHAR(80) NOT NULL, \n" in out  # exact digits as text on SQLite
    assert "COLLATE" not in out


@pytest.mark.mysql
def test_check_reports_missing_tables_then_passes_after_apply(empty_database, capsys):
    url, _ = empty_database
    assert schema("--check", "--database-url", url) == 1
    out = capsys.readouterr().out
    assert "  users: table is missing\n" in out
    assert "  ddbproj_tomb_orders: table is missing\n" in out
    assert "'ddbproj schema --apply' creates the missing tables" in out

    assert schema("--apply", "--database-url", url) == 0
    assert "created: orders, ddbproj_tomb_orders, users" in capsys.readouterr().out
    assert schema("--check", "--database-url", url) == 0
    assert "tables match the registered projectors" in capsys.readouterr().out


@pytest.mark.mysql
def test_check_names_each_drifted_column(empty_database, capsys):
    url, engine = empty_database
    assert schema("--apply", "--database-url", url) == 0
    with engine.begin() as conn:
        for statement in (
            "ALTER TABLE users DROP COLUMN weight",
            "ALTER TABLE users MODIFY age VARCHAR(20) NOT NULL",
            "ALTER TABLE users MODIFY name MEDIUMTEXT NULL",
            "ALTER TABLE users ADD COLUMN legacy INT NOT NULL",
            "ALTER TABLE orders MODIFY total DECIMAL(10, 2) NOT NULL",
            "ALTER TABLE orders MODIFY note MEDIUMTEXT NOT NULL",
            "ALTER TABLE orders MODIFY placed_at DATETIME NOT NULL",
            "ALTER TABLE orders MODIFY order_id VARCHAR(64) COLLATE utf8mb4_general_ci NOT NULL",
        ):
            conn.exec_driver_sql(statement)
    capsys.readouterr()

    assert schema("--check", "--database-url", url) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(": 8 differences from the registered projectors")
    assert "?charset" not in lines[0]
    assert sorted(line.strip() for line in lines[1:9]) == [
        "orders.note: is NOT NULL, but the projector writes NULL when the attribute is absent",
        "orders.order_id: collation is utf8mb4_general_ci, expected utf8mb4_nopad_bin (keys "
        "must compare as DynamoDB compares them: binary, trailing spaces significant)",
        "orders.placed_at: type is DATETIME, expected DATETIME(6)",
        "orders.total: type is DECIMAL(10, 2), expected NUMERIC(14, 2)",
        "users.age: type is VARCHAR(20), expected BIGINT",
        "users.legacy: is NOT NULL without a default and not written by the projector: every "
        "insert would fail",
        "users.name: allows NULL, expected NOT NULL",
        "users.weight: column is missing (expected BIGINT NOT NULL)",
    ]
    assert lines[-1] == "change existing tables with a migration (infra/alembic shows how)"


@pytest.mark.mysql
def test_check_sees_a_different_primary_key(empty_database, capsys):
    url, engine = empty_database
    assert schema("--apply", "--database-url", url) == 0
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE users DROP PRIMARY KEY, ADD PRIMARY KEY (id, age)")
    capsys.readouterr()
    assert schema("--check", "--database-url", url) == 1
    assert "  users: primary key is (id, age), expected (id)\n" in capsys.readouterr().out


def test_an_unreachable_database_is_one_line_and_exit_2(capsys):
    url = "mysql+pymysql://root@127.0.0.1:1/nowhere?connect_timeout=2"
    assert schema("--check", "--database-url", url) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("ddbproj schema: error: cannot read the schema of "
                                   "mysql+pymysql://root@127.0.0.1:1/nowhere")
    assert "Traceback" not in captured.err
    assert captured.out == ""
