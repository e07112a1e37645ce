"""Progress for the person running a command (remaster, evaluate, synth, bench): a rich
progress bar on a terminal, plain log lines otherwise (CI, cron, a log file).

Both show items finished of those to process (done / failed / in other runs), the audio
processed per second of wall time, and the time left at the pace so far.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import IO

log = logging.getLogger("binaural.progress")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


class ItemProgress:
    """Counts finished items (e.g. as a tasks.progress sink) and shows them; a context
    manager.

    `terminal` None: decided from `stream` (sys.stderr) being a terminal. `lines` False:
    no log line per item off a terminal (for commands that log their own).
    """

    def __init__(self, total: int, terminal: bool | None = None, stream: IO | None = None,
                 clock=time.monotonic, logger: logging.Logger | logging.LoggerAdapter = log,
                 width: int | None = None, lines: bool = True):
        self.total = total
        self.lines = lines
        self.width = width  # of the bar's console; None: the terminal's
        self.log = logger
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.clock = clock
        self.done = self.failed = self.other = 0
        self.audio_s = 0.0
        self._lock = threading.Lock()
        self._start = clock()
        self._bar = self._task = None

    # ------------------------------------------------------------------ figures
    @property
    def finished(self) -> int:
        return self.done + self.failed + self.other

    def rate(self) -> float:
        """Audio seconds rendered per second of wall time so far."""
        elapsed = self.clock() - self._start
        return self.audio_s / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        elapsed = self.clock() - self._start
        if not self.finished or elapsed <= 0:
            return None
        return elapsed / self.finished * (self.total - self.finished)

    def counts(self) -> str:
        return f"{self.done} done, {self.failed} failed, {self.other} in other runs"

    def short_counts(self) -> str:
        """counts() for the bar, which an 80-column terminal must hold."""
        return f"{self.done} done {self.failed} failed {self.other} other"

    def line(self) -> str:
        return (f"{self.finished}/{self.total} items ({self.counts()}); "
                f"{self.rate():.2f} audio s/s; ETA {format_duration(self.eta_s())}")

    # ------------------------------------------------------------------ the sink
    def item(self, item: dict) -> None:
        with self._lock:
            status = item.get("status")
            if status == "done":
                self.done += 1
                self.audio_s += float((item.get("report") or {}).get("duration_s") or 0.0)
            elif status == "failed":
                self.failed += 1
            else:
                self.other += 1
            if self._bar is not None:
                self._bar.update(self._task, completed=self.finished, total=self.total,
                                 counts=self.short_counts(), rate=f"{self.rate():.2f} audio-s/s")
            elif self.lines:
                self.log.info("%s: %s", item.get("key"), self.line())

    def __enter__(self) -> ItemProgress:
        if self.terminal and self.total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            console = Console(file=self.stream, force_terminal=True, width=self.width)
            self._bar = Progress(BarColumn(bar_width=20), MofNCompleteColumn(),
                                 TextColumn("{task.fields[counts]}"),
                                 TextColumn("{task.fields[rate]}"), TextColumn("ETA"),
                                 TimeRemainingColumn(compact=True), console=console)
            self._bar.start()
            self._task = self._bar.add_task("remaster", total=self.total,
                                            counts=self.short_counts(), rate="- audio-s/s")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.lines:
            self.log.info("finished: %s", self.line())
