"""The remaster flow: an archive of videos in, binaural WAV/MP4/JSON/PNG per video out.

SRC and DEST are local folders or fsspec URIs (s3://bucket/prefix). Prefect runs one
task per shard of the archive; inside a shard Ray runs the items on a pool of worker
actors, each holding the detector and the renderer (loaded once) and fetching,
processing and publishing its item (tasks.items). A manifest in DEST
makes every good item happen once across reruns and concurrent runs; MLflow records one
run per remaster.

Outputs land in DEST/<generator version>/<name>.{binaural.wav,binaural.mp4,json,png}:
a new generator or detector version re-does everything under new keys and leaves the
old outputs in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from prefect import flow, get_run_logger

from binaural.io.video import VIDEO_SUFFIXES
from flows.environment import run_as_prepared
from flows.params import Params

SIDECAR_FOLDERS = ("truth",)  # synthesized scenes keep their truth beside the videos
HEAD_NAME_CHARS = 24  # of the HRTF file's stem, in the output version


def list_inputs(src) -> tuple[list[str], list[str]]:
    """Video-named keys below SRC (sorted) and the other files, which are skipped."""
    src.fs.invalidate_cache()
    if not src.fs.exists(src.root):
        raise FileNotFoundError(f"{src.uri}: no such folder or prefix")
    videos, other = [], []
    for path in sorted(src.fs.find(src.root)):
        key = path[len(src.root):].lstrip("/")
        if not key or key.split("/")[0] in SIDECAR_FOLDERS:
            continue
        if key.rsplit("/", 1)[-1].startswith(".") or key.startswith("manifest/"):
            continue
        (videos if key.lower().endswith(VIDEO_SUFFIXES) else other).append(key)
    return videos, other


def _digest(path: str) -> str | None:
    from binaural.io.outputs import file_sha256

    return file_sha256(path)[:16] if path and Path(path).is_file() else None


def generator_version(params, identity: str) -> str:
    """A short id of everything that shapes the outputs: generator (the checkpoint's
    content and its sampler settings), detector, settings. `identity` is
    flows.registry.generator_identity's ("dsp" for the renderer). It names the output
    folder: a new
    generator re-does everything under a new version."""
    from models.detector import spec_digest

    hrtf = params.render.hrtf
    parts = {
        "generator": identity,
        "generator_cfg": ({k: v for k, v in asdict(params.generator).items()
                           if k not in ("model", "device")} if identity != "dsp" else None),
        "hrtf": _digest(hrtf) or hrtf,
        # every detector's content, in order (a pkg: spec resolved to its file)
        "detector": [spec_digest(m.weights) for m in params.detector.models],
        "render": asdict(params.render) | {
            "hrtf": None,
            # the gate's, the reverberation detector's and the separation model's content,
            # not just their paths
            "activity_model": _digest(params.render.activity_model),
            "reverb_model": _digest(params.render.reverb_model),
            "separation_model": _digest(params.render.separation_model)},
        "localize": asdict(params.localize) | {"associate": asdict(params.localize.associate) | {
            # the association's models by content (which track sounds shapes the render)
            "model": _digest(params.localize.associate.model),
            "activity_model": _digest(params.localize.associate.activity_model)}},
        "scene": asdict(params.scene),
        "detector_cfg": {k: v for k, v in asdict(params.detector).items()
                         if k not in ("device", "threads")} | {
            "models": [asdict(m) | {"weights": Path(m.weights).name}
                       for m in params.detector.models]},
        # what is delivered: outputs, loudness target and ceiling
        "delivery": asdict(params.delivery),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", identity.split("@")[0]).strip("-") or "model"
    head = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(hrtf).stem)[:HEAD_NAME_CHARS].strip("-")
    return f"{name}-{head}-{digest.hexdigest()[:10]}"


def _sizes(src, keys: list[str]) -> dict[str, int]:
    """Source sizes from the listing (unknown: 0), to schedule items by length."""
    def size(key: str) -> int:
        try:
            return int(src.fs.info(src.path(key)).get("size") or 0)
        except (OSError, ValueError):
            return 0

    with ThreadPoolExecutor(16) as pool:
        return dict(zip(keys, pool.map(size, keys)))


@dataclass
class Archive:
    """SRC's videos and other files, the generator (its local spec and registry label,
    resolved once: the identity and the workers name the same checkpoint), the run's
    output version and item context, and what the manifest already settled of each video
    (None: it needs work)."""

    keys: list[str]
    other: list[str]
    model: tuple[str, str | None]
    identity: str
    version: str
    ctx: object  # tasks.items.ItemContext
    settled: dict[str, dict | None]

    @property
    def pending(self) -> list[str]:
        return [k for k in self.keys if self.settled[k] is None]


def survey(src: str, dest: str, params, run_id: str) -> Archive:
    """List SRC and judge each video from the manifest alone (no download): what a
    remaster of SRC into DEST with `params` would have to do. Keys that would escape
    DEST are refused (and recorded) here."""
    from binaural.io.storage import open_location
    from flows.registry import generator_identity, resolve_model
    from tasks.items import ItemContext, settled_item
    from tasks.lineage import code_version

    keys, other = list_inputs(open_location(src))
    model = resolve_model(params.generator.model)
    identity = generator_identity(*model)
    version = generator_version(params, identity)
    work_dir = Path(os.environ["BINAURAL_STATE_DIR"]) / "work" / run_id
    ctx = ItemContext(src_uri=src, dest_uri=dest, version=version, run_id=run_id,
                      work_dir=str(work_dir), lease_s=params.remaster.lease_s,
                      code_version=code_version())
    # What the manifest already settled needs no Ray at all (a nightly run over a big
    # archive mostly finds old items).
    with ThreadPoolExecutor(16) as pool:
        settled = dict(zip(keys, pool.map(lambda k: settled_item(k, ctx), keys)))
    return Archive(keys, other, model, identity, version, ctx, settled)


def init_ray(address: str | None, idle_worker_keep_s: float = 1.0) -> bool:
    """Connect to a Ray cluster or start a local one; True if this call started it.
    `idle_worker_keep_s`: how long the local cluster keeps an idle task worker beyond
    Ray's soft limit (one per CPU) before killing it (Ray's default: 1 s)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address:
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("YOLO_", "MLFLOW_", "RAY_", "BINAURAL_", "AWS_"))}
        ray.init(address=address, runtime_env={"env_vars": env}, **kwargs)
    else:
        temp = Path(os.environ["BINAURAL_STATE_DIR"]) / "ray"
        # The actors hold the soft limit's workers, so a plain task finds none idle and
        # starts a Python worker (about 0.5 s of CPU), which Ray kills a second later
        # (fetch and publish tasks did: eight per four-item run). Kept longer, a few
        # serve them all.
        ray.init(_temp_dir=str(temp), _system_config={
            "idle_worker_killing_time_threshold_ms": int(idle_worker_keep_s * 1000)},
            **kwargs)
    return True


