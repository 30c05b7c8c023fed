"""Logs and metrics as Lambda users expect them: aws-lambda-powertools' JSON Logger and
CloudWatch embedded-metric-format Metrics.

Every log line of an invocation carries the request id (``inject_lambda_context``) and the
batch's first and last sequence numbers; each batch emits Records, Applied, Skipped (in
total and by Reason), DeadLetters, FailedRecords, BatchDuration and StreamLag (now minus the
oldest ApproximateCreationDateTime). The template's alarms read these metric names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ddbproj.handlers.processor import BatchResult

__all__ = [
    "DEFAULT_NAMESPACE",
    "ENVIRONMENT_VARIABLES",
    "METRIC_NAMES",
    "SERVICE",
    "batch_keys",
    "logger",
    "metrics",
    "record_batch",
]

#: The logger name every ddbproj module logs to; Powertools formats it as JSON.
SERVICE = "ddbproj"
DEFAULT_NAMESPACE = "ddbproj"

#: The Powertools variables the template sets (beside the ones ``Settings`` reads).
ENVIRONMENT_VARIABLES = (
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
)

METRIC_NAMES = (
    "Records",
    "Applied",
    "Skipped",
    "DeadLetters",
    "FailedRecords",
    "BatchDuration",
    "StreamLag",
)

logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE,
)


def batch_keys(event: Any) -> dict[str, str | None]:
    """First and last sequence numbers of a Lambda event, read before any work, so that
    every line logged while the batch runs names it."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        return {"first_sequence_number": None, "last_sequence_number": None}
    return {
        "first_sequence_number": _sequence_number(records[0]),
        "last_sequence_number": _sequence_number(records[-1]),
    }


def _sequence_number(record: Any) -> str | None:
    change = record.get("dynamodb") if isinstance(record, Mapping) else None
    value = change.get("SequenceNumber") if isinstance(change, Mapping) else None
    return value if isinstance(value, str) else None


def record_batch(result: BatchResult, *, sink: Metrics | None = None) -> None:
    """Add one batch's metrics; they are flushed as EMF when the invocation ends."""
    target = sink or metrics
    target.add_metric(name="Records", unit=MetricUnit.Count, value=result.records)
    target.add_metric(name="Applied", unit=MetricUnit.Count, value=result.applied)
    target.add_metric(name="Skipped", unit=MetricUnit.Count, value=sum(result.skipped.values()))
    target.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=result.dead_lettered)
    target.add_metric(name="FailedRecords", unit=MetricUnit.Count,
                      value=len(result.failed_sequence_ids))
    target.add_metric(name="BatchDuration", unit=MetricUnit.Milliseconds,
                      value=round(result.duration_ms, 3))
    if result.lag_seconds is not None:
        target.add_metric(name="StreamLag", unit=MetricUnit.Seconds,
                          value=round(max(result.lag_seconds, 0.0), 3))
    dimensions = dict(target.default_dimensions)
    service = getattr(target, "service", None)
    if service:
        dimensions.setdefault("service", service)
    for reason, count in sorted(result.skipped.items()):
        if not count:
            continue
        with single_metric(name="Skipped", unit=MetricUnit.Count, value=count,
                           namespace=target.namespace,
                           default_dimensions=dimensions) as metric:
            metric.add_dimension(name="Reason", value=reason)
