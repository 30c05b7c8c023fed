"""A throwaway benchmark database on the test server, found the way the tests find theirs:
``TEST_DATABASE_URL``, else the local server on 127.0.0.1:3306 (root, no password)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from ddbproj.adapters.engine import make_engine, normalise_url

LOCAL_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306/"


def server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_SERVER_URL
    return normalise_url(url).set(database=None).render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """URL of a new ``ddbproj_bench_<random>`` database, dropped afterwards."""
    server = server_url()
    name = f"ddbproj_bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    except Exception as error:
        admin.dispose()
        raise SystemExit(f"no MySQL server at {server}: run 'make mysql' or set "
                         f"TEST_DATABASE_URL ({type(error).__name__}: {error})") from None
    try:
        yield normalise_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()
