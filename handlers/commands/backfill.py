"""``ddbproj backfill --table T``: the initial load of a table that already holds data.

A parallel ``Scan`` whose items become synthetic INSERTs ranked below every stream
record (DESIGN.md, contract 1), so a backfill running beside the stream consumer never
overwrites a newer change nor revives a deleted item. Each page's rows and its segment's
progress commit in one transaction: a stopped backfill resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

import attrs
import sqlalchemy as sa

from adapters.backfill_progress import BackfillProgress, SegmentProgress
from adapters.errors import SinkError
from adapters.scanner import TableScanner
from core.plan import plan_batch
from core.records import ParsedBatch, scanned_item
from handlers.commands.common import (
    CommandError,
    add_aws_options,
    add_database_options,
    aws_client,
    open_processor,
    stop_on_sigint,
)
from handlers.processor import BatchProcessor, paused_gc

__all__ = ["Backfill", "BackfillStats", "ProgressMeter"]


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


class ProgressMeter:
    """A one-line bar with items/s and ETA on a terminal; a log line every few seconds
    otherwise (CI logs and files do not want carriage returns)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        out: TextIO | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.out = out if out is not None else sys.stderr
        self.tty = self.out.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.clock = clock
        self.started = clock()
        self.shown = 0.0
        self.done = 0

    def update(self, done: int, *, final: bool = False) -> None:
        self.done = done
        now = self.clock()
        if not final and now - self.shown < self.interval:
            return
        self.shown = now
        line = self.line(now)
        if self.tty:
            self.out.write("\r" + line.ljust(79) + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if not self.total:
            return f"{self.label} {self.done:,} items  {rate:,.0f} items/s  {elapsed:.0f}s"
        fraction = min(self.done / self.total, 1.0)
        eta = (self.total - self.done) / rate if rate and self.done < self.total else 0.0
        bar = "#" * int(fraction * 20)
        return (f"{self.label} [{bar:<20}] {self.done:,}/{self.total:,} {fraction:4.0%}  "
                f"{rate:,.0f} items/s  ETA {eta:.0f}s")


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
        self.store = BackfillProgress(processor.sink.engine, processor.sink.metadata,
                                      scanner.table_name)
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
                plan = plan_batch(batch, registry)
            items += len(page.items)

            def work(conn: sa.Connection, page_items: int = items,
                     last_key: Any = page.last_key, plan: Any = plan) -> None:
                sink.write(conn, plan)
                self.store.record(conn, progress.segment, last_key=last_key, items=page_items)

            sink.run_in_transaction(work)
            with self._lock:
                stats.pages += 1
                stats.items += len(page.items)
                stats.applied += plan.applied
                stats.skipped += sum(plan.skipped.values())
                stats.dead_lettered += len(plan.dead_letters)
                if page.last:
                    stats.segments_done += 1
                if self.progress is not None:
                    self.progress(stats.resumed_items + stats.items)
            if page.last or stop.is_set() or (max_pages is not None and pages >= max_pages):
                return


class BackfillMismatch(ValueError):
    """The stored progress belongs to a backfill with another segment count."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "backfill", help="load a table's existing items into SQL (parallel Scan, resumable)",
        description="Scan the table in parallel segments and apply every item as an image "
        "older than any stream record. Safe beside the stream consumer; stopped (Ctrl-C) or "
        "failed, it resumes from the last committed page of each segment.",
    )
    parser.add_argument("--table", required=True, help="DynamoDB table name")
    parser.add_argument("--segments", type=int, default=4,
                        help="parallel Scan segments (default 4)")
    parser.add_argument("--page-size", type=int, default=None,
                        help="items per Scan call (default: DynamoDB's 1 MB pages)")
    parser.add_argument("--restart", action="store_true",
                        help="forget the stored progress and scan the whole table again")
    add_aws_options(parser)
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    if args.segments < 1:
        raise CommandError("--segments must be at least 1")
    processor = open_processor(args)
    scanner = TableScanner(aws_client(args, "dynamodb"), args.table, page_limit=args.page_size)
    try:
        total = scanner.item_count()
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"cannot describe table {args.table!r}: {error}") from error
    meter = ProgressMeter(f"backfill {args.table}", total)
    backfill = Backfill(processor, scanner, segments=args.segments, progress=meter.update)
    if not args.restart:
        state = backfill.state()
        if state and all(p.done for p in state.values()):
            print(f"backfill {args.table}: already complete "
                  f"({sum(p.items for p in state.values())} items); --restart scans again")
            return 0
    stop = threading.Event()
    started = time.perf_counter()
    try:
        with stop_on_sigint(stop, "the backfill"):
            stats = backfill.run(restart=args.restart, stop=stop)
    except BackfillMismatch as error:
        raise CommandError(str(error)) from error
    except SinkError as error:
        raise CommandError(f"the database refused a page ({error}); nothing of it was "
                           "committed: run the same command again to resume") from error
    except (BotoCoreError, ClientError) as error:
        raise CommandError(f"scanning {args.table!r} failed: {error}; run the same command "
                           "again to resume") from error
    meter.update(stats.resumed_items + stats.items, final=True)
    verdict = "complete" if stats.complete else "stopped; run the same command to resume"
    print(f"backfill {args.table}: {verdict}: {stats.items} items in {stats.pages} pages "
          f"({stats.resumed_items} before resuming), {stats.applied} applied, "
          f"{stats.skipped} skipped, {stats.dead_lettered} dead letters, "
          f"{time.perf_counter() - started:.1f}s")
    return 0 if stats.complete or stop.is_set() else 1
