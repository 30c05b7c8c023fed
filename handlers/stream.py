"""The Lambda function: ``handlers.stream.handler`` for a DynamoDB stream event source.

Enable ``ReportBatchItemFailures`` on the event source mapping: without it the response
below counts as full success and failed records are lost.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.processor import BatchProcessor, PartialBatchResponse
from handlers.runtime import build_processor
from handlers.settings import Settings

__all__ = ["handler"]

logging.getLogger("ddbproj").setLevel(logging.INFO)

_processor: BatchProcessor | None = None


def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
    """Project one batch; the response names the records Lambda must deliver again."""
    return _get_processor().process_event(event).response


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
