"""The few database errors callers see, so nobody catches a driver's classes."""

from __future__ import annotations

from sqlalchemy import exc

__all__ = ["DatabaseUnavailable", "SinkError", "StatementFailed", "is_refused_value",
           "is_transient", "safe_text"]

# MySQL/MariaDB error numbers that a retry can cure: deadlock, lock wait timeout, server
# gone away, lost connection, can't connect, read-only (an Aurora failover in progress).
_TRANSIENT_MYSQL = {1205, 1213, 1290, 1836, 2002, 2003, 2006, 2013, 2055, 4031}

# MySQL/MariaDB error numbers that refuse a value, not the statement: NULL in a NOT NULL
# column, duplicate or foreign key trouble of a user's own constraint, bad values, out of
# range, too long, truncated, invalid JSON, incorrect string (a character utf8mb4 lacks),
# a CHECK constraint, a datetime out of range, a number out of range of its type.
_REFUSED_MYSQL = {1048, 1062, 1136, 1216, 1217, 1264, 1265, 1292, 1366, 1367, 1406, 1411,
                  1416, 1441, 1451, 1452, 1690, 3140, 3146, 3819, 4025, 4078, 4079}


class SinkError(Exception):
    """Nothing of the batch was committed; the caller must retry the batch as a whole."""


class DatabaseUnavailable(SinkError):
    """The database could not be reached or dropped the connection (after retries)."""


class StatementFailed(SinkError):
    """The database refused a statement for a reason that is not the connection;
    ``refused_value``: because of a value in it (so a record can be set aside)."""

    def __init__(self, message: str, *, refused_value: bool = False) -> None:
        super().__init__(message)
        self.refused_value = refused_value


def is_transient(error: BaseException) -> bool:
    """True for failures a fresh connection and a second attempt can get past."""
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        code = _mysql_code(error.orig)
        if code is not None:
            return code in _TRANSIENT_MYSQL
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if isinstance(sqlstate, str):
            # serialization failure, deadlock, connection exceptions, admin shutdown
            return sqlstate in ("40001", "40P01") or sqlstate[:2] in ("08", "57")
        return isinstance(error, exc.OperationalError) and "locked" in str(error.orig)
    return isinstance(error, ConnectionError | TimeoutError)


def is_refused_value(error: BaseException) -> bool:
    """True when the server refused a value of the statement (too long, out of range,
    invalid), not the statement or the connection: the record that carried it can be
    dead-lettered and the rest of the batch committed."""
    if not isinstance(error, exc.DBAPIError) or is_transient(error):
        return False
    code = _mysql_code(error.orig)
    if code is not None:
        return code in _REFUSED_MYSQL
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in ("22", "23")  # data exception, integrity constraint
    return isinstance(error, exc.IntegrityError | exc.DataError) or (
        isinstance(error.orig, OverflowError))


def safe_text(error: exc.DBAPIError) -> str:
    """The driver's message without the SQL text and parameters (they may carry data)."""
    text = f"{type(error.orig).__name__}: {error.orig}"
    return text if len(text) <= 1000 else text[:1000] + "…"


def _mysql_code(orig: BaseException | None) -> int | None:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None
