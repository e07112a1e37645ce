"""Where finished items are announced while a remaster runs (a progress bar, log lines).

The flow registers a sink for its run id; the shard tasks, which run in the flow's
process (Prefect's thread pool), announce each finished item to it. Nothing is sent
when no sink is registered (e.g. a shard run on its own).
"""

from __future__ import annotations

import threading
from typing import Protocol


class ProgressSink(Protocol):
    def item(self, item: dict) -> None: ...


_sinks: dict[str, ProgressSink] = {}
_lock = threading.Lock()


def register(run_id: str, sink: ProgressSink) -> None:
    with _lock:
        _sinks[run_id] = sink


def unregister(run_id: str) -> None:
    with _lock:
        _sinks.pop(run_id, None)


def item_finished(run_id: str, item: dict) -> None:
    """Announce one finished item (its summary line) to the run's sink, if any."""
    with _lock:
        sink = _sinks.get(run_id)
    if sink is not None:
        sink.item(item)
