"""Prefect tasks of a remaster: each hands one video to the Ray actors and waits."""

from __future__ import annotations

import time

import ray
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE


def one_line_reason(exc: BaseException, path: str) -> str:
    """'<file>: <reason>' on one line, unwrapping Ray's task errors."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if not text.startswith(str(path)):
        text = f"{path}: {type(cause).__name__}: {text}"
    return text


@task(name="remaster-video", cache_policy=NO_CACHE, retries=0)
def remaster_video(path: str, dest: str, name: str, reference: str | None,
                   detector, renderer) -> dict:
    """Localize then render one video; a failure is returned as a record, not raised,
    so one bad item never stops the batch."""
    logger = get_run_logger()
    start = time.perf_counter()
    try:
        localization = detector.localize.remote(path)
        report = ray.get(renderer.render.remote(path, localization, dest, name, reference))
    except Exception as exc:  # noqa: BLE001 - every failure becomes the item's reason
        reason = one_line_reason(exc, path)
        logger.error("FAILED %s", reason)
        return {"name": name, "input": path, "status": "failed", "error": reason}
    seconds = time.perf_counter() - start
    err = report["metrics"].get("direction_error_deg_median")
    logger.info("done %s in %.1f s (%d sources, direction error %s deg)", name, seconds,
                len(report["sources"]), "n/a" if err is None else f"{err:.1f}")
    return {"name": name, "input": path, "status": "done", "seconds": round(seconds, 3),
            "report": report}
