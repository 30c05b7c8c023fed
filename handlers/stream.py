"""The Lambda function: ``ddbproj.handlers.stream.handler`` for a DynamoDB stream event source.

Enable ``ReportBatchItemFailures`` on the event source mapping: without it the response
below counts as full success and failed records are lost.
"""

from __future__ import annotations

from typing import Any

from ddbproj.handlers.observability import batch_keys, logger, metrics, record_batch
from ddbproj.handlers.processor import BatchProcessor, PartialBatchResponse
from ddbproj.handlers.runtime import build_processor
from ddbproj.handlers.settings import Settings

__all__ = ["handler"]

_processor: BatchProcessor | None = None


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
        _processor = build_processor(Settings.from_environ())
    return _processor


def reset() -> None:
    """Forget the cached processor (tests that change the environment call this)."""
    global _processor  # noqa: PLW0603
    _processor = None
