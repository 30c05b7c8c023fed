"""Settings read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from ddbproj.adapters.credentials import DEFAULT_SECRET_TTL, DatabaseConfig
from ddbproj.adapters.engine import DatabaseUrlError, parse_database_url
from ddbproj.core.registry import DEFAULT_TYPE_ATTRIBUTE

__all__ = ["ENVIRONMENT_VARIABLES", "Settings", "SettingsError"]

#: Every variable ``Settings.from_environ`` reads (the template's environment is checked
#: against this list).
ENVIRONMENT_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_SECRET_ARN",
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_NAME",
    "DATABASE_USER",
    "DATABASE_IAM_AUTH",
    "DATABASE_SSL_CA",
    "DATABASE_SECRET_TTL",
    "PROJECTIONS",
    "ENTITY_TYPE_ATTRIBUTE",
)


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


def _usable_url(_settings: Any, _attribute: Any, url: str | None) -> None:
    """A ``DATABASE_URL`` that would not parse as written (an unencoded ``@`` in the
    password, a port that is not a number) fails here, where the setting is read, and
    the message never shows the URL."""
    if url is None:
        return
    try:
        parse_database_url(url, source="DATABASE_URL")
    except DatabaseUrlError as error:
        raise SettingsError(str(error)) from error


@attrs.frozen
class Settings:
    """``DATABASE_URL`` (or ``DATABASE_SECRET_ARN``), ``PROJECTIONS``, ``ENTITY_TYPE_ATTRIBUTE``;
    ``DATABASE_HOST``/``PORT``/``NAME``/``USER`` override the secret's (an RDS Proxy endpoint),
    ``DATABASE_IAM_AUTH=1`` signs IAM tokens, ``DATABASE_SSL_CA`` turns on verified TLS."""

    database_url: str | None = attrs.field(default=None, validator=_usable_url)
    database_secret_arn: str | None = None
    projections: tuple[str, ...] = ("projections",)
    entity_type_attribute: str = DEFAULT_TYPE_ATTRIBUTE
    database_host: str | None = None
    database_port: int | None = None
    database_name: str | None = None
    database_user: str | None = None
    database_iam_auth: bool = False
    database_ssl_ca: str | None = None
    database_secret_ttl: float = DEFAULT_SECRET_TTL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        projections = tuple(
            name.strip() for name in env.get("PROJECTIONS", "projections").split(",")
            if name.strip()
        )
        if not projections:
            raise SettingsError("PROJECTIONS is empty: name at least one module or package")
        attribute = env.get("ENTITY_TYPE_ATTRIBUTE", DEFAULT_TYPE_ATTRIBUTE).strip()
        if not attribute:
            raise SettingsError("ENTITY_TYPE_ATTRIBUTE is empty")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            database_secret_arn=env.get("DATABASE_SECRET_ARN") or None,
            projections=projections,
            entity_type_attribute=attribute,
            database_host=env.get("DATABASE_HOST") or None,
            database_port=_number(env, "DATABASE_PORT", int),
            database_name=env.get("DATABASE_NAME") or None,
            database_user=env.get("DATABASE_USER") or None,
            database_iam_auth=_flag(env, "DATABASE_IAM_AUTH"),
            database_ssl_ca=env.get("DATABASE_SSL_CA") or None,
            database_secret_ttl=_number(env, "DATABASE_SECRET_TTL", float) or DEFAULT_SECRET_TTL,
        )

    def database_config(self, *, region: str | None = None) -> DatabaseConfig:
        """The connection settings as the credentials adapter takes them."""
        return DatabaseConfig(
            url=self.database_url, secret_arn=self.database_secret_arn,
            host=self.database_host, port=self.database_port, name=self.database_name,
            user=self.database_user, iam_auth=self.database_iam_auth,
            ssl_ca=self.database_ssl_ca, secret_ttl=self.database_secret_ttl, region=region,
        )

    def resolved_database_url(self, *, default: str | None = None) -> str:
        """The URL to connect to; an error names the variables when there is none."""
        if self.database_url:
            return self.database_url
        if default is not None:
            return default
        raise SettingsError(
            "no database configured: set DATABASE_URL (an SQLAlchemy URL such as "
            "mysql+pymysql://user:pass@host/db) or DATABASE_SECRET_ARN"
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0, not {value!r}")


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        number = kind(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{name} must be positive, not {value!r}")
    return number
