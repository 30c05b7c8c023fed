"""Options and set-up shared by the commands."""

from __future__ import annotations

import argparse
import os
from typing import Any

from adapters.engine import DEFAULT_SQLITE_URL, make_engine
from adapters.errors import SinkError
from adapters.sink import SqlSink
from core.loading import load_registry
from core.registry import ProjectorRegistry
from handlers.processor import BatchProcessor
from handlers.settings import Settings, SettingsError

__all__ = [
    "CommandError",
    "add_aws_options",
    "add_database_options",
    "open_processor",
    "open_registry",
]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2, no traceback."""


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"SQLAlchemy URL (default: $DATABASE_URL, else {DEFAULT_SQLITE_URL})",
    )
    parser.add_argument(
        "--projections",
        default=None,
        help="comma-separated modules or packages of projectors (default: $PROJECTIONS, "
        "else 'projections')",
    )


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="DynamoDB endpoint (moto_server, DynamoDB Local, LocalStack)")
    parser.add_argument("--region", default=None, help="AWS region (default: boto3's chain)")


def _settings(args: argparse.Namespace) -> Settings:
    try:
        settings = Settings.from_environ()
    except SettingsError as error:
        raise CommandError(str(error)) from error
    projections = getattr(args, "projections", None)
    if projections:
        names = tuple(n.strip() for n in projections.split(",") if n.strip())
        settings = Settings(settings.database_url, settings.database_secret_arn, names,
                            settings.entity_type_attribute)
    return settings


def database_url(args: argparse.Namespace) -> str:
    return str(getattr(args, "database_url", None) or _settings(args).database_url
               or DEFAULT_SQLITE_URL)


def open_registry(args: argparse.Namespace) -> ProjectorRegistry:
    settings = _settings(args)
    try:
        return load_registry(settings.projections, type_attribute=settings.entity_type_attribute)
    except ImportError as error:
        raise CommandError(f"cannot import projections: {error}") from error


def open_processor(args: argparse.Namespace, *, create_schema: bool = True) -> BatchProcessor:
    """Registry, engine and sink for the command's options; creates missing tables."""
    registry = open_registry(args)
    sink = SqlSink(make_engine(database_url(args)), registry)
    if create_schema:
        try:
            sink.create_schema()
        except Exception as error:
            raise CommandError(f"cannot prepare the database: {_describe(error)}") from error
    return BatchProcessor(registry, sink)


def _describe(error: Any) -> str:
    if isinstance(error, SinkError):
        return str(error)
    orig = getattr(error, "orig", None)
    return f"{type(orig or error).__name__}: {orig or error}"
