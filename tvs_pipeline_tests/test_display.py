"""The run display: plain lines without a TTY, a live rich line per path on one."""

from __future__ import annotations

import io

import pytest

from tvs_pipeline import display
from tvs_pipeline.display import RunDisplay, format_seconds
from tvs_pipeline.progress import DayCount, count_day, day_count, start_days


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (75.2, "1:15"), (3725, "1:02:05")], ids=str
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_days_are_counted_up_to_their_total():
    start_days(3)
    count_day()
    assert day_count() == DayCount(1, 3)
    count_day(5)
    assert day_count() == DayCount(3, 3)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_without_a_tty_each_step_is_a_line_and_a_quiet_step_says_so(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(display.time, "monotonic", clock)
    out = io.StringIO()
    with RunDisplay("nightly 1f2e3d4c", steps=2, days=40, stream=out) as shown:
        assert not shown.live
        shown.step_started("selection")
        clock.now += display.HEARTBEAT_SECONDS - 1
        shown.tick(DayCount(3, 40))  # quiet for less than a heartbeat: nothing
        clock.now += 2
        shown.tick(DayCount(12, 40))
        shown.step_finished("selection", True, 13.25)
        clock.now += display.HEARTBEAT_SECONDS + 1
        shown.tick(DayCount(40, 40))  # no step running: nothing
    assert out.getvalue().splitlines() == [
        f"  … {'selection':<22} day 12 of 40, 0:11 elapsed",
        f"  ✓ {'selection':<22}   13.2s",
    ]


def test_on_a_terminal_the_live_line_shows_step_days_and_estimate(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(display.time, "monotonic", clock)
    out = io.StringIO()
    with RunDisplay("nightly 1f2e3d4c", steps=4, days=40, stream=out, terminal=True) as shown:
        assert shown.live
        shown.step_started("discovery")
        clock.now += 10
        shown.step_finished("discovery", True, 10.0)
        shown.step_started("bars")
        shown.tick(DayCount(7, 40))
        task = shown._progress.tasks[0]
        assert task.description == "nightly 1f2e3d4c ▸ bars"
        assert (task.completed, task.total) == (1, 4)
        assert task.fields["days"] == "day 7 of 40"
        assert task.fields["eta"] == "~0:30 left"  # 10 s a step so far, 3 steps to go
    assert "✓ discovery" in out.getvalue()


def test_a_long_line_stays_one_line_without_a_tty():
    # A source's retry line names a URL and an error: a CI log must keep it on one line
    # (rich wraps at 80 columns when it cannot ask a terminal its width).
    out = io.StringIO()
    line = "  ↻ scanner us_equity_trend: retry 2/5 in 4 s: " + "x" * 150
    with RunDisplay("nightly 1f2e3d4c", steps=3, days=1, stream=out, terminal=False) as shown:
        shown.say(line)
    assert line in out.getvalue().splitlines()
