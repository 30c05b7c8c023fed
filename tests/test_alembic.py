"""infra/alembic: Alembic autogenerates the projectors' tables from their metadata, the
migration applies on MySQL, and afterwards neither Alembic nor ``schema --check`` sees drift.
Migrations ask the server for the key collation instead of naming this server's, and the
environment finds the database as the Lambda function does (a secret included)."""

import json
import pathlib
import uuid

import boto3
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from moto import mock_aws

from ddbproj.adapters.engine import make_engine, normalise_url
from ddbproj.adapters.schema import build_metadata, key_collation
from ddbproj.core import load_registry
from ddbproj.handlers.cli import main

pytestmark = pytest.mark.mysql

INFRA = pathlib.Path(__file__).resolve().parent.parent / "infra" / "alembic"


@pytest.fixture
def database(mysql_server_url, monkeypatch):
    name = f"ddbproj_alembic_{uuid.uuid4().hex[:10]}"
    admin = make_engine(mysql_server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = normalise_url(mysql_server_url).set(database=name).render_as_string(
        hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PROJECTIONS", "projections")
    yield url
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE `{name}`")
    admin.dispose()


def alembic_config(versions):
    config = Config(str(INFRA / "alembic.ini"))
    config.set_main_option("version_locations", str(versions))
    return config


def test_autogenerate_upgrade_and_no_drift_left(database, tmp_path, capsys):
    engine = make_engine(database)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE reports (id INT PRIMARY KEY)")  # not a projector's
    config = alembic_config(tmp_path)

    command.revision(config, message="projected tables", autogenerate=True, rev_id="0001")
    script = (tmp_path / "0001_projected_tables.py").read_text()
    assert "op.create_table('users'" in script
    assert "op.create_table('ddbproj_tomb_orders'" in script
    assert "reports" not in script  # tables no projector owns are left alone
    # MySQL 8 / Aurora MySQL 3 has no utf8mb4_nopad_bin: the server names its own
    assert "nopad" not in script
    assert "from ddbproj.adapters.schema import key_collation" in script
    assert script.count("mysql_collate=key_collation(op.get_bind())") == script.count(
        "op.create_table(") > 0

    command.upgrade(config, "head")

    with engine.connect() as conn:
        metadata = build_metadata(load_registry(["projections"]), collation=key_collation(conn))
        assert compare_metadata(MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": lambda name, type_, _: (
                type_ != "table" or name in metadata.tables)}), metadata) == []
        tables = set(conn.exec_driver_sql("SHOW TABLES").scalars())
        collations = dict(conn.exec_driver_sql(
            "SELECT table_name, table_collation FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name LIKE 'users%%'").all())
    engine.dispose()
    assert collations == {"users": "utf8mb4_nopad_bin"}  # MariaDB's name for binary, no pad
    assert {"users", "orders", "alembic_version", "reports"} <= tables
    capsys.readouterr()
    assert main(["schema", "--check", "--database-url", database]) == 0
    assert "tables match the registered projectors" in capsys.readouterr().out


def test_a_new_projector_field_becomes_an_add_column_migration(database, tmp_path, capsys):
    config = alembic_config(tmp_path)
    command.revision(config, message="base", autogenerate=True, rev_id="0001")
    command.upgrade(config, "head")
    engine = make_engine(database)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE users DROP COLUMN weight")
    engine.dispose()
    capsys.readouterr()
    assert main(["schema", "--check", "--database-url", database]) == 1
    assert "users.weight: column is missing" in capsys.readouterr().out

    command.revision(config, message="weight", autogenerate=True, rev_id="0002")
    script = (tmp_path / "0002_weight.py").read_text()
    assert ("op.add_column('users', sa.Column('weight', sa.BigInteger(), autoincrement=False, "
            "nullable=False))") in script
    command.upgrade(config, "head")
    assert main(["schema", "--check", "--database-url", database]) == 0


REGION = "eu-west-1"
PASSWORD = "pw-Al3mbic!'x"


@pytest.fixture
def secret_database(database, mysql_server_url, monkeypatch):
    """The test database reachable only through a Secrets Manager secret (moto) naming a
    user of its own; DATABASE_URL is unset, as in the deployed function."""
    name = sa.make_url(database).database
    user = f"alembic_{uuid.uuid4().hex[:8]}"
    admin = make_engine(mysql_server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        conn.exec_driver_sql(f"GRANT ALL ON `{name}`.* TO '{user}'@'%%'")
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = sa.make_url(mysql_server_url)
    try:
        with mock_aws():
            arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name="alembic-db", SecretString=json.dumps({
                    "username": user, "password": PASSWORD, "engine": "mysql",
                    "host": server.host, "port": server.port or 3306, "dbname": name}))["ARN"]
            monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
            yield name, user, admin
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
        admin.dispose()


def test_the_environment_connects_through_database_secret_arn(secret_database, tmp_path):
    name, _user, admin = secret_database
    config = alembic_config(tmp_path)
    command.revision(config, message="base", autogenerate=True, rev_id="0001")
    assert "op.create_table('users'" in (tmp_path / "0001_base.py").read_text()
    command.upgrade(config, "head")
    with admin.connect() as conn:
        tables = set(conn.exec_driver_sql(f"SHOW TABLES FROM `{name}`").scalars())
        version = conn.exec_driver_sql(f"SELECT version_num FROM `{name}`.alembic_version")
        assert version.scalar_one() == "0001"
    assert {"users", "orders", "ddbproj_dead_letters"} <= tables


def test_a_wrong_secret_is_what_the_environment_uses(secret_database, tmp_path, monkeypatch):
    name, user, _admin = secret_database
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="alembic-wrong", SecretString=json.dumps({
            "username": user, "password": "pw-wrong", "host": "127.0.0.1", "dbname": name}),
    )["ARN"]
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    with pytest.raises(sa.exc.OperationalError, match="Access denied"):
        command.revision(alembic_config(tmp_path), message="x", autogenerate=True)
