"""The Lambda function: ``ddbproj.handlers.stream.handler`` for a DynamoDB stream event source.

Enable ``ReportBatchItemFailures`` on the event source mapping: without it the response
below counts as full success and failed records are lost.

Start-up: the cyclic garbage collector is off while this module imports (the imports build
a large heap of long-lived objects and no garbage), and what start-up allocated is then
frozen (``gc.freeze``), again after the processor is built: the runtime's ``json.loads`` of
each event and the batches never walk those objects again. Under SnapStart
(``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``, python3.12 and later) the registry is built
before the snapshot; each restored copy builds its own engine, secret and connections.
"""

from __future__ import annotations

import gc
import importlib
import os
import random
from typing import Any

_collecting = gc.isenabled()
gc.disable()

# imported with the collector off (see above)
from ddbproj.core.registry import ProjectorRegistry  # noqa: E402
from ddbproj.handlers.observability import (  # noqa: E402
    batch_keys,
    logger,
    metrics,
    record_batch,
)
from ddbproj.handlers.processor import BatchProcessor, PartialBatchResponse  # noqa: E402
from ddbproj.handlers.runtime import build_processor, build_registry  # noqa: E402
from ddbproj.handlers.settings import Settings  # noqa: E402

__all__ = ["after_restore", "before_snapshot", "handler"]

_processor: BatchProcessor | None = None
#: built before a SnapStart snapshot; every restored copy builds its engine from it
_registry: ProjectorRegistry | None = None


class _LocalContext:
    """Stands in for the Lambda context when the handler is called outside Lambda."""

    function_name = "local"
    memory_limit_in_mb = 0
    invoked_function_arn = ""
    aws_request_id = "local"


def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
    """Project one batch; the response names the records Lambda must deliver again."""
    response: PartialBatchResponse = _handle(
        event, context if context is not None else _LocalContext())
    return response


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def _handle(event: dict[str, Any], context: Any) -> PartialBatchResponse:
    logger.append_keys(**batch_keys(event))
    result = _get_processor().process_event(event)
    record_batch(result)
    return result.response


def _get_processor() -> BatchProcessor:
    """Built on the first invocation of a container and reused by the next ones."""
    global _processor  # noqa: PLW0603 - the per-container cache Lambda's model expects
    if _processor is None:
        _processor = build_processor(Settings.from_environ(), registry=_registry)
        gc.freeze()  # the registry, generated code and engine live as long as the container
    return _processor


def reset() -> None:
    """Forget the cached processor (tests that change the environment call this)."""
    global _processor, _registry  # noqa: PLW0603
    _processor = None
    _registry = None


def before_snapshot() -> None:
    """SnapStart: build the registry (projectors, generated code) and import what the first
    connection needs (the MySQL driver's dialect; boto3 when a secret or IAM tokens supply
    the password, ~0.2 s otherwise paid by the first batch). No engine, client, secret or
    connection: those belong to each restored copy, which builds them on its first batch."""
    global _registry  # noqa: PLW0603
    settings = Settings.from_environ()
    _registry = build_registry(settings)
    importlib.import_module("sqlalchemy.dialects.mysql.pymysql")
    if settings.database_secret_arn or settings.database_iam_auth:
        importlib.import_module("boto3")
    gc.freeze()


def after_restore() -> None:
    """SnapStart: a restored environment is a copy. An engine built before the snapshot
    (none is, unless an invocation ran first) is dropped with its pooled connections, not
    closed (their sockets are not this copy's), so the next batch builds its own engine,
    secret and connection; the random generator is reseeded, so retry jitter differs
    between copies."""
    global _processor  # noqa: PLW0603
    random.seed()
    if _processor is not None:
        _processor.sink.engine.dispose(close=False)
        _processor = None


def _register_snapstart_hooks() -> None:
    """Register the hooks only in a SnapStart initialisation: ``snapshot_restore_py`` is the
    runtime's module (python3.12 and later), absent elsewhere."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    try:
        hooks = importlib.import_module("snapshot_restore_py")
    except ImportError:
        logger.warning("SnapStart initialisation without snapshot_restore_py; no runtime hooks")
        return
    hooks.register_before_snapshot(before_snapshot)
    hooks.register_after_restore(after_restore)


_register_snapstart_hooks()
gc.freeze()
if _collecting:
    gc.enable()
