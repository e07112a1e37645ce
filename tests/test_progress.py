"""The remaster's progress: a rich bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import io
import logging

from flows.progress import ItemProgress, format_duration
from tasks import progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _done(key: str, seconds: float) -> dict:
    return {"key": key, "status": "done", "report": {"duration_s": seconds}}


def _feed(shown: ItemProgress, clock: Clock) -> None:
    """Through tasks.progress, as the shard tasks announce items."""
    progress.register("run-1", shown)
    try:
        for i in range(3):
            clock.now += 10.0
            progress.item_finished("run-1", _done(f"clip{i}.mp4", 30.0))
        clock.now += 10.0
        progress.item_finished("run-1", {"key": "bad.mp4", "status": "failed", "error": "x"})
        progress.item_finished("run-1", {"key": "c.mp4", "status": "skipped",
                                         "reason": "claimed by another run"})
    finally:
        progress.unregister("run-1")
    progress.item_finished("run-1", _done("late.mp4", 1.0))  # no sink: not counted


def test_plain_lines_when_not_a_terminal(caplog):
    clock, stream = Clock(), io.StringIO()
    logger = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        with ItemProgress(10, stream=stream, clock=clock, logger=logger) as shown:
            _feed(shown, clock)
    assert not shown.terminal and stream.getvalue() == ""  # no bar drawn into a log
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "clip0.mp4: 1/10 items (1 done, 0 failed, 0 in other runs); " \
                       "3.00 audio s/s; ETA 01:30"
    assert lines[-1] == "finished: 5/10 items (3 done, 1 failed, 1 in other runs); " \
                        "2.25 audio s/s; ETA 00:40"


def test_a_bar_on_a_terminal():
    clock, stream = Clock(), io.StringIO()
    with ItemProgress(10, terminal=True, stream=stream, clock=clock, width=80) as shown:
        _feed(shown, clock)
    last = stream.getvalue().split("\r")[-1]  # the bar as last drawn, on 80 columns
    assert "5/10" in last and "3 done 1 failed 1 other" in last
    assert "2.25 audio-s/s" in last and "ETA" in last


def test_format_duration():
    assert format_duration(None) == "--:--"
    assert format_duration(59.6) == "01:00"
    assert format_duration(3725) == "1:02:05"
