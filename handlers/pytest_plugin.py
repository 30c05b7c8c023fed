"""The ddbproj pytest plugin (entry point ``pytest11``): a throwaway MySQL database per
session, emptied tables per test, and helpers to run stream events through projectors.

A projector test needs nothing else::

    def test_adult(projector_runner):
        projector_runner.apply(insert(User(1, "yuuchan", 17, 170, 50)))
        assert projector_runner.rows("users") == [{"id": 1, "name": "yuuchan", ...}]

The server (``choose_server``, shared with ``tests/ensure-mysql.sh`` through
``python -m ddbproj.handlers.pytest_plugin --which``): ``TEST_DATABASE_URL`` when set; else a
testcontainers MySQL (image ``$DDBPROJ_TEST_MYSQL_IMAGE``, default ``mysql:8.0``) when a
Docker engine answers at ``DOCKER_HOST`` or the default socket; else the local server on
127.0.0.1:3306. Each session creates its own uniquely named database and drops it after.
The container runs as root with a password of its own session. Ryuk, testcontainers' reaper
of containers a killed session leaves behind, is started unless
``TESTCONTAINERS_RYUK_DISABLED`` says otherwise; where its image can be neither found nor
pulled the session goes on without it (and says so at the end), removing its container itself.

The plugin is loaded by every pytest run where ddbproj is installed, so this module imports
only pytest: SQLAlchemy, Docker, testcontainers and ddbproj itself are imported by the
fixtures that need them, and Docker is asked only when a collected test needs the server.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ddbproj.adapters.sink import SqlSink
    from ddbproj.core.columns import ColumnKind
    from ddbproj.core.events import Change, StreamEventBuilder
    from ddbproj.core.registry import ProjectorRegistry
    from ddbproj.handlers.processor import BatchResult

__all__ = ["ProjectionRunner", "ServerChoice", "choose_server", "docker_answers"]

LOCAL_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306/"
DEFAULT_IMAGE = "mysql:8.0"
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
_SERVER_FIXTURE = "mysql_server_url"
_CHOICE = pytest.StashKey["ServerChoice"]()
_NOTES = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class ServerChoice:
    """Where the integration tests' MySQL comes from: ``url`` (``TEST_DATABASE_URL``),
    ``docker`` (a testcontainers MySQL from ``image``) or ``local`` (127.0.0.1:3306)."""

    kind: Literal["url", "docker", "local"]
    url: str = ""
    image: str = ""
    docker_host: str = ""

    def describe(self) -> str:
        """One line naming the server, password hidden."""
        if self.kind == "docker":
            return f"testcontainers MySQL, image {self.image}, Docker at {self.docker_host}"
        source = "TEST_DATABASE_URL" if self.kind == "url" else "the local server"
        return f"{source} {hide_password(self.url)}"


def choose_server(env: Mapping[str, str], docker_answers: Callable[[], bool]) -> ServerChoice:
    """The one selection rule of the plugin and the scripts: an explicit
    ``TEST_DATABASE_URL`` wins (Docker is not even asked); else Docker when it answers;
    else the local server."""
    url = env.get("TEST_DATABASE_URL", "").strip()
    if url:
        return ServerChoice("url", url=url)
    if docker_answers():
        return ServerChoice(
            "docker",
            image=env.get("DDBPROJ_TEST_MYSQL_IMAGE", "").strip() or DEFAULT_IMAGE,
            docker_host=env.get("DOCKER_HOST", "").strip() or f"unix://{DEFAULT_DOCKER_SOCKET}",
        )
    return ServerChoice("local", url=LOCAL_SERVER_URL)


def docker_answers(env: Mapping[str, str]) -> bool:
    """Whether a Docker engine answers where the docker SDK, and so testcontainers, looks:
    ``DOCKER_HOST``, else the default socket (the SDK is not imported when neither exists)."""
    if not env.get("DOCKER_HOST") and not os.path.exists(DEFAULT_DOCKER_SOCKET):
        return False
    host = env.get("DOCKER_HOST") or f"unix://{DEFAULT_DOCKER_SOCKET}"
    if host.startswith("unix://") and not _socket_accepts(host.removeprefix("unix://")):
        return False  # a stale socket file: no engine behind it
    try:
        import docker

        # a version given means no request while constructing (a failed one there would leave
        # its socket open); ``/_ping`` without a version prefix is served by every engine
        client = docker.from_env(environment=dict(env), timeout=3, version="1.24")
        try:
            return client.api.get(f"{client.api.base_url}/_ping", timeout=3).ok
        finally:
            client.close()
    except Exception:
        return False


def _socket_accepts(path: str) -> bool:
    """Whether something listens on the Unix socket ``path`` (the probe is closed either
    way, so a stale socket file leaves nothing open behind it)."""
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(3)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def hide_password(url: str) -> str:
    """``url`` with its password as ``***``, for anything printed."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<a URL SQLAlchemy cannot parse>"


