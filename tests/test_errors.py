"""Which database failures a retry can cure (and so are retried inside the invocation)."""

import pymysql
import pytest
from sqlalchemy import exc

from ddbproj.adapters.errors import is_transient


def wrapped(error, cls=exc.OperationalError):
    return cls("INSERT ...", (), error)


@pytest.mark.parametrize(("code", "transient"), [
    (1213, True),   # deadlock
    (1205, True),   # lock wait timeout
    (2006, True),   # server has gone away
    (2013, True),   # lost connection during query
    (2003, True),   # can't connect
    (1290, True),   # --read-only: an Aurora writer demoted during a failover
    (1836, True),   # read-only mode
    (1062, False),  # duplicate key: the data, not the connection
    (1406, False),  # data too long
    (1146, False),  # table does not exist
])
def test_mysql_error_codes(code, transient):
    assert is_transient(wrapped(pymysql.err.OperationalError(code, "message"))) is transient


def test_an_invalidated_connection_is_transient():
    error = exc.OperationalError("SELECT 1", (), Exception("closed"),
                                 connection_invalidated=True)
    assert is_transient(error) is True


def test_a_sqlite_lock_is_transient_and_a_constraint_is_not():
    import sqlite3

    assert is_transient(wrapped(sqlite3.OperationalError("database is locked"))) is True
    assert is_transient(wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"),
                                exc.IntegrityError)) is False
