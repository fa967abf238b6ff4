"""A run's progress on the terminal: a live rich display, or plain lines when not on a TTY."""

from __future__ import annotations

import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tvs_pipeline.progress import DayCount

__all__ = ["HEARTBEAT_SECONDS", "RunDisplay", "format_seconds"]

# Without a TTY, a line every this many seconds while a step is quiet (a CI log shows life).
HEARTBEAT_SECONDS = 10.0


def format_seconds(seconds: float) -> str:
    """``75.2`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RunDisplay:
    """The progress of one run (one path): its steps, the current step's days, the times.

    On a terminal, a rich progress line per run: the step being computed, steps done of all,
    days done of the run's days, elapsed and an estimate (from the steps done so far), above
    which each finished step leaves a line. Elsewhere (a pipe, a CI log) plain lines: one per
    finished step, and one every `HEARTBEAT_SECONDS` while a step runs without finishing.

    Parameters
    ----------
    title : str
        The run, as shown (``nightly 1f2e3d4c``).
    steps : int
        The run's steps.
    days : int
        The run's partition days.
    stream : file
        Where to draw (the command's own copy of stderr: the run's step logs take fd 2).
    terminal : bool, optional
        Force the live display on or off (default: whether ``stream`` is a TTY).
    """

    def __init__(
        self,
        title: str,
        steps: int,
        days: int,
        stream: TextIO,
        terminal: bool | None = None,
    ) -> None:
        self.title, self.steps, self.days = title, max(steps, 1), days
        self.console = Console(file=stream, force_terminal=terminal, highlight=False)
        self.live = self.console.is_terminal
        self.started = time.monotonic()
        self.done = 0
        self.current = ""
        self._said = self.started
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RunDisplay:
        if self.live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("steps · {task.fields[days]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[eta]}"),
                console=self.console,
                refresh_per_second=4,
                # The run's stdout and stderr are its step logs (the compute log manager
                # redirects their descriptors): leave them alone.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.title, total=self.steps, days=self._days_text(DayCount()), eta=""
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=self.title)
            self._progress.stop()

    def step_started(self, step: str) -> None:
        """A step began."""
        self.current = step
        self._said = time.monotonic()
        self._update(DayCount())

    def step_finished(self, step: str, ok: bool, at: float) -> None:
        """A step ended (``at``: seconds since the run started); it leaves a line."""
        self.done += 1
        mark = "✓" if ok else "✗"
        self.console.print(f"  {mark} {step:<22} {at:6.1f}s", markup=False, highlight=False)
        self._said = time.monotonic()
        if step == self.current:
            self.current = ""
        self._update(DayCount())

    def tick(self, days: DayCount) -> None:
        """Refresh with the current step's days; without a TTY, a line now and then."""
        if self.live:
            self._update(days)
            return
        now = time.monotonic()
        if self.current and now - self._said >= HEARTBEAT_SECONDS:
            self.console.print(
                f"  … {self.current:<22} {self._days_text(days)}, "
                f"{format_seconds(now - self.started)} elapsed",
                markup=False,
                highlight=False,
            )
            self._said = now

    def say(self, line: str) -> None:
        """A line above the live display (or plain)."""
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _days_text(self, days: DayCount) -> str:
        if days.total and self.current:
            return f"day {days.done} of {days.total}"
        return f"{self.days} day{'s' if self.days != 1 else ''}"

    def _update(self, days: DayCount) -> None:
        if self._progress is None:
            return
        elapsed = time.monotonic() - self.started
        eta = ""
        if 0 < self.done < self.steps:
            eta = f"~{format_seconds(elapsed / self.done * (self.steps - self.done))} left"
        description = f"{self.title} ▸ {self.current}" if self.current else self.title
        self._progress.update(
            self._task,
            completed=self.done,
            description=description,
            days=self._days_text(days),
            eta=eta,
        )