def log_to_mlflow(experiment: str, summary: dict, params, items: list[dict],
                  generator: str = "dsp") -> str:
    """One MLflow run for the remaster: params, aggregate metrics, the per-clip table
    (flows.run_table) and the reports (reports.jsonl) as artifacts."""
    import tempfile

    import mlflow

    from flows.run_table import TABLE_FILE, aggregates, as_columns, clip_rows
    from flows.tracking import start_experiment

    start_experiment(experiment)
    done = [i for i in items if i["status"] == "done"]
    with mlflow.start_run(run_name=f"remaster {summary['run_id']}") as run:
        mlflow.log_params({
            "src": summary["src"], "dest": summary["dest"], "version": summary["version"],
            "generator": generator, "generator_steps": params.generator.steps,
            "generator_sampler": params.generator.sampler,
            "hrtf": Path(params.render.hrtf).name,
            "detector_weights": "+".join(Path(m.weights).name for m in params.detector.models),
            "fov_deg": params.localize.fov_deg, "scene_fps": params.scene.fps,
            "sample_rate": params.scene.sample_rate, "block": params.render.block,
            "shard_size": params.remaster.shard_size, "actors": params.remaster.actors,
            "outputs": ",".join(params.delivery.outputs),
            "loudness_lufs": ("match input" if params.delivery.loudness_lufs is None
                              else params.delivery.loudness_lufs),
            "true_peak_dbtp": params.delivery.true_peak_dbtp,
            "code_version": summary.get("code_version", ""),
        })
        rows = clip_rows(items)
        mlflow.log_metrics(aggregates(rows, len(summary["skipped"]), summary["seconds"]))
        if rows:
            mlflow.log_table(data=as_columns(rows), artifact_file=TABLE_FILE)
        with tempfile.TemporaryDirectory() as tmp:
            reports = Path(tmp) / "reports.jsonl"  # one artifact, not one per clip
            reports.write_text("".join(json.dumps(i["report"]) + "\n" for i in done))
            mlflow.log_artifact(str(reports))
            summary_file = Path(tmp) / "summary.json"
            summary_file.write_text(json.dumps(summary, indent=2))
            mlflow.log_artifact(str(summary_file))
        return run.info.run_id


