"""Settings read once from the environment into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from core.registry import DEFAULT_TYPE_ATTRIBUTE

__all__ = ["Settings", "SettingsError"]


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


@attrs.frozen
class Settings:
    """``DATABASE_URL`` (or ``DATABASE_SECRET_ARN``), ``PROJECTIONS``, ``ENTITY_TYPE_ATTRIBUTE``."""

    database_url: str | None = None
    database_secret_arn: str | None = None
    projections: tuple[str, ...] = ("projections",)
    entity_type_attribute: str = DEFAULT_TYPE_ATTRIBUTE

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


