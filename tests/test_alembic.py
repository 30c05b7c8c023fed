"""infra/alembic: Alembic autogenerates the projectors' tables from their metadata, the
migration applies on MySQL, and afterwards neither Alembic nor ``schema --check`` sees drift."""

import pathlib
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from adapters.engine import make_engine, normalise_url
from adapters.schema import build_metadata, key_collation
from core import load_registry
from handlers.cli import main

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

    command.upgrade(config, "head")

    with engine.connect() as conn:
        metadata = build_metadata(load_registry(["projections"]), collation=key_collation(conn))
        assert compare_metadata(MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": lambda name, type_, _: (
                type_ != "table" or name in metadata.tables)}), metadata) == []
        tables = set(conn.exec_driver_sql("SHOW TABLES").scalars())
    engine.dispose()
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
