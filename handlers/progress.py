"""A progress display for long commands (backfill, verify) on a terminal or in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressMeter"]


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
