"""Options and set-up shared by the commands."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import attrs
import sqlalchemy as sa

from ddbproj.adapters.engine import DEFAULT_SQLITE_URL, make_engine
from ddbproj.adapters.errors import SinkError
from ddbproj.adapters.sink import SqlSink
from ddbproj.core.filter_criteria import FilterCriteriaError, filter_criteria
from ddbproj.core.filters import EventFilter, FilterPatternError
from ddbproj.core.loading import load_registry
from ddbproj.core.registry import ProjectorRegistry
from ddbproj.handlers.processor import BatchProcessor
from ddbproj.handlers.runtime import build_engine
from ddbproj.handlers.settings import Settings, SettingsError

__all__ = [
    "CommandError",
    "add_aws_options",
    "add_database_options",
    "add_filter_option",
    "aws_client",
    "event_filter",
    "open_engine",
    "open_processor",
    "open_registry",
    "stop_on_sigint",
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
        settings = attrs.evolve(settings, projections=names)
    return settings


def open_engine(args: argparse.Namespace) -> sa.Engine:
    """``--database-url``; else the configured database (a URL, or a secret / IAM auth, as
    the Lambda function connects); else the embedded SQLite file."""
    url = getattr(args, "database_url", None)
    if url:
        return make_engine(url)
    settings = _settings(args)
    if settings.database_url or settings.database_secret_arn or settings.database_iam_auth:
        try:
            return build_engine(settings)
        except SettingsError as error:
            raise CommandError(str(error)) from error
    return make_engine(DEFAULT_SQLITE_URL)


def open_registry(args: argparse.Namespace) -> ProjectorRegistry:
    settings = _settings(args)
    try:
        return load_registry(settings.projections, type_attribute=settings.entity_type_attribute)
    except ImportError as error:
        raise CommandError(f"cannot import projections: {error}") from error


def open_processor(args: argparse.Namespace, *, create_schema: bool = True) -> BatchProcessor:
    """Registry, engine and sink for the command's options; creates missing tables."""
    registry = open_registry(args)
    sink = SqlSink(open_engine(args), registry)
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


def add_filter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filter-criteria", metavar="FILE", default=None,
                        help="Lambda FilterCriteria JSON to apply first (default: the one "
                        "generated from the projectors; 'none' applies every record)")


def event_filter(path: str | None, registry: ProjectorRegistry) -> EventFilter:
    """The filter named by ``--filter-criteria``, or the generated one (as deployed), so a
    local run drops exactly what Lambda would have dropped."""
    try:
        if path is None:
            return EventFilter.from_criteria(filter_criteria(registry))
        if path.lower() == "none":
            return EventFilter()
        with open(path, encoding="utf-8") as handle:
            criteria = json.load(handle)
        if not isinstance(criteria, dict):
            raise FilterPatternError("FilterCriteria is not a JSON object")
        return EventFilter.from_criteria(criteria.get("FilterCriteria", criteria))
    except (OSError, json.JSONDecodeError) as error:
        raise CommandError(f"cannot read {path}: {error}") from error
    except (FilterPatternError, FilterCriteriaError) as error:
        raise CommandError(f"filter criteria: {error}") from error


def aws_client(args: argparse.Namespace, service: str) -> Any:
    """A boto3 client honouring ``--endpoint-url`` and ``--region``."""
    import boto3

    factory: Any = boto3.client
    return factory(service, endpoint_url=args.endpoint_url, region_name=args.region)


@contextlib.contextmanager
def stop_on_sigint(stop: threading.Event, what: str) -> Iterator[None]:
    """First Ctrl-C: finish the current page, then stop. Second Ctrl-C: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"stopping {what} after the current page (Ctrl-C again to abort)",
              file=sys.stderr)
        stop.set()

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