class _Url(str):
    """A URL that reprs with its password hidden: pytest prints fixture values (a test's
    arguments) in failure reports."""

    shown: str

    def __new__(cls, url: sa.URL) -> _Url:
        self = super().__new__(cls, url.render_as_string(hide_password=False))
        self.shown = url.render_as_string(hide_password=True)
        return self

    def __repr__(self) -> str:
        return repr(self.shown)


def _session_choice(config: pytest.Config) -> ServerChoice:
    """The choice made once per session, so the report line and the fixtures agree."""
    if _CHOICE not in config.stash:
        config.stash[_CHOICE] = choose_server(os.environ, lambda: docker_answers(os.environ))
    return config.stash[_CHOICE]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mysql: needs the MySQL-compatible test server")
    config.addinivalue_line(
        "markers",
        "projections(*modules): the projector modules or packages a test runs "
        "(default: $PROJECTIONS, else the 'projections' package, plus installed entry points)",
    )


def pytest_report_collectionfinish(
    config: pytest.Config, items: list[pytest.Item]
) -> list[str]:
    """The server line of the report header, printed after collection and only when a
    collected test needs the server, so other runs never wait for Docker."""
    if not any(_needs_server(item) for item in items):
        return []
    return [f"ddbproj MySQL: {_session_choice(config).describe()}"]


