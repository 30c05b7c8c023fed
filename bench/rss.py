"""Resident memory of this process, from /proc (Linux): now, peak, and a peak reset."""

from __future__ import annotations

import re

_MIB = 1024 * 1024


def _status(field: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            found = re.search(rf"^{field}:\s+(\d+) kB", handle.read(), re.MULTILINE)
    except OSError:
        return float("nan")
    return int(found.group(1)) * 1024 / _MIB if found else float("nan")


def current_mib() -> float:
    return _status("VmRSS")


def peak_mib() -> float:
    return _status("VmHWM")


def reset_peak() -> None:
    """Start a new peak from the current RSS (``clear_refs`` 5, Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass
