"""SQLAlchemy engines configured for projection work.

MySQL/MariaDB (Aurora) sessions are strict (a value that does not fit is an error, never a
silent truncation), UTC, utf8mb4 and READ COMMITTED; connections are checked before use so
a pool survives an Aurora failover.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

__all__ = ["DEFAULT_SQLITE_URL", "is_mysql", "make_engine", "normalise_url"]

DEFAULT_SQLITE_URL = "sqlite:///ddbproj.db"

_MYSQL_SESSION = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO',"
    " time_zone = '+00:00'"
)


def normalise_url(url: str | URL) -> URL:
    """``mysql://`` means PyMySQL here (the driver ddbproj ships with)."""
    parsed = make_url(url)
    if parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
    return parsed


def is_mysql(dialect: sa.Dialect) -> bool:
    return dialect.name in ("mysql", "mariadb")


def make_engine(url: str | URL, **options: Any) -> sa.Engine:
    """An engine for ``url``; ``options`` go to ``sqlalchemy.create_engine``."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        parsed = parsed.set(query=query)
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_recycle", 3600)
        options.setdefault("isolation_level", "READ COMMITTED")
        engine = sa.create_engine(parsed, **options)
        sa.event.listen(engine, "connect", _configure_mysql_session)
        return engine
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **options)
        sa.event.listen(engine, "connect", _configure_sqlite_session)
        return engine
    options.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **options)


def _configure_mysql_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(_MYSQL_SESSION)
    finally:
        cursor.close()


def _configure_sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()