def _needs_server(item: pytest.Item) -> bool:
    return item.get_closest_marker("mysql") is not None or _SERVER_FIXTURE in getattr(
        item, "fixturenames", ()
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for note in config.stash.get(_NOTES, []):
        terminalreporter.write_line(f"ddbproj MySQL: {note}")


@pytest.fixture(scope="session")
def mysql_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a MySQL-compatible server (no database selected)."""
    from ddbproj.adapters.engine import normalise_url

    choice = _session_choice(request.config)
    if choice.kind != "docker":
        yield _Url(normalise_url(choice.url).set(database=None))
        return
    with _mysql_container(choice.image, request.config) as url:
        yield _Url(normalise_url(url).set(database=None))


@contextlib.contextmanager
def _mysql_container(image: str, config: pytest.Config) -> Iterator[str]:
    """A testcontainers MySQL as root (the default user ``test`` may not create the
    session's database), with a password of this session's own."""
    import secrets

    from testcontainers.community.mysql import MySqlContainer

    _ryuk_or_without(config)
    password = secrets.token_hex(16)
    container = MySqlContainer(
        image, dialect="pymysql", username="root", password=password, dbname="test"
    )
    with container:
        yield container.get_connection_url()


def _ryuk_or_without(config: pytest.Config) -> None:
    """Start Ryuk (testcontainers' reaper of leftover containers) as testcontainers would;
    where its image can be neither found nor pulled, go on without it rather than fail.
    An explicit ``TESTCONTAINERS_RYUK_DISABLED`` (or ``ryuk.disabled``) is left alone."""
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import Reaper

    if "TESTCONTAINERS_RYUK_DISABLED" in os.environ or (
        "ryuk.disabled" in testcontainers_config.tc_properties
    ):
        return
    try:
        Reaper.get_instance()
    except Exception as error:
        testcontainers_config.ryuk_disabled = True
        config.stash.setdefault(_NOTES, []).append(
            f"Ryuk ({testcontainers_config.ryuk_image}) could not start "
            f"({type(error).__name__}); the container is removed at the end of the session "
            "instead. Set TESTCONTAINERS_RYUK_DISABLED=true to skip the attempt."
        )


@pytest.fixture(scope="session")
def mysql_url(mysql_server_url: str) -> Iterator[str]:
    """A fresh, uniquely named database on the test server, dropped after the session."""
    import sqlalchemy as sa

    from ddbproj.adapters.engine import make_engine, normalise_url

    name = f"ddbproj_test_{uuid.uuid4().hex[:12]}"
    server = normalise_url(mysql_server_url)
    admin = make_engine(mysql_server_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    except sa.exc.OperationalError as error:
        admin.dispose()
        reason = error.orig if error.orig is not None else error
        raise RuntimeError(
            f"no MySQL server for the integration tests at "
            f"{server.render_as_string(hide_password=True)} ({reason}): set "
            "TEST_DATABASE_URL to a server where this user may create databases, or start "
            "Docker (testcontainers then starts MySQL)"
        ) from None
    try:
        yield _Url(server.set(database=name))
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


@pytest.fixture(scope="session")
def mysql_engine(mysql_url: str) -> Iterator[sa.Engine]:
    from ddbproj.adapters.engine import make_engine

    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def projection_registry(request: pytest.FixtureRequest) -> ProjectorRegistry:
    """The projectors under test: the modules named by the nearest
    ``@pytest.mark.projections("pkg.module", ...)``; else, as the Lambda handler loads
    them, ``PROJECTIONS`` (default: the ``projections`` package) and the installed
    ``ddbproj.projections`` entry points. Override this fixture for anything else."""
    from ddbproj.core.loading import load_registry

    marker = request.node.get_closest_marker("projections")
    if marker is not None:
        return load_registry(list(marker.args), entry_points=False)
    names = os.environ.get("PROJECTIONS", "projections").split(",")
    return load_registry([n for n in names if n.strip()])


@pytest.fixture
def projection_db(mysql_engine: sa.Engine, projection_registry: ProjectorRegistry) -> SqlSink:
    """A SQL sink on the test database with the projectors' tables created and emptied:
    every test starts from empty tables, tombstones and dead letters."""
    from ddbproj.adapters.sink import SqlSink

    sink = SqlSink(mysql_engine, projection_registry)
    sink.create_schema()
    with mysql_engine.begin() as conn:
        for table in reversed(sink.metadata.sorted_tables):
            conn.execute(table.delete())
    return sink


@pytest.fixture(autouse=True)
def _ddbproj_event_builder(request: pytest.FixtureRequest) -> Iterator[StreamEventBuilder | None]:
    """One sequence counter per test, shared by ``stream_event``, ``stream_events`` and
    ``projector_runner``, so the numbers are the same on every run and always increase.

    Tests of projects that never imported ``core.events`` (nothing of theirs can call
    ``stream_event``) and use none of these fixtures do not pay for importing it."""
    if "ddbproj.core.events" not in sys.modules and "stream_events" not in request.fixturenames:
        yield None
        return
    from ddbproj.core.events import StreamEventBuilder, reset_builder, use_builder

    builder = StreamEventBuilder()
    token = use_builder(builder)
    yield builder
    reset_builder(token)


@pytest.fixture
def stream_events(
    _ddbproj_event_builder: StreamEventBuilder | None, projection_registry: ProjectorRegistry
) -> StreamEventBuilder:
    """Builds Lambda DynamoDB stream records with increasing sequence numbers; attrs
    objects are encoded through the projectors under test."""
    assert _ddbproj_event_builder is not None  # this fixture is in the test's closure
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
        from ddbproj.core.events import StreamEventBuilder
        from ddbproj.handlers.processor import BatchProcessor

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
        import sqlalchemy as sa

        from ddbproj.adapters.schema import SEQ_COLUMN
        from ddbproj.core.columns import ColumnKind

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
        import sqlalchemy as sa

        from ddbproj.adapters.schema import DEAD_LETTERS
        from ddbproj.core import jsontext

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
    from decimal import Decimal

    from ddbproj.adapters.schema import SEQ_COLUMN
    from ddbproj.core import jsontext
    from ddbproj.core.columns import ColumnKind

    if value is None:
        return None
    if name == SEQ_COLUMN:
        return int(value)
    if kind is ColumnKind.JSON:
        return jsontext.loads(value)
    if kind is ColumnKind.DECIMAL and isinstance(value, str | int):
        return Decimal(str(value))
    return value


def main(argv: list[str] | None = None) -> int:
    """For scripts that must agree with the plugin: ``--which`` prints the server it would
    choose (``url``, ``docker`` or ``local``, then a description, password hidden);
    ``--docker`` exits 0 when a Docker engine answers, 1 otherwise."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--docker"]:
        return 0 if docker_answers(os.environ) else 1
    if args == ["--which"]:
        choice = choose_server(os.environ, lambda: docker_answers(os.environ))
        print(choice.kind, choice.describe())
        return 0
    print("usage: python -m ddbproj.handlers.pytest_plugin --which | --docker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
