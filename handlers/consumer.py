"""The stream consumer: what the Lambda event source mapping does, as a service of ours.

Every page of ``get_records`` goes through the same batch path as the Lambda handler, and
the shard's checkpoint is committed in the same transaction as the page's rows: a crash
at any moment neither skips nor repeats a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from ddbproj.adapters.checkpoints import Checkpoint
from ddbproj.adapters.stream_reader import (
    DataTrimmed,
    IteratorExpired,
    Page,
    Shard,
    StartPosition,
    StreamReader,
    ready_shards,
)
from ddbproj.core.filters import EventFilter
from ddbproj.handlers.processor import BatchProcessor, BatchResult, UnnamedRecords

__all__ = ["ConsumerFailed", "ConsumerStats", "StreamConsumer"]

logger = logging.getLogger("ddbproj")

#: Pages read from one shard before the others get their turn.
PAGES_PER_TURN = 100


class ConsumerFailed(Exception):
    """A page could not be committed after retries; its checkpoint was not moved."""


@attrs.define
class ConsumerStats:
    pages: int = 0
    records: int = 0
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    filtered: int = 0
    shards_finished: int = 0
    shard_order: list[str] = attrs.Factory(list)

    def add(self, result: BatchResult) -> None:
        self.pages += 1
        self.records += result.records
        self.applied += result.applied
        self.skipped += sum(result.skipped.values())
        self.dead_lettered += result.dead_lettered


class StreamConsumer:
    """Follows every shard of one stream, parents before children, into the SQL sink."""

    def __init__(
        self,
        processor: BatchProcessor,
        reader: StreamReader,
        *,
        start: StartPosition = StartPosition.TRIM_HORIZON,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 10.0,
        sleep: Callable[[float], Any] = time.sleep,
        on_page: Callable[[Shard, BatchResult], None] | None = None,
        event_filter: EventFilter | None = None,
    ) -> None:
        self.processor = processor
        self.reader = reader
        self.start = start
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.sleep = sleep
        self.on_page = on_page
        self.event_filter = event_filter

    @property
    def stream_arn(self) -> str:
        return self.reader.stream_arn

    def run(
        self,
        *,
        until_idle: bool = False,
        max_pages: int | None = None,
        stop: threading.Event | None = None,
    ) -> ConsumerStats:
        """Read until every shard is at its end (``until_idle``), ``max_pages`` pages were
        applied, or ``stop`` is set — always between pages, never inside one."""
        stop = stop or threading.Event()
        stats = ConsumerStats()
        checkpoints = self.processor.sink.checkpoints(self.stream_arn)
        positions = {shard_id: cp.sequence_number for shard_id, cp in checkpoints.items()}
        finished = {shard_id for shard_id, cp in checkpoints.items() if cp.finished}
        # LATEST applies only to a consumer's very first look at the stream: shards born
        # later (children) must be read from their start, or their first records are lost
        first_start = self.start if not checkpoints else StartPosition.TRIM_HORIZON
        iterators: dict[str, str] = {}
        backoff = self.backoff_seconds
        first_round = True
        while not stop.is_set():
            shards = self.reader.shards()
            progressed = False
            for shard in ready_shards(shards, finished):
                start = first_start if first_round else StartPosition.TRIM_HORIZON
                for _ in range(PAGES_PER_TURN):
                    if stop.is_set() or (max_pages is not None and stats.pages >= max_pages):
                        return stats
                    page = self._next_page(shard, iterators, positions, start)
                    if page is None:
                        break
                    if page.records or page.shard_finished:
                        self._apply(shard, page, positions, stats)
                        progressed = True
                    if page.shard_finished:
                        finished.add(shard.shard_id)
                        iterators.pop(shard.shard_id, None)
                        stats.shards_finished += 1
                        break
                    iterators[shard.shard_id] = str(page.next_iterator)
                    if not page.records:
                        break
            first_round = False
            if progressed:
                backoff = self.backoff_seconds
                continue
            if until_idle:
                return stats
            self.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)
        return stats

    def _next_page(
        self,
        shard: Shard,
        iterators: dict[str, str],
        positions: dict[str, str | None],
        start: StartPosition,
    ) -> Page | None:
        iterator = iterators.get(shard.shard_id)
        after = positions.get(shard.shard_id)
        if iterator is None:
            try:
                iterator = self.reader.iterator(shard, after=after, start=start)
            except DataTrimmed as error:
                logger.error("%s; reading the shard from its trim horizon: run 'ddbproj "
                             "backfill' to recover the items changed in between", error)
                iterator = self.reader.iterator(shard, start=StartPosition.TRIM_HORIZON)
        try:
            return self.reader.read(iterator)
        except IteratorExpired:
            iterators.pop(shard.shard_id, None)
            return None

    def _apply(
        self, shard: Shard, page: Page, positions: dict[str, str | None], stats: ConsumerStats
    ) -> None:
        sequence = page.last_sequence_id or positions.get(shard.shard_id)
        checkpoint = Checkpoint(self.stream_arn, shard.shard_id, sequence,
                                finished=page.shard_finished)
        records = page.records
        if self.event_filter is not None:
            records, dropped = self.event_filter.split(records)
            stats.filtered += len(dropped)
        event = {"Records": records}
        for attempt in range(self.retries + 1):
            try:
                result = self.processor.process_event(event, checkpoint=checkpoint)
            except UnnamedRecords as error:
                failure = str(error)
            else:
                if result.ok:
                    break
                failure = str(result.error)
            if attempt == self.retries:
                raise ConsumerFailed(
                    f"shard {shard.shard_id}: a page of {len(page.records)} records could not "
                    f"be committed ({failure}); the checkpoint stays at "
                    f"{positions.get(shard.shard_id) or 'the start of the shard'}"
                )
            self.sleep(self.backoff_seconds * 2 ** attempt)
        positions[shard.shard_id] = sequence
        if not stats.shard_order or stats.shard_order[-1] != shard.shard_id:
            stats.shard_order.append(shard.shard_id)
        stats.add(result)
        if self.on_page is not None:
            self.on_page(shard, result)
