"""Ray and the worker pool started beside Prefect's start, not after it.

A remaster called from the command line spends its first seconds in series: Prefect's
temporary server starts (one process busy, the other core idle), then the flow imports
what it needs, then Ray starts and the actors load their models. On short archives that
is a quarter of the wall time. An entry point that knows its settings (the CLI, the
bench) calls `warm_start` first: a background thread starts Ray and creates the actors
(their models load in their own processes) while Prefect's server comes up. The flow
then `claim`s them when its settings are the same ones (anything else, and they are
shut down and the flow starts its own, as without a warm start).

Given SRC and DEST, the thread first surveys the archive as the flow will
(flows.remaster.survey: the listing and the manifest, no download) and starts nothing
when every item is settled already (a nightly rerun over a done archive: no Ray, no
models loaded). Params remaster.warm_start switches it off.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass, field

_lock = threading.Lock()
_warm: WarmPools | None = None


class _NotMainThread(logging.Filter):
    """Drops Ray's note that a SIGTERM handler is set only from the main thread
    (`warm_start` sets the same handler there itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


@dataclass
class WarmPools:
    """Ray started (or connected) and `actors` item workers (tasks.actors.ItemWorker)
    created, by a background thread; `key` says which settings they were made for."""

    key: tuple
    model: tuple | None = None  # the (checkpoint, registry label) the workers loaded
    started: bool = False
    workers: list = field(default_factory=list)
    nothing_pending: bool = False  # the survey found every item settled: nothing started
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    # The thread that started Ray must outlive it: Ray's processes die with the thread
    # that spawned them (Linux PR_SET_PDEATHSIG), so it waits for this.
    ended: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        self.ready.wait()

    def end(self) -> None:
        """Let the starting thread end: Ray was shut down or is no longer ours to stop."""
        self.ended.set()

    def release(self) -> None:
        """Kill the actors and stop Ray where this warm start started it."""
        import ray

        self.wait()
        for actor in self.workers:
            ray.kill(actor, no_restart=True)
        self.workers = []
        if self.started:
            ray.shutdown()
            self.started = False
        self.end()


def _key(params, ray_address: str | None) -> tuple:
    return (params, ray_address)


def warm_start(params, ray_address: str | None = None, src: str | None = None,
               dest: str | None = None) -> WarmPools | None:
    """Start Ray and params.remaster.actors item workers in a background thread
    for a remaster with exactly these `params` (after any model or head override) and
    `ray_address`; None when params remaster.warm_start is off or Ray is already up.
    With `src` and `dest`, nothing is started when the archive has nothing to do."""
    global _warm
    import ray

    if not params.remaster.warm_start or ray.is_initialized():
        return None
    warm = WarmPools(key=_key(params, ray_address))
    logging.getLogger("ray._private.worker").addFilter(_NotMainThread())
    if threading.current_thread() is threading.main_thread():
        # what ray.init sets from the main thread: exit handlers (Ray's shutdown) run
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))

    def start() -> None:
        from flows.registry import resolve_model
        from flows.remaster import init_ray
        from tasks.actors import start_workers

        try:
            if src is not None and dest is not None and not _pending(src, dest, params):
                warm.nothing_pending = True
                warm.ready.set()
                warm.ended.set()
                return
            warm.model = resolve_model(params.generator.model)
            warm.started = init_ray(ray_address, params.remaster.idle_worker_keep_s)
            warm.workers = start_workers(params, params.remaster.actors, *warm.model)
        except BaseException as exc:  # noqa: BLE001 - the flow starts its own instead
            warm.error = exc
        warm.ready.set()
        warm.ended.wait()

    with _lock:
        _warm = warm
    threading.Thread(target=start, name="warm-start", daemon=True).start()
    return warm


def _pending(src: str, dest: str, params) -> bool:
    """Whether the remaster of SRC into DEST has anything to do; False also when SRC or
    DEST cannot be read (the flow's own survey then says why, in one line)."""
    from flows.remaster import survey

    try:
        return bool(survey(src, dest, params, "warm-start").pending)
    except Exception:  # noqa: BLE001 - the flow reports it; a warm start only helps
        return False


def claim(params, ray_address: str | None, actors: int, model: tuple | None = None
          ) -> WarmPools | None:
    """The warm pool if it was started for these settings and, given `model` (the flow's
    resolved (checkpoint, registry label)), loaded that same checkpoint: its first
    `actors` workers kept, the others killed. None otherwise, after releasing any that
    were started for other settings (a registry alias that moved between the warm
    start's resolution and the flow's: the flow records one version and must run it). A
    claimed warm start belongs to the caller, who calls its `end` once Ray is shut down
    (when `started`) or the pools are done."""
    global _warm
    import ray

    with _lock:
        warm, _warm = _warm, None
    if warm is None:
        return None
    warm.wait()
    if (warm.error is not None or warm.key != _key(params, ray_address) or actors < 1
            or warm.nothing_pending or (model is not None and warm.model != model)):
        if warm.error is not None:
            logging.getLogger(__name__).warning("warm start failed (%s); starting anew",
                                                warm.error)
        warm.release()
        return None
    for actor in warm.workers[actors:]:
        ray.kill(actor, no_restart=True)
    warm.workers = warm.workers[:actors]
    return warm


def release_unclaimed() -> None:
    """Release a warm start no flow claimed (the flow failed before it got there)."""
    global _warm
    with _lock:
        warm, _warm = _warm, None
    if warm is not None:
        warm.release()