@flow(name="remaster", log_prints=True)
def remaster(
    src: str,
    dest: str,
    params: Params | None = None,
    params_file: str | None = None,
    ray_address: str | None = None,
    model: str | None = None,
    hrtf: str | None = None,
) -> dict:
    """Remaster every video in `src` into `dest`; returns the run summary. `params`: the
    typed settings (default: read from `params_file`, itself defaulting to the project's
    params.yaml: the entry point of deployments). `model` overrides params
    generator.model: "dsp", a checkpoint or models:/NAME@ALIAS; `hrtf` overrides params
    render.hrtf (a SOFA SimpleFreeFieldHRIR file: the listener's head)."""

    from binaural.io.storage import open_location
    from flows.params import load_params, with_overrides
    from flows.progress import ItemProgress
    from flows.tracking import start_experiment
    from flows.warm_start import claim
    from tasks import progress
    from tasks.actors import start_workers
    from tasks.scheduling import ActorPool, schedule
    from tasks.shards import remaster_shard

    logger = get_run_logger()
    t0 = time.perf_counter()
    if params is None:
        params = load_params(params_file)
    params = with_overrides(params, model, hrtf)
    cfg = params.remaster
    # MLflow's import and store opening (seconds of CPU, one core) overlap Ray's start
    # and the items instead of trailing the run in series.
    mlflow_warm = ThreadPoolExecutor(1, thread_name_prefix="mlflow-warm")
    mlflow_ready = mlflow_warm.submit(start_experiment, cfg.mlflow_experiment)
    mlflow_warm.shutdown(wait=False)
    src_loc, dest_loc = open_location(src), open_location(dest)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    archive = survey(src, dest, params, run_id)
    items: list[dict] = [v for v in archive.settled.values() if v is not None]
    pending = archive.pending
    actors = max(1, min(cfg.actors, len(pending)))
    pending = schedule(pending, _sizes(src_loc, pending), actors)
    shards = [pending[i:i + cfg.shard_size] for i in range(0, len(pending), cfg.shard_size)]
    logger.info("run %s: %d videos in %s, %d to process in %d shards (%d other files "
                "skipped); version %s", run_id, len(archive.keys), src, len(pending),
                len(shards), len(archive.other), archive.version)
    warm = claim(params, ray_address, actors if pending else 0, archive.model)  # warm_start
    if warm is not None:
        started, workers = warm.started, warm.workers
    else:
        started = init_ray(ray_address, cfg.idle_worker_keep_s) if pending else False
        workers = start_workers(params, actors, *archive.model) if pending else []
    shown = ItemProgress(len(pending), logger=logger)  # a bar on a terminal
    progress.register(run_id, shown)
    try:
        # One pool for all shards: each item takes whichever actor is free.
        pool = ActorPool(workers) if pending else []
        with shown:
            futures = [remaster_shard.submit(i, shard, archive.ctx, pool, cfg.concurrency)
                       for i, shard in enumerate(shards)]
            for shard, future in zip(shards, futures):
                try:
                    items.extend(future.result())
                except Exception as exc:  # noqa: BLE001 - a shard failed after its retries
                    logger.error("shard failed: %s", exc)
                    items.extend({"key": k, "name": None, "status": "failed",
                                  "transient": True,
                                  "error": f"{k}: shard failed ({type(exc).__name__}: {exc})"}
                                 for k in shard)
    except BaseException:
        progress.unregister(run_id)
        release_ray(workers, started, warm).join()
        raise
    progress.unregister(run_id)
    # Ray's shutdown waits ~1.4 s for its processes to exit, mostly idle: the run is
    # recorded (MLflow, the summary) meanwhile, and the flow returns once both are done.
    teardown = release_ray(workers, started, warm)
    try:
        return _record_run(archive, t0, items, params, dest_loc, mlflow_ready, logger)
    finally:
        teardown.join()


