from collections.abc import Iterator

import pytest

from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.sink import SqlSink
from ddbproj.core import load_registry


@pytest.fixture(params=["mysql", "sqlite"])
def sink(request, tmp_path) -> Iterator[SqlSink]:
    """The SQL sink contract runs on MySQL (always) and SQLite."""
    if request.param == "mysql":
        yield request.getfixturevalue("projection_db")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'projection.db'}")
    sink = SqlSink(engine, load_registry(["projections"]))
    sink.create_schema()
    yield sink
    engine.dispose()
