"""The few database errors callers see, so nobody catches a driver's classes."""

from __future__ import annotations

from sqlalchemy import exc

__all__ = ["DatabaseUnavailable", "SinkError", "StatementFailed", "is_transient"]

# MySQL/MariaDB error numbers that a retry can cure: deadlock, lock wait timeout, server
# gone away, lost connection, can't connect, read-only (an Aurora failover in progress).
_TRANSIENT_MYSQL = {1205, 1213, 1290, 1836, 2002, 2003, 2006, 2013, 2055, 4031}


class SinkError(Exception):
    """Nothing of the batch was committed; the caller must retry the batch as a whole."""


class DatabaseUnavailable(SinkError):
    """The database could not be reached or dropped the connection (after retries)."""


class StatementFailed(SinkError):
    """The database refused a statement for a reason that is not the connection."""


def is_transient(error: BaseException) -> bool:
    """True for failures a fresh connection and a second attempt can get past."""
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        code = _mysql_code(error.orig)
        if code is not None:
            return code in _TRANSIENT_MYSQL
        return isinstance(error, exc.OperationalError) and "locked" in str(error.orig)
    return isinstance(error, ConnectionError | TimeoutError)


def _mysql_code(orig: BaseException | None) -> int | None:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None
