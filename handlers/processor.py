"""The path of one batch: parse, plan, apply, respond — shared by every entry point."""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import attrs

from adapters.errors import SinkError
from adapters.sink import Checkpoint, SqlSink
from core.plan import BatchPlan, TableChanges, plan_batch
from core.records import ParsedBatch, parse_event
from core.registry import ProjectorRegistry

__all__ = ["BatchProcessor", "BatchResult", "PartialBatchResponse", "paused_gc",
           "quick_thread_switches"]

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


@contextlib.contextmanager
def quick_thread_switches(interval: float = 0.0002) -> Iterator[None]:
    """The SQL writer thread waits on the server while this thread plans; when a statement
    is done it needs the interpreter lock back at once, not after the default 5 ms switch
    interval, or the next chunk's statement waits behind planning."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


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
        """Apply a Lambda event (or a ``get_records`` page); never raises for bad data."""
        started = time.perf_counter()
        with paused_gc(), quick_thread_switches():
            batch = parse_event(event)
            plan, error = self._apply(batch, checkpoint)
            result = _result(batch, plan, error, started)
        if result.ok:
            _log_dead_letters(plan)
        level = logging.INFO if result.ok else logging.ERROR
        fields = result.log_fields()
        message = fields.pop("message")
        summary = " ".join(f"{name}={json.dumps(value, default=str)}"
                           for name, value in fields.items())
        # plain handlers (the CLI) print the summary; Powertools' JSON formatter (the Lambda)
        # also gets every field as a key of the log line
        logger.log(level, "%s %s", message, summary, extra=fields)
        return result

    def _apply(
        self, batch: ParsedBatch, checkpoint: Checkpoint | None
    ) -> tuple[BatchPlan, str | None]:
        """Plan and write the batch, chunk by chunk (``SqlSink.apply_planning``); the plan
        (its counts and dead letters) and the error that stopped the batch, if any."""
        planned: list[BatchPlan] = []

        def planning(write_chunk: Callable[[dict[str, TableChanges]], None]) -> BatchPlan:
            plan = plan_batch(batch, self.registry, on_chunk=write_chunk,
                              chunk_records=self.chunk_records)
            planned[:] = [plan]
            return plan

        try:
            self.sink.apply_planning(planning, checkpoint=checkpoint)
        except SinkError as exc:
            # nothing was committed; without a plan (no connection at all) count anyway
            plan = planned[0] if planned else plan_batch(batch, self.registry)
            return plan, f"{type(exc).__name__}: {exc}"
        return planned[0], None


def _result(
    batch: ParsedBatch, plan: BatchPlan, error: str | None, started: float
) -> BatchResult:
    lag = None
    if plan.oldest_created_at is not None:
        lag = (datetime.datetime.now(datetime.UTC) - plan.oldest_created_at).total_seconds()
    return BatchResult(
        records=plan.records,
        applied=plan.applied if error is None else 0,
        skipped=dict(plan.skipped),
        dead_lettered=len(plan.dead_letters) if error is None else 0,
        failed_sequence_ids=tuple(_sequence_ids(batch)) if error is not None else (),
        error=error,
        lag_seconds=lag,
        duration_ms=(time.perf_counter() - started) * 1000,
        first_sequence_id=plan.first_sequence_id,
        last_sequence_id=plan.last_sequence_id,
    )


def _sequence_ids(batch: ParsedBatch) -> Iterator[str]:
    """Every record's sequence id: with nothing committed, all of them must come again."""
    for record in batch.records:
        yield record.sequence_id
    for malformed in batch.malformed:
        if malformed.sequence_id:
            yield malformed.sequence_id


def _log_dead_letters(plan: BatchPlan) -> None:
    """Each stored dead letter's error also reaches the logs, where alarms and people look."""
    for letter in plan.dead_letters:
        logger.warning("dead letter: %s", letter.error, extra={
            "record_id": letter.record_id, "entity_type": letter.entity_type,
            "table": letter.table, "sequence_number": letter.sequence_number,
        })
