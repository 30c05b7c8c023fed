"""The ddbproj pytest plugin (entry point ``pytest11``): a throwaway MySQL database per
session, emptied tables per test, and helpers to run stream events through projectors.

A projector test needs nothing else::

    def test_adult(projector_runner):
        projector_runner.apply(insert(User(1, "yuuchan", 17, 170, 50)))
        assert projector_runner.rows("users") == [{"id": 1, "name": "yuuchan", ...}]

Server discovery (DESIGN.md "Tests and servers"): a testcontainers MySQL 8 container when
a Docker daemon answers; else ``TEST_DATABASE_URL``; else the local server on
127.0.0.1:3306. Each session creates its own uniquely named database and drops it after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.engine import make_engine, normalise_url
from adapters.schema import DEAD_LETTERS, SEQ_COLUMN
from adapters.sink import SqlSink
from core import jsontext
from core.columns import ColumnKind
from core.events import Change, StreamEventBuilder, reset_builder, use_builder
from core.loading import load_registry
from core.registry import ProjectorRegistry
from handlers.processor import BatchProcessor, BatchResult

__all__ = ["ProjectionRunner"]

LOCAL_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306/"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mysql: needs the MySQL-compatible test server")
    config.addinivalue_line(
        "markers",
        "projections(*modules): the projector modules or packages a test runs "
        "(default: $PROJECTIONS, else the 'projections' package, plus installed entry points)",
    )


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
def projection_registry(request: pytest.FixtureRequest) -> ProjectorRegistry:
    """The projectors under test: the modules named by the nearest
    ``@pytest.mark.projections("pkg.module", ...)``; else, as the Lambda handler loads
    them, ``PROJECTIONS`` (default: the ``projections`` package) and the installed
    ``ddbproj.projections`` entry points. Override this fixture for anything else."""
    marker = request.node.get_closest_marker("projections")
    if marker is not None:
        return load_registry(list(marker.args), entry_points=False)
    names = os.environ.get("PROJECTIONS", "projections").split(",")
    return load_registry([n for n in names if n.strip()])


@pytest.fixture
def projection_db(mysql_engine: sa.Engine, projection_registry: ProjectorRegistry) -> SqlSink:
    """A SQL sink on the test database with the projectors' tables created and emptied:
    every test starts from empty tables, tombstones and dead letters."""
    sink = SqlSink(mysql_engine, projection_registry)
    sink.create_schema()
    with mysql_engine.begin() as conn:
        for table in reversed(sink.metadata.sorted_tables):
            conn.execute(table.delete())
    return sink


@pytest.fixture(autouse=True)
def _ddbproj_event_builder() -> Iterator[StreamEventBuilder]:
    """One sequence counter per test, shared by ``stream_event``, ``stream_events`` and
    ``projector_runner``, so the numbers are the same on every run and always increase."""
    builder = StreamEventBuilder()
    token = use_builder(builder)
    yield builder
    reset_builder(token)


@pytest.fixture
def stream_events(
    _ddbproj_event_builder: StreamEventBuilder, projection_registry: ProjectorRegistry
) -> StreamEventBuilder:
    """Builds Lambda DynamoDB stream records with increasing sequence numbers; attrs
    objects are encoded through the projectors under test."""
    _ddbproj_event_builder.registry = projection_registry
    return _ddbproj_event_builder


@pytest.fixture
def projector_runner(projection_db: SqlSink, stream_events: StreamEventBuilder) -> ProjectionRunner:
    """Runs events through the projectors into the test database and reads rows back."""
    return ProjectionRunner(projection_db, stream_events)


class ProjectionRunner:
    """What a projector test needs: apply changes as the Lambda handler would, read a table
    as dicts of exact values."""

    def __init__(self, sink: SqlSink, events: StreamEventBuilder | None = None) -> None:
        self.sink = sink
        self.events = events or StreamEventBuilder(registry=sink.registry)
        self.processor = BatchProcessor(sink.registry, sink)

    def apply(self, *changes: Change | Mapping[str, Any], expect_ok: bool = True) -> BatchResult:
        """Process one batch: a Lambda event (``stream_event(...)``), or changes
        (``insert(obj)``, ...) and records that this call wraps into one event.

        A batch that failed as a whole (the database refused it) fails the test unless
        ``expect_ok=False``; dead letters do not (read them with ``dead_letters()``)."""
        if len(changes) == 1 and isinstance(changes[0], Mapping) and "Records" in changes[0]:
            event: Any = changes[0]
        else:
            event = self.events.stream_event(*changes)
        result = self.processor.process_event(event)
        if expect_ok and not result.ok:
            raise AssertionError(f"the batch failed, nothing of it committed: {result.error}")
        return result

    def rows(self, table: str, *, with_sequence: bool = False) -> list[dict[str, Any]]:
        """Rows of ``table`` ordered by primary key, as dicts of exact values: JSON columns
        parsed (numbers as ``Decimal``/``int``), decimals as ``Decimal``, times as naive
        UTC ``datetime``; ``ddbproj_seq`` as an ``int`` when ``with_sequence``."""
        sa_table = self.sink.table(table)
        kinds = _column_kinds(self.sink.registry, table)
        columns = [
            sa.type_coerce(c, sa.Text()).label(c.name) if kinds.get(c.name) is ColumnKind.JSON
            else c
            for c in sa_table.columns
            if with_sequence or c.name != SEQ_COLUMN
        ]
        order = list(sa_table.primary_key.columns) or list(sa_table.columns)
        with self.sink.engine.connect() as conn:
            result = conn.execute(sa.select(*columns).order_by(*order)).mappings().all()
        return [
            {name: _exact(value, kinds.get(name), name) for name, value in row.items()}
            for row in result
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        """Dead letters in the order they were stored: ``error``, ``entity_type``,
        ``sequence_number``, ``raw_record``, ..."""
        table = self.sink.table(DEAD_LETTERS)
        with self.sink.engine.connect() as conn:
            result = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
        letters = []
        for row in result:
            letter = dict(row)
            if letter["sequence_number"] is not None:
                letter["sequence_number"] = int(letter["sequence_number"])
            letter["raw_record"] = jsontext.loads(letter["raw_record"])
            letters.append(letter)
        return letters


def _column_kinds(registry: ProjectorRegistry, table: str) -> dict[str, ColumnKind]:
    compiled = registry.tables().get(table)
    return {c.name: c.kind for c in compiled.columns} if compiled else {}


def _exact(value: Any, kind: ColumnKind | None, name: str) -> Any:
    """Undo what a driver or SQLite makes of exact values."""
    if value is None:
        return None
    if name == SEQ_COLUMN:
        return int(value)
    if kind is ColumnKind.JSON:
        return jsontext.loads(value)
    if kind is ColumnKind.DECIMAL and isinstance(value, str | int):
        return Decimal(str(value))
    return value
