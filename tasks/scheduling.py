"""Which item goes first, and onto which actor: no short clip waits behind a long one.

Two causes of head-of-line blocking are removed here:

- Items were bound to actors by their index (item i on actor i mod N), so every item that
  fell on the actor busy with an hour-long clip waited for it while the other actors
  idled. `ActorPool` hands out whichever actor is free.
- Items ran in name order. With two or more actors they now run longest first (LPT: the
  long items start at once on some actors while the short ones flow through the others,
  and the batch ends soonest); with one actor, shortest first (SPT: on one machine the
  batch takes as long in any order, and this order finishes each short clip earliest).
  The size of the source file stands for its duration: it is known from the listing,
  before anything is downloaded.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager


class ActorPool:
    """Actors handed out one at a time to whichever item asks while one is free."""

    def __init__(self, actors: Sequence) -> None:
        if not actors:
            raise ValueError("an actor pool needs at least one actor")
        self.actors = list(actors)
        self._free: queue.Queue = queue.Queue()
        for actor in self.actors:
            self._free.put(actor)

    def __len__(self) -> int:
        return len(self.actors)

    @contextmanager
    def take(self) -> Iterator:
        """A free actor for the duration of the block (waits while all are busy)."""
        actor = self._free.get()
        try:
            yield actor
        finally:
            self._free.put(actor)


def as_pool(actors) -> ActorPool:
    """An ActorPool as is; a list of actors or a single actor wrapped in one."""
    if isinstance(actors, ActorPool):
        return actors
    return ActorPool(actors if isinstance(actors, (list, tuple)) else [actors])


def schedule(keys: Sequence[str], sizes: Mapping[str, int], actors: int) -> list[str]:
    """`keys` in the order to start them: longest first with two or more actors, shortest
    first with one (module docstring); names break ties, unknown sizes count as 0."""
    sign = -1 if actors > 1 else 1
    return sorted(keys, key=lambda k: (sign * sizes.get(k, 0), k))


class ProgressLog:
    """Logs an item's seconds of audio done every `every_s` of audio, so that a long item
    shows where it is (the worker actor's lines reach the driver's console)."""

    def __init__(self, name: str, total_s: float, every_s: float) -> None:
        self.name, self.total_s, self.every_s = name, total_s, every_s
        self.next_s = every_s
        self.lines: list[str] = []

    def __call__(self, done_s: float) -> None:
        if self.every_s <= 0 or done_s < self.next_s:
            return
        self.next_s = (done_s // self.every_s + 1) * self.every_s
        line = (f"{self.name}: {done_s:.0f} of {self.total_s:.0f} s of audio rendered "
                f"({100 * done_s / max(self.total_s, 1e-9):.0f}%)")
        self.lines.append(line)
        _progress_logger().info(line)


def _progress_logger() -> logging.Logger:
    """INFO lines on stderr, whatever the worker process's root logging says."""
    logger = logging.getLogger("tasks.scheduling.progress")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s progress %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
