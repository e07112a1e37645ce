"""Fault injection for drills and tests: kill one of this run's own Ray workers."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil

from binaural.io.storage import open_location


def kill_own_worker(prefix: str) -> int | None:
    """SIGKILL the first descendant process whose title starts with `prefix` (e.g.
    'ray::ItemWorker'); only this process's own Ray cluster is touched."""
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            continue
        if cmd.startswith(prefix):
            os.kill(proc.pid, signal.SIGKILL)
            return proc.pid
    return None


def kill_when_first_done(dest_uri: str, stop: threading.Event, killed: list,
                         prefix: str = "ray::ItemWorker", delay_s: float = 0.0) -> None:
    """Wait until DEST's manifest holds a record, then kill one worker once (run in a thread)."""
    loc = open_location(dest_uri)
    while not stop.is_set() and not killed:
        loc.fs.invalidate_cache()
        if loc.fs.exists(f"{loc.root}/manifest") and any(
                "/items/" in p for p in loc.fs.find(f"{loc.root}/manifest")):
            time.sleep(delay_s)
            pid = kill_own_worker(prefix)
            if pid is not None:
                killed.append(pid)
                return
        time.sleep(0.3)
