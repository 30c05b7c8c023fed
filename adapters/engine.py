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
    "DatabaseDriverMissing",
    "DatabaseUrlError",
    "UnsafeConnectionSetting",
    "is_mysql",
    "make_engine",
    "mysql_connect_args",
    "normalise_url",
    "parse_database_url",
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


class DatabaseUrlError(ValueError):
    """A database URL that cannot be used as written. The message names what is wrong and
    the fix, never the URL itself nor any part of its password."""


class DatabaseDriverMissing(DatabaseUrlError):
    """The URL names a DB-API driver that is not installed; the message names the package."""


#: The pip package of each DB-API module SQLAlchemy's dialects import.
_DRIVER_PACKAGES = {
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "mariadb": "mariadb",
    "aiomysql": "aiomysql",
    "asyncmy": "asyncmy",
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}

_PERCENT_ENCODE = ("percent-encode the password in the URL, e.g. "
                   'urllib.parse.quote(password, safe="")')


def parse_database_url(url: str | URL, *, source: str = "the database URL") -> URL:
    """``url`` parsed, or a ``DatabaseUrlError`` naming ``source`` (``DATABASE_URL``,
    ``--database-url``) and the fix.

    SQLAlchemy reads the password up to the first ``@``: an unencoded ``@`` in it moves
    the rest of the password into the host, the port or the database name (``/``, ``#``,
    ``?`` and ``:`` are read correctly). Such a URL is refused before anything connects
    to a host made of a password's tail."""
    if isinstance(url, URL):
        return url
    if _password_holds_at_sign(url):
        raise DatabaseUrlError(
            f"{source} has more than one '@' after 'user:': the password holds an unencoded "
            f"'@', which would put part of it in the host or database name; {_PERCENT_ENCODE} "
            "(an '@' in a database name is written %40)")
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseUrlError(
            f"{source} is not an SQLAlchemy URL: write dialect+driver://user:password@host:port/"
            "database, e.g. mysql+pymysql://app@db.example:3306/shop") from None
    except ValueError:  # the port is not a number
        raise DatabaseUrlError(
            f"{source} has a port that is not a number: write host:port with a numeric port "
            f"(3306 for MySQL); if ':' or '@' belong to the password, {_PERCENT_ENCODE}"
        ) from None
    if parsed.host and "@" in parsed.host:
        raise DatabaseUrlError(
            f"{source} has an '@' in its host: the password holds an unencoded '@'; "
            f"{_PERCENT_ENCODE}")
    return parsed


def _password_holds_at_sign(text: str) -> bool:
    """After ``user:`` a second ``@`` before the path's query can only come from a password
    (a host never holds ``@``; a user name may, as ``user@server`` on Azure). URLs without
    an authority (``sqlite:///path@x``) and query arguments (``unix_socket=...``) are
    not looked at."""
    _, separator, rest = text.partition("://")
    if not separator or rest.startswith("/"):
        return False
    rest = rest.split("?", 1)[0]
    colon = rest.find(":")
    if colon < 0:
        return False
    return rest.count("@", colon) > 1


def normalise_url(url: str | URL, *, source: str = "the database URL") -> URL:
    """``mysql://`` means PyMySQL here (the driver ddbproj ships with)."""
    parsed = parse_database_url(url, source=source)
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


def make_engine(url: str | URL, *, source: str = "the database URL", **options: Any) -> sa.Engine:
    """An engine for ``url``; ``options`` go to ``sqlalchemy.create_engine``. ``source`` says
    where the URL came from in errors."""
    parsed = normalise_url(url, source=source)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        options["connect_args"] = mysql_connect_args(parsed, options.get("connect_args"))
        query = {k: v for k, v in parsed.query.items() if k not in _OWNED}
        parsed = parsed.set(query={**query, "charset": CHARSET})
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_recycle", 3600)
        options.setdefault("isolation_level", "READ COMMITTED")
        return _create_engine(parsed, source, options)
    if parsed.get_backend_name() == "sqlite":
        engine = _create_engine(parsed, source, options)
        sa.event.listen(engine, "connect", _configure_sqlite_session)
        return engine
    options.setdefault("pool_pre_ping", True)
    return _create_engine(parsed, source, options)


def _create_engine(url: URL, source: str, options: dict[str, Any]) -> sa.Engine:
    """``create_engine``; an unknown dialect or a driver that is not installed is a
    ``DatabaseUrlError`` that says what to install or write instead."""
    try:
        return sa.create_engine(url, **options)
    except sa.exc.NoSuchModuleError:
        raise DatabaseUrlError(
            f"{source} names {url.drivername}://, which SQLAlchemy does not know: use "
            "mysql+pymysql:// (MySQL, MariaDB, Aurora MySQL) or sqlite:///FILE") from None
    except ImportError as error:
        raise DatabaseDriverMissing(_missing_driver(url, source, error.name)) from None


def _missing_driver(url: URL, source: str, module: str | None) -> str:
    package = _DRIVER_PACKAGES.get(module or "", module or url.get_driver_name())
    text = (f"{source} uses the {url.get_driver_name()} driver ({url.drivername}://), which "
            f"is not installed: pip install '{package}'")
    if url.get_backend_name() in ("mysql", "mariadb"):
        text += "; or write mysql+pymysql:// (PyMySQL comes with ddbproj)"
    return text


def _configure_sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()
