"""The path of one batch: parse, plan, apply, respond — shared by every entry point."""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import logging
import time
from collections.abc import Iterator
from typing import Any, TypedDict

import attrs

from ddbproj.adapters.checkpoints import Checkpoint
from ddbproj.adapters.errors import SinkError
from ddbproj.adapters.sink import SqlSink
from ddbproj.core.plan import BatchPlan, Tally, plan_batch
from ddbproj.core.records import ParsedBatch, parse_event
from ddbproj.core.registry import ProjectorRegistry

__all__ = ["BatchProcessor", "BatchResult", "PartialBatchResponse", "UnnamedRecords",
           "paused_gc"]

logger = logging.getLogger("ddbproj")


class _ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    """Lambda's partial-batch response; needs ``ReportBatchItemFailures`` on the mapping."""

    batchItemFailures: list[_ItemFailure]


@attrs.frozen
class BatchResult:
    records: int
    applied: int
    skipped: dict[str, int]
    dead_lettered: int
    failed_sequence_ids: tuple[str, ...] = ()
    error: str | None = None
    lag_seconds: float | None = None
    duration_ms: float = 0.0
    first_sequence_id: str | None = None
    last_sequence_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def response(self) -> PartialBatchResponse:
        """Every record from the first unapplied one on; Lambda resumes from the lowest."""
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed_sequence_ids]}

    def log_fields(self) -> dict[str, Any]:
        return {
            "message": "batch applied" if self.ok else "batch failed",
            "records": self.records,
            "applied": self.applied,
            "skipped": self.skipped,
            "dead_lettered": self.dead_lettered,
            "failed": len(self.failed_sequence_ids),
            "stream_lag_seconds": self.lag_seconds,
            "duration_ms": round(self.duration_ms, 1),
            "first_sequence_number": self.first_sequence_id,
            "last_sequence_number": self.last_sequence_id,
            **({"error": self.error} if self.error else {}),
        }


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Batch work allocates many short-lived objects and no cycles; the cyclic collector
    would otherwise run again and again over the whole heap (the largest single cost)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class UnnamedRecords(RuntimeError):
    """A failed batch holds a record without a sequence number: no partial-batch response
    could name it, so the invocation fails and Lambda retries the whole batch."""


class BatchProcessor:
    """Turns events into committed projections for one registry and one SQL sink."""

    def __init__(
        self, registry: ProjectorRegistry, sink: SqlSink, *, chunk_records: int | None = None
    ) -> None:
        self.registry = registry
        self.sink = sink
        #: records planned before their statements go to the database (``plan_batch``;
        #: None: a quarter of the batch, within ``core.plan.CHUNK_RECORDS``)
        self.chunk_records = chunk_records

    def process_event(self, event: Any, *, checkpoint: Checkpoint | None = None) -> BatchResult:
        """Apply a Lambda event (or a ``get_records`` page): parse, plan, commit, respond.

        Never raises for bad data; raises ``UnnamedRecords`` when nothing was committed and
        the response could not name every record."""
        started = time.perf_counter()
        error: str | None = None
        with paused_gc():
            batch = parse_event(event)
            plan = plan_batch(batch, self.registry, chunk_records=self.chunk_records)
            try:
                tally = self.sink.commit(plan, checkpoint=checkpoint)
            except SinkError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                tally = _uncommitted(plan)
            result = _result(batch, tally, error, started)
        if result.ok:
            _log_dead_letters(tally)
        _log_result(result)
        unnamed = result.records - len(result.failed_sequence_ids)
        if not result.ok and unnamed:
            raise UnnamedRecords(
                f"the batch failed ({result.error}) and {unnamed} "
                "of its records have no sequence number to report: failing the invocation "
                "so that the whole batch is retried")
        return result


def _uncommitted(plan: BatchPlan) -> Tally:
    """The counts of a batch that committed nothing, planned without a database."""
    try:
        return plan.tally()
    except Exception:  # counting must not hide the database error
        return Tally()


def _log_result(result: BatchResult) -> None:
    level = logging.INFO if result.ok else logging.ERROR
    fields = result.log_fields()
    message = fields.pop("message")
    summary = " ".join(f"{name}={json.dumps(value, default=str)}"
                       for name, value in fields.items())
    # plain handlers (the CLI) print the summary; Powertools' JSON formatter (the Lambda)
    # also gets every field as a key of the log line
    logger.log(level, "%s %s", message, summary, extra=fields)


def _result(batch: ParsedBatch, tally: Tally, error: str | None, started: float) -> BatchResult:
    lag = None
    oldest = min((r.created_at for r in batch.records if r.created_at is not None),
                 default=None)
    if oldest is not None:
        lag = (datetime.datetime.now(datetime.UTC) - oldest).total_seconds()
    records = batch.records
    return BatchResult(
        records=len(records) + len(batch.malformed),
        applied=tally.applied if error is None else 0,
        skipped=dict(tally.skipped),
        dead_lettered=len(tally.dead_letters) if error is None else 0,
        failed_sequence_ids=tuple(_sequence_ids(batch)) if error is not None else (),
        error=error,
        lag_seconds=lag,
        duration_ms=(time.perf_counter() - started) * 1000,
        first_sequence_id=records[0].sequence_id if records else None,
        last_sequence_id=records[-1].sequence_id if records else None,
    )


def _sequence_ids(batch: ParsedBatch) -> Iterator[str]:
    """Every record's sequence id: with nothing committed, all of them must come again."""
    for record in batch.records:
        if record.sequence_id:
            yield record.sequence_id
    for malformed in batch.malformed:
        if isinstance(malformed.sequence_id, str) and malformed.sequence_id:
            yield malformed.sequence_id


def _log_dead_letters(tally: Tally) -> None:
    """Each stored dead letter's error also reaches the logs, where alarms and people look."""
    for letter in tally.dead_letters:
        logger.warning("dead letter: %s", letter.error, extra={
            "record_id": letter.record_id, "entity_type": letter.entity_type,
            "table": letter.table, "sequence_number": letter.sequence_number,
        })