def release_ray(workers: list, started: bool, warm) -> threading.Thread:
    """Kill the workers, then in a thread (returned, started) stop Ray where this run
    started it and let a claimed warm start end (flows.warm_start)."""
    import ray

    for actor in workers:
        ray.kill(actor, no_restart=True)

    def stop() -> None:
        try:
            if started:
                ray.shutdown()
        finally:
            if warm is not None:
                warm.end()

    thread = threading.Thread(target=stop, name="ray-shutdown")
    thread.start()
    return thread


def _record_run(archive: Archive, t0: float, items: list[dict], params, dest_loc,
                mlflow_ready, logger) -> dict:
    """The run's summary (the run that surveyed `archive` and began at perf_counter t0):
    logged to MLflow, written to DEST (runs/<id>.json and summary.json) and returned with
    its items."""
    from binaural.io.storage import write_bytes

    ctx, cfg = archive.ctx, params.remaster
    run_id = ctx.run_id
    items.sort(key=lambda i: i["key"])
    summary = {
        "run_id": run_id,
        "src": ctx.src_uri,
        "dest": ctx.dest_uri,
        "version": archive.version,
        "seconds": round(time.perf_counter() - t0, 2),
        "done": [i["key"] for i in items if i["status"] == "done"],
        "already_done": [i["key"] for i in items if i["status"] == "skipped"
                         and i.get("reason") == "done earlier"],
        "in_other_runs": [i["key"] for i in items if i["status"] == "skipped"
                          and i.get("reason") != "done earlier"],
        "failed": {i["key"]: i["error"] for i in items if i["status"] == "failed"},
        "skipped": archive.other,
    }
    summary["generator"] = archive.identity
    summary["code_version"] = ctx.code_version
    mlflow_ready.result()
    summary["mlflow_run_id"] = log_to_mlflow(cfg.mlflow_experiment, summary, params, items,
                                             summary["generator"])
    body = json.dumps(summary, indent=2).encode()
    write_bytes(dest_loc, f"runs/{run_id}.json", body)
    write_bytes(dest_loc, "summary.json", body)
    logger.info("run %s: %d done, %d already done, %d failed, %d in other runs (%.1f s)",
                run_id, len(summary["done"]), len(summary["already_done"]),
                len(summary["failed"]), len(summary["in_other_runs"]), summary["seconds"])
    summary["items"] = items
    return summary


if __name__ == "__main__":
    run_as_prepared("flows.remaster")
    result = remaster(sys.argv[1], sys.argv[2])
    print(json.dumps({k: v for k, v in result.items() if k != "items"}, indent=2))
