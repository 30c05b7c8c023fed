"""Backfill: the initial load of a table that already holds data.

A parallel ``Scan`` whose items become synthetic INSERTs ranked below every stream
record (docs/design.md, "The contract"), so a backfill running beside the stream consumer never
overwrites a newer change nor revives a deleted item. Each page's rows and its segment's
progress commit in one transaction: a stopped backfill resumes where it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import sqlalchemy as sa

from ddbproj.adapters.backfill_progress import BackfillProgress, SegmentProgress
from ddbproj.adapters.scanner import TableScanner
from ddbproj.core.plan import Tally, plan_batch
from ddbproj.core.records import ParsedBatch, scanned_item
from ddbproj.handlers.processor import BatchProcessor, paused_gc

__all__ = ["Backfill", "BackfillMismatch", "BackfillStats"]


@attrs.define
class BackfillStats:
    items: int = 0
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    pages: int = 0
    resumed_items: int = 0
    segments_done: int = 0
    complete: bool = False


class Backfill:
    """Scans one table in ``segments`` parallel segments into the SQL sink."""

    def __init__(
        self,
        processor: BatchProcessor,
        scanner: TableScanner,
        *,
        segments: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if segments < 1:
            raise ValueError("segments must be at least 1")
        self.processor = processor
        self.scanner = scanner
        self.segments = segments
        self.progress = progress
        self.store = BackfillProgress(processor.sink.engine, scanner.table_name)
        self._lock = threading.Lock()

    def state(self) -> dict[int, SegmentProgress]:
        return self.store.load()

    def run(
        self,
        *,
        restart: bool = False,
        stop: threading.Event | None = None,
        max_pages: int | None = None,
    ) -> BackfillStats:
        """Scan every unfinished segment; ``max_pages`` (per segment) and ``stop`` end it
        early, after a committed page, with the progress saved for the next run."""
        stop = stop or threading.Event()
        state = {} if restart else self.store.load()
        if not state:
            self.store.start(self.segments)
            state = self.store.load()
        totals = {p.total_segments for p in state.values()}
        if totals != {self.segments}:
            raise BackfillMismatch(
                f"a backfill of {self.scanner.table_name!r} with {totals.pop()} segments is in "
                f"progress; resume it with --segments {len(state)} or start over with --restart"
            )
        stats = BackfillStats(resumed_items=sum(p.items for p in state.values()))
        stats.segments_done = sum(1 for p in state.values() if p.done)
        key_names = self.scanner.key_names()
        pending = [p for p in state.values() if not p.done]
        if pending:
            with ThreadPoolExecutor(max_workers=len(pending),
                                    thread_name_prefix="backfill") as pool:
                futures = [pool.submit(self._segment, p, key_names, stats, stop, max_pages)
                           for p in pending]
                errors = []
                for future in futures:
                    try:
                        future.result()
                    except Exception as error:  # every segment stops; report the first
                        stop.set()
                        errors.append(error)
                if errors:
                    raise errors[0]
        stats.complete = stats.segments_done == self.segments
        return stats

    def _segment(
        self,
        progress: SegmentProgress,
        key_names: list[str],
        stats: BackfillStats,
        stop: threading.Event,
        max_pages: int | None,
    ) -> None:
        sink = self.processor.sink
        registry = self.processor.registry
        items = progress.items
        scan = self.scanner.pages(progress.segment, progress.total_segments,
                                  start_key=progress.last_key)
        for pages, page in enumerate(scan, start=1):
            with paused_gc():
                batch = ParsedBatch([scanned_item(item, key_names) for item in page.items], [])
            items += len(page.items)

            def record_progress(conn: sa.Connection, _: Tally, page_items: int = items,
                                last_key: Any = page.last_key) -> None:
                self.store.record(conn, progress.segment, last_key=last_key, items=page_items)

            with paused_gc():
                tally = sink.commit(plan_batch(batch, registry), also=record_progress)
            with self._lock:
                stats.pages += 1
                stats.items += len(page.items)
                stats.applied += tally.applied
                stats.skipped += sum(tally.skipped.values())
                stats.dead_lettered += len(tally.dead_letters)
                if page.last:
                    stats.segments_done += 1
                if self.progress is not None:
                    self.progress(stats.resumed_items + stats.items)
            if page.last or stop.is_set() or (max_pages is not None and pages >= max_pages):
                return


class BackfillMismatch(ValueError):
    """The stored progress belongs to a backfill with another segment count."""
