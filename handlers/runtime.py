"""Building the processor from settings: registry, engine, sink — once per process."""

from __future__ import annotations

import os

import sqlalchemy as sa

from ddbproj.adapters.credentials import make_database_engine
from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.sink import SqlSink
from ddbproj.core.loading import load_registry
from ddbproj.core.registry import ProjectorRegistry
from ddbproj.handlers.processor import BatchProcessor
from ddbproj.handlers.settings import Settings

__all__ = ["build_engine", "build_processor", "build_registry"]


def build_processor(settings: Settings, *, database_url: str | None = None,
                    registry: ProjectorRegistry | None = None) -> BatchProcessor:
    """A processor for ``settings``; ``database_url`` overrides the configured database,
    ``registry`` one built already (before a SnapStart snapshot)."""
    if registry is None:
        registry = build_registry(settings)
    engine = make_engine(database_url) if database_url else build_engine(settings)
    return BatchProcessor(registry, SqlSink(engine, registry))


def build_registry(settings: Settings) -> ProjectorRegistry:
    """The projectors ``PROJECTIONS`` names and the installed entry points declare."""
    return load_registry(settings.projections, type_attribute=settings.entity_type_attribute)


def build_engine(settings: Settings) -> sa.Engine:
    """The engine the settings describe: a URL, a secret, or IAM tokens; TLS when asked.

    Secrets and tokens are fetched when a connection opens, never put in the URL.
    """
    configured = settings.database_secret_arn or (
        settings.database_iam_auth and settings.database_host and settings.database_user)
    if not configured:
        settings.resolved_database_url()  # raises, naming the variables, when there is none
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return make_database_engine(settings.database_config(region=region))
