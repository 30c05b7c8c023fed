"""SQLAlchemy engines configured for projection work.

MySQL/MariaDB (Aurora) sessions are strict (a value that does not fit is an error, never a
silent truncation), UTC, utf8mb4 and READ COMMITTED; connections are checked before use so
a pool survives an Aurora failover.

The session is set by PyMySQL's ``init_command``, inside the connection's own handshake:
before SQLAlchemy's dialect reads ``sql_mode`` on first connect (``ANSI_QUOTES`` there
would change how it quotes identifiers), before any ``connect`` listener, and on every
connection PyMySQL opens, whatever the server's global ``sql_mode``, ``init_connect`` or
``character_set_*`` say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

__all__ = [
    "CHARSET",
    "DEFAULT_SQLITE_URL",
    "SESSION_SQL_MODE",
    "UnsafeConnectionSetting",
    "is_mysql",
    "make_engine",
    "mysql_connect_args",
    "normalise_url",
]

DEFAULT_SQLITE_URL = "sqlite:///ddbproj.db"

#: The only connection character set. In sjis, cp932, gbk, big5 (and others) a multi-byte
#: character can end in byte 0x5C, the backslash: text escaped as characters, then encoded,
#: then holds a backslash that un-escapes the quote after it. UTF-8 never puts an ASCII
#: byte inside a multi-byte character, and utf8mb4 holds every value.
CHARSET = "utf8mb4"

#: Strict, and none of the modes that change how a statement reads (ANSI_QUOTES,
#: NO_BACKSLASH_ESCAPES, PIPES_AS_CONCAT, PAD_CHAR_TO_FULL_LENGTH, ONLY_FULL_GROUP_BY...).
SESSION_SQL_MODE = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO"

#: One statement: PyMySQL connects without CLIENT_MULTI_STATEMENTS.
_MYSQL_SESSION = (
    f"SET NAMES {CHARSET}, SESSION sql_mode = '{SESSION_SQL_MODE}', time_zone = '+00:00'"
)

#: Connection parameters ddbproj sets itself; a URL or ``connect_args`` value would undo
#: what the session relies on.
_OWNED = ("charset", "init_command", "sql_mode")


class UnsafeConnectionSetting(ValueError):
    """A database URL parameter or connect argument that ddbproj sets itself. The message
    names the parameter and its value, never the URL (which may hold a password)."""


def normalise_url(url: str | URL) -> URL:
    """``mysql://`` means PyMySQL here (the driver ddbproj ships with)."""
    parsed = make_url(url)
    if parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername=f"{parsed.drivername}+pymysql")
    return parsed


def is_mysql(dialect: sa.Dialect) -> bool:
    return dialect.name in ("mysql", "mariadb")


def mysql_connect_args(url: URL, connect_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``connect_args`` plus the session settings; refuses a URL or connect argument that
    would set another character set or session of its own."""
    given = dict(connect_args or {})
    for name in _OWNED:
        values = url.query.get(name, ())
        for value in (values,) if isinstance(values, str) else values:
            _refuse(name, value, "the database URL parameter", "remove it from the URL")
        if name in given:
            _refuse(name, given[name], "the connect argument", "leave it out")
    return {**given, "charset": CHARSET, "init_command": _MYSQL_SESSION}


def _refuse(name: str, value: Any, where: str, fix: str) -> None:
    if name == "charset" and isinstance(value, str) and value.lower() == CHARSET:
        return
    if name == "charset":
        reason = (f"ddbproj connects with {CHARSET} only: escaping is not safe in every "
                  "character set")
    else:
        reason = "ddbproj sets the session (sql_mode, time zone, character set) itself"
    shown = value if name == "charset" and isinstance(value, str) else "..."
    raise UnsafeConnectionSetting(f"{where} {name}={shown} is not allowed: {reason}; {fix}")


def make_engine(url: str | URL, **options: Any) -> sa.Engine:
    """An engine for ``url``; ``options`` go to ``sqlalchemy.create_engine``."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        options["connect_args"] = mysql_connect_args(parsed, options.get("connect_args"))
        query = {k: v for k, v in parsed.query.items() if k not in _OWNED}
        parsed = parsed.set(query={**query, "charset": CHARSET})
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_recycle", 3600)
        options.setdefault("isolation_level", "READ COMMITTED")
        return sa.create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, **options)
        sa.event.listen(engine, "connect", _configure_sqlite_session)
        return engine
    options.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **options)


def _configure_sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()
