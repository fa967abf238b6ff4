"""How far the running step is through its days, for whoever displays a run's progress."""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["DayCount", "count_day", "day_count", "start_days"]


@dataclass(frozen=True)
class DayCount:
    """Days done of the days the current step walks (0 of 0 before any step counts)."""

    done: int = 0
    total: int = 0


_lock = threading.Lock()
_current = [DayCount()]


def start_days(total: int) -> None:
    """A step starts walking ``total`` days (`defs.days.run_days` calls it)."""
    with _lock:
        _current[0] = DayCount(0, total)


def count_day(days: int = 1) -> None:
    """``days`` more days of the current step are done."""
    with _lock:
        now = _current[0]
        _current[0] = DayCount(min(now.done + days, now.total), now.total)


def day_count() -> DayCount:
    """The current step's days done and total."""
    with _lock:
        return _current[0]
