"""Database credentials for Lambda: a Secrets Manager secret, IAM tokens, TLS.

The engine's URL never holds a password. Each new connection asks a password source for
the current one: the secret (fetched once, cached for ``secret_ttl`` seconds, fetched again
when the server refuses it — a rotation) or an IAM authentication token (signed locally,
renewed well before its 15-minute life ends). Passwords and tokens never appear in logs,
reprs or error messages. boto3 is imported only when a secret or a token is needed.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ddbproj.adapters.engine import make_engine, normalise_url

__all__ = [
    "DEFAULT_SECRET_TTL",
    "NO_CREDENTIALS_FIX",
    "NO_REGION_FIX",
    "TOKEN_REFRESH_AFTER",
    "CredentialsError",
    "DatabaseConfig",
    "IamTokenSource",
    "SecretSource",
    "make_database_engine",
    "ssl_context",
]

logger = logging.getLogger("ddbproj")

DEFAULT_SECRET_TTL = 300.0
#: IAM tokens live 15 minutes; a connection opened with one older than this gets a new one.
TOKEN_REFRESH_AFTER = 600.0
_ACCESS_DENIED = 1045
_DEFAULT_PORT = 3306

Clock = Callable[[], float]


class CredentialsError(RuntimeError):
    """Credentials could not be obtained; the message names the setting, never a secret."""


@attrs.frozen
class DatabaseConfig:
    """Where and how to connect; each field mirrors one ``DATABASE_*`` variable."""

    url: str | None = None
    secret_arn: str | None = None
    host: str | None = None
    port: int | None = None
    name: str | None = None
    user: str | None = None
    iam_auth: bool = False
    ssl_ca: str | None = None
    secret_ttl: float = DEFAULT_SECRET_TTL
    region: str | None = None


@attrs.frozen
class _SecretValue:
    username: str
    password: str = attrs.field(repr=False)
    host: str | None
    port: int | None
    dbname: str | None


class _SecretBodyFilter(logging.Filter):
    """botocore logs whole response bodies at DEBUG; a secret's body holds the password."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SecretString" not in record.getMessage()


def _hide_secret_bodies() -> None:
    for name in ("botocore.parsers", "botocore.endpoint", "botocore.httpchecksum"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _SecretBodyFilter) for f in log.filters):
            log.addFilter(_SecretBodyFilter())


class SecretSource:
    """An RDS/Aurora secret (JSON: username, password, host, port, dbname, engine)."""

    def __init__(
        self,
        secret_arn: str,
        *,
        ttl: float = DEFAULT_SECRET_TTL,
        region: str | None = None,
        clock: Clock = time.monotonic,
        client: Any = None,
    ) -> None:
        self.secret_arn = secret_arn
        self.ttl = ttl
        self._region = region
        self._clock = clock
        self._client = client
        self._value: _SecretValue | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"SecretSource({self.secret_arn!r}, ttl={self.ttl})"

    def value(self) -> _SecretValue:
        """The cached secret; fetched again once it is older than the TTL."""
        with self._lock:
            if self._value is None or self._clock() - self._fetched_at >= self.ttl:
                self._value = self._fetch()
                self._fetched_at = self._clock()
            return self._value

    def password(self) -> str:
        return self.value().password

    def invalidate(self) -> None:
        """Forget the cached value (the server refused it: the secret was rotated)."""
        with self._lock:
            self._value = None

    def _fetch(self) -> _SecretValue:
        _hide_secret_bodies()
        try:
            client = self._client
            if client is None:
                import boto3

                client = self._client = boto3.client("secretsmanager", region_name=self._region)
            response = client.get_secret_value(SecretId=self.secret_arn)
        except Exception as error:
            raise CredentialsError(
                f"cannot read DATABASE_SECRET_ARN {self.secret_arn}: {_aws_failure(error)}"
            ) from None
        self.fetches += 1
        logger.info("database secret fetched", extra={"secret_arn": self.secret_arn})
        return _parse_secret(response.get("SecretString"), self.secret_arn)


def _parse_secret(text: Any, arn: str) -> _SecretValue:
    """Only names and positions go into errors: the text itself holds the password."""
    if not isinstance(text, str):
        raise CredentialsError(f"secret {arn} has no SecretString (binary secrets are not read)")
    try:
        data = json.loads(text)
    except ValueError:
        raise CredentialsError(f"secret {arn} is not a JSON object") from None
    if not isinstance(data, Mapping):
        raise CredentialsError(f"secret {arn} is not a JSON object")
    for field in ("username", "password"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise CredentialsError(f"secret {arn} has no {field!r} string")
    port = data.get("port")
    try:
        port_number = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        raise CredentialsError(f"secret {arn} has a 'port' that is not a number") from None
    return _SecretValue(
        username=data["username"],
        password=data["password"],
        host=data.get("host") or None,
        port=port_number,
        dbname=data.get("dbname") or None,
    )


class IamTokenSource:
    """IAM database authentication tokens, renewed before they expire."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        region: str | None = None,
        refresh_after: float = TOKEN_REFRESH_AFTER,
        clock: Clock = time.monotonic,
        client: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.refresh_after = refresh_after
        self._region = region
        self._clock = clock
        self._client = client
        self._token: str | None = None
        self._issued_at = 0.0
        self._lock = threading.Lock()
        self.issued = 0

    def __repr__(self) -> str:
        return f"IamTokenSource(host={self.host!r}, port={self.port}, user={self.user!r})"

    def password(self) -> str:
        with self._lock:
            if self._token is None or self._clock() - self._issued_at >= self.refresh_after:
                self._token = self._generate()
                self._issued_at = self._clock()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _generate(self) -> str:
        try:
            client = self._client
            if client is None:
                import boto3

                client = self._client = boto3.client("rds", region_name=self._region)
            token: str = client.generate_db_auth_token(
                DBHostname=self.host, Port=self.port, DBUsername=self.user,
                Region=self._region or client.meta.region_name,
            )
        except Exception as error:
            raise CredentialsError(
                f"cannot sign an IAM database token for {self.user}@{self.host}: "
                f"{_aws_failure(error, detail=False)}"
            ) from None
        self.issued += 1
        return token


PasswordSource = SecretSource | IamTokenSource

#: What to do when boto3 finds no region or no credentials.
NO_REGION_FIX = "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
NO_CREDENTIALS_FIX = ("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY, or run with a role")


def _aws_failure(error: Exception, *, detail: bool = True) -> str:
    """One line for a failed AWS call: the fix when boto3 had no region or no credentials,
    else the error's type (and, with ``detail``, its message: AWS's, never a secret)."""
    name = type(error).__name__
    if name == "NoRegionError":
        return NO_REGION_FIX
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return NO_CREDENTIALS_FIX
    return f"{name}: {error}" if detail else name


def ssl_context(ca: str) -> ssl.SSLContext:
    """Verifying TLS: ``ca`` is a CA bundle path (the RDS bundle for direct connections) or
    ``system`` for the system store (RDS Proxy presents Amazon Trust Services certificates)."""
    if ca == "system":
        return ssl.create_default_context()
    if not Path(ca).is_file():
        raise CredentialsError(f"DATABASE_SSL_CA {ca!r} is not a file (or 'system')")
    return ssl.create_default_context(cafile=ca)


def make_database_engine(
    config: DatabaseConfig, *, clock: Clock = time.monotonic, **options: Any
) -> sa.Engine:
    """An engine whose connections get their password when they open, never from the URL."""
    url, source = _target(config, clock)
    backend = url.get_backend_name()
    if config.ssl_ca and backend in ("mysql", "mariadb"):
        connect_args = dict(options.pop("connect_args", {}))
        connect_args["ssl"] = ssl_context(config.ssl_ca)
        options["connect_args"] = connect_args
    engine = make_engine(url, source="DATABASE_URL" if config.url else "the database URL",
                         **options)
    if source is not None:
        sa.event.listen(engine, "do_connect", _connector(source))
    return engine


def _target(config: DatabaseConfig, clock: Clock) -> tuple[URL, PasswordSource | None]:
    """The URL without a password, and what supplies the password."""
    if config.iam_auth and not config.ssl_ca:
        raise CredentialsError("DATABASE_IAM_AUTH=1 needs TLS: set DATABASE_SSL_CA")
    source: PasswordSource | None = None
    if config.url:
        url = normalise_url(config.url, source="DATABASE_URL")
        url = url.set(
            host=config.host or url.host, port=config.port or url.port,
            database=config.name or url.database, username=config.user or url.username,
        )
    elif config.secret_arn:
        secret = SecretSource(config.secret_arn, ttl=config.secret_ttl, region=config.region,
                              clock=clock)
        value = secret.value()
        source = secret
        url = URL.create(
            "mysql+pymysql", username=config.user or value.username,
            host=config.host or value.host, port=config.port or value.port or _DEFAULT_PORT,
            database=config.name or value.dbname,
        )
        if not url.host:
            raise CredentialsError(
                f"secret {config.secret_arn} has no 'host': set DATABASE_HOST (the proxy or "
                "cluster endpoint)")
    elif config.iam_auth and config.host and config.user:
        url = URL.create("mysql+pymysql", username=config.user, host=config.host,
                         port=config.port or _DEFAULT_PORT, database=config.name)
    else:
        raise CredentialsError(
            "no database configured: set DATABASE_URL, DATABASE_SECRET_ARN, or "
            "DATABASE_HOST and DATABASE_USER with DATABASE_IAM_AUTH=1"
        )
    if config.iam_auth:
        if not url.host or not url.username:
            raise CredentialsError("DATABASE_IAM_AUTH=1 needs a host and a user name")
        source = IamTokenSource(host=url.host, port=url.port or _DEFAULT_PORT,
                                user=url.username, region=config.region, clock=clock)
    if source is not None:
        url = url.set(password=None)
    return url, source


def _connector(source: PasswordSource) -> Callable[..., Any]:
    """A ``do_connect`` hook: current password in; one retry with a fresh one when the
    server says access denied (the secret was rotated since it was cached)."""

    def connect(dialect: sa.Dialect, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        dbapi: Any = dialect.loaded_dbapi
        try:
            return dbapi.connect(*cargs, **{**cparams, "password": source.password()})
        except dbapi.OperationalError as error:
            if not error.args or error.args[0] != _ACCESS_DENIED:
                raise
        logger.warning("database refused the cached credentials; fetching them again")
        source.invalidate()
        return dbapi.connect(*cargs, **{**cparams, "password": source.password()})

    return connect
