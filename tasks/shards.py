"""The Prefect task of a remaster: one shard of the archive, its items run on Ray.

Prefect sees shards, not frames or single videos (a self-hosted Prefect server struggles
with thousands of task runs in one flow). A shard is retried only for transient
failures; items already done are skipped on the retry thanks to the manifest.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import progress
from tasks.items import ItemContext, is_transient, process_item
from tasks.scheduling import as_pool


def _retry_transient(task, task_run, state) -> bool:
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and is_transient(exc)


@task(name="remaster-shard", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2,
      retry_condition_fn=_retry_transient)
def remaster_shard(index: int, keys: list[str], ctx: ItemContext, workers,
                   concurrency: int) -> list[dict]:
    """Process the items of one shard in the given order, `concurrency` at a time, each on
    whichever actor is free (`workers`: an ActorPool shared by the shards, or a list of
    tasks.actors.ItemWorker actors)."""
    logger = get_run_logger()
    results = []
    workers = as_pool(workers)
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        futures = [pool.submit(process_item, key, ctx, workers) for key in keys]
        for future in as_completed(futures):
            item = future.result()
            results.append(item)
            progress.item_finished(ctx.run_id, item)
            detail = item.get("error") or item.get("reason") or f"{item.get('seconds', 0):.1f} s"
            log = logger.error if item["status"] == "failed" else logger.info
            log("shard %d [%d/%d] %s: %s (%s)", index, len(results), len(keys), item["key"],
                item["status"], detail)
    return results
