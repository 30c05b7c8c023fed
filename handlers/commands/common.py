"""Options and set-up shared by the commands."""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import decimal
import enum
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
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
from ddbproj.handlers.progress import ProgressMeter
from ddbproj.handlers.runtime import build_engine
from ddbproj.handlers.settings import Settings, SettingsError

__all__ = [
    "NO_REGION_FIX",
    "SQLITE_DEFAULT_NOTICE",
    "CommandError",
    "add_aws_options",
    "add_database_options",
    "add_filter_option",
    "add_json_option",
    "add_progress_option",
    "aws_client",
    "event_filter",
    "json_document",
    "open_engine",
    "open_processor",
    "open_registry",
    "positive_int",
    "progress_meter",
    "stop_on_sigint",
    "wants_progress",
]

NO_REGION_FIX = ("no AWS region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION, or "
                 "a profile's region)")
SQLITE_DEFAULT_NOTICE = f"using {DEFAULT_SQLITE_URL} (no DATABASE_URL)"


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2, no traceback."""


def positive_int(text: str) -> int:
    """An argparse type: counts and sizes of at least 1 (0 would read nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


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
    the Lambda function connects); else the embedded SQLite file, said on stderr so that
    a forgotten ``DATABASE_URL`` is not mistaken for an empty database."""
    url = getattr(args, "database_url", None)
    if url:
        return make_engine(url, source="--database-url")
    settings = _settings(args)
    if settings.database_url or settings.database_secret_arn or settings.database_iam_auth:
        try:
            return build_engine(settings)
        except SettingsError as error:
            raise CommandError(str(error)) from error
    print(SQLITE_DEFAULT_NOTICE, file=sys.stderr)
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
    """A boto3 client honouring ``--endpoint-url`` and ``--region``; no region anywhere is
    one line that says where to set it."""
    import boto3
    from botocore.exceptions import NoRegionError

    factory: Any = boto3.client
    try:
        return factory(service, endpoint_url=args.endpoint_url, region_name=args.region)
    except NoRegionError:
        raise CommandError(NO_REGION_FIX) from None


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (keys below)")


def json_document(document: Any) -> str:
    """Stable JSON for scripts: decimals, datetimes and bytes as strings (a decimal or a
    40-digit sequence number survives no float), keys in the order built."""
    return json.dumps(document, default=_json_value, ensure_ascii=False, indent=2)


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON")


def add_progress_option(parser: argparse.ArgumentParser, *, default_text: str) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help=f"show progress on stderr (default: {default_text})")


def wants_progress(args: argparse.Namespace, *, default: bool) -> bool:
    """``--progress``/``--no-progress``, else ``default``; never beside ``--json``."""
    if getattr(args, "json", False):
        return False
    return bool(args.progress if args.progress is not None else default)


def progress_meter(
    args: argparse.Namespace, label: str, total: int | None, *, default: bool
) -> Callable[..., None] | None:
    """``ProgressMeter(label, total).update`` when progress is wanted, else None."""
    if not wants_progress(args, default=default):
        return None
    return ProgressMeter(label, total).update


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
