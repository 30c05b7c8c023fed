"""The ddbproj pytest plugin (entry point ``pytest11``): a throwaway MySQL database per
session and helpers to run stream events through projectors.

Server discovery (DESIGN.md "Tests and servers"): a testcontainers MySQL 8 container when
a Docker daemon answers; else ``TEST_DATABASE_URL``; else the local server on
127.0.0.1:3306. Each session creates its own uniquely named database and drops it after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.engine import make_engine, normalise_url
from adapters.sink import SqlSink
from core.events import StreamEventBuilder
from core.loading import load_registry
from core.registry import ProjectorRegistry
from handlers.processor import BatchProcessor

LOCAL_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306/"


def _docker_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def mysql_server_url() -> Iterator[str]:
    """URL of a MySQL-compatible server (no database selected)."""
    if _docker_answers():
        from testcontainers.mysql import MySqlContainer

        with MySqlContainer("mysql:8.0", dialect="pymysql") as container:
            yield normalise_url(container.get_connection_url()).set(database=None).render_as_string(
                hide_password=False
            )
        return
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_SERVER_URL
    yield normalise_url(url).set(database=None).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def mysql_url(mysql_server_url: str) -> Iterator[str]:
    """A fresh, uniquely named database on the test server, dropped after the session."""
    name = f"ddbproj_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(mysql_server_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    except sa.exc.OperationalError as error:
        raise RuntimeError(
            f"no MySQL server for the integration tests at {mysql_server_url}: run "
            "'make mysql' (starts or installs one), start Docker, or set TEST_DATABASE_URL"
        ) from error
    try:
        yield normalise_url(mysql_server_url).set(database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def projection_registry() -> ProjectorRegistry:
    """The projectors named by ``PROJECTIONS`` (default: the ``projections`` package).
    Override this fixture to test other projectors."""
    names = os.environ.get("PROJECTIONS", "projections").split(",")
    return load_registry([n for n in names if n.strip()])


@pytest.fixture
def projection_db(mysql_engine: sa.Engine, projection_registry: ProjectorRegistry) -> SqlSink:
    """A SQL sink on the test database with the projectors' tables created and emptied."""
    sink = SqlSink(mysql_engine, projection_registry)
    sink.create_schema()
    with mysql_engine.begin() as conn:
        for table in reversed(sink.metadata.sorted_tables):
            conn.execute(table.delete())
    return sink


@pytest.fixture
def projector_runner(projection_db: SqlSink) -> ProjectionRunner:
    """Runs events through the projectors into the test database and reads rows back."""
    return ProjectionRunner(projection_db)


@pytest.fixture
def stream_events() -> StreamEventBuilder:
    """Builds Lambda DynamoDB stream records with increasing sequence numbers."""
    return StreamEventBuilder()


class ProjectionRunner:
    """What a projector test needs: apply an event, read a table as dicts."""

    def __init__(self, sink: SqlSink) -> None:
        self.sink = sink
        self.processor = BatchProcessor(sink.registry, sink)

    def apply(self, event: Any) -> Any:
        return self.processor.process_event(event)

    def rows(self, table: str, *, with_sequence: bool = False) -> list[dict[str, Any]]:
        """Rows of ``table`` ordered by primary key, as dicts."""
        sa_table = self.sink.table(table)
        order = list(sa_table.primary_key.columns) or list(sa_table.columns)
        with self.sink.engine.connect() as conn:
            rows = conn.execute(sa.select(sa_table).order_by(*order)).mappings().all()
        result = [dict(row) for row in rows]
        if not with_sequence:
            for row in result:
                row.pop("ddbproj_seq", None)
        return result
