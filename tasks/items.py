"""One archive item through the stages: fetch, claim, localize, render, publish, record.

The item's worker actor (tasks.actors.ItemWorker) does all of its work: it fetches the
source into its node's work folder, processes it and publishes from there, so on a
multi-node cluster the bytes are where the models are. (Plain Ray tasks did the fetch
and the publish before: on a cluster they could land on another node than the actor,
and on one machine each needed a Python worker process of its own, ~1.2 s of CPU each,
two to four per run.) The manifest makes each item happen once: done items are skipped,
claims keep concurrent runs apart, and every failure is recorded with a one-line reason.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import ray

from binaural.io.manifest import DONE, FAILED, ItemRecord, Manifest
from binaural.io.outputs import file_sha256
from binaural.io.storage import (
    UnsafeKeyError,
    download,
    fingerprint,
    open_location,
    publish,
    safe_key,
)
from binaural.io.video import MediaError
from tasks.scheduling import as_pool

OUTPUT_SUFFIXES = {"wav": ".binaural.wav", "mp4": ".binaural.mp4", "json": ".json",
                   "png": ".png", "foa_wav": ".foa.wav", "foa_mp4": ".foa.mp4"}
# Published when the run chose them (params delivery.outputs), i.e. when staged.
OPTIONAL_OUTPUTS = ("foa_wav", "foa_mp4")
# Errors that a retry can cure: lost workers, network and storage hiccups.
_TRANSIENT_NAMES = ("RayActorError", "WorkerCrashedError", "ActorDiedError",
                    "ObjectLostError", "NodeDiedError", "ActorUnavailableError",
                    "ConnectionError", "TimeoutError", "EndpointConnectionError",
                    "ReadTimeoutError", "ServerDisconnectedError", "ClientOSError")


def is_transient(exc: BaseException) -> bool:
    """True for failures a rerun may not meet again (never for bad input)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, (MediaError, UnsafeKeyError)):
        return False
    names = {c.__name__ for c in type(exc).__mro__} | {c.__name__ for c in type(cause).__mro__}
    if names & set(_TRANSIENT_NAMES):
        return True
    response = getattr(cause, "response", None)
    code = response.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(
        response, dict) else None
    return bool(code and int(code) >= 500)


def one_line_reason(exc: BaseException, key: str, local: str | None = None) -> str:
    """'<key>: <reason>' on one line, unwrapping Ray's task errors; the local working copy's
    path is replaced by the source key."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip()
    text = text.splitlines()[0] if text else type(cause).__name__
    if local:
        text = text.replace(local, key)
    if key not in text:
        text = f"{key}: {type(cause).__name__}: {text}"
    return text


def item_name(key: str) -> str:
    """Output name of a source key: its path without the suffix, '/' -> '__'."""
    stem = key.rsplit(".", 1)[0] if "." in key.rsplit("/", 1)[-1] else key
    return stem.replace("/", "__")


def fetch(src_uri: str, key: str, local: str) -> str:
    """Download one source file into the local work folder; returns its SHA-256."""
    return download(open_location(src_uri), key, local)


def publish_outputs(stage_dir: str, name: str, dest_uri: str, prefix: str) -> dict:
    """Publish the staged outputs atomically under DEST/<prefix>/; checksums back."""
    dest = open_location(dest_uri)
    out = {}
    for kind, suffix in OUTPUT_SUFFIXES.items():
        local = Path(stage_dir) / f"{name}{suffix}"
        if kind in OPTIONAL_OUTPUTS and not local.exists():
            continue
        key = f"{prefix}/{name}{suffix}"
        publish(local, dest, key)
        out[kind] = {"key": key, "sha256": file_sha256(local), "size": local.stat().st_size}
    return out


@dataclass
class ItemContext:
    """What every item of a run shares."""

    src_uri: str
    dest_uri: str
    version: str
    run_id: str
    work_dir: str
    lease_s: float
    code_version: str = ""  # tasks.lineage.code_version of the driver


def settled_item(key: str, ctx: ItemContext) -> dict | None:
    """The summary line of an item the manifest already settled, judged from the source's
    fingerprint alone (no download); None when the item needs work or is unknown. Keys
    that would escape DEST are refused (and recorded) here, before anything is read."""
    src, dest = open_location(ctx.src_uri), open_location(ctx.dest_uri)
    manifest = Manifest(dest, ctx.version, ctx.lease_s)
    try:
        safe_key(key)
    except UnsafeKeyError as exc:
        manifest.refuse(key, str(exc), ctx.run_id)
        return {"key": key, "name": None, "sha256": None, "status": FAILED,
                "error": str(exc), "transient": False}
    try:
        sha = manifest.known_hash(f"{ctx.src_uri.rstrip('/')}/{key}", fingerprint(src, key))
        if sha is None or manifest.needs_work(sha):
            return None
    except OSError:  # storage unavailable for now: let the item's own run decide
        return None
    return _from_record({"key": key, "name": item_name(key), "sha256": sha},
                        manifest.get(sha), key)


def process_item(key: str, ctx: ItemContext, workers) -> dict:
    """Run one item end to end; returns a summary line as a dict (never raises for the
    item's own failures; infrastructure failures of the manifest itself propagate).
    `workers`: tasks.actors.ItemWorker actors, one or a list or a
    tasks.scheduling.ActorPool."""
    start = time.perf_counter()
    src, dest = open_location(ctx.src_uri), open_location(ctx.dest_uri)
    manifest = Manifest(dest, ctx.version, ctx.lease_s)
    base = {"key": key, "name": None, "sha256": None}
    try:
        safe_key(key)
    except UnsafeKeyError as exc:
        manifest.refuse(key, str(exc), ctx.run_id)
        return {**base, "status": FAILED, "error": str(exc), "transient": False}
    name = item_name(key)
    base["name"] = name
    source_id = f"{ctx.src_uri.rstrip('/')}/{key}"
    sha = manifest.known_hash(source_id, fingerprint(src, key))
    if sha is not None and not manifest.needs_work(sha):
        return _from_record(base, manifest.get(sha), key)
    work = Path(ctx.work_dir) / f"{name}.{time.monotonic_ns()}"
    local = work / Path(key).name
    # Hold a worker only while it works for this item: another item takes the next free
    # one instead of queueing behind a long video (tasks.scheduling).
    with as_pool(workers).take() as worker:
        return _on_worker(worker, key, ctx, manifest, src, base, source_id, work, local, start)


def _on_worker(worker, key: str, ctx: ItemContext, manifest: Manifest, src, base: dict,
               source_id: str, work: Path, local: Path, start: float) -> dict:
    """process_item's part on its worker: fetch, claim, remaster, publish, record."""
    name = base["name"]
    try:
        sha = ray.get(worker.fetch.remote(ctx.src_uri, key, str(local)))
        manifest.remember_hash(source_id, fingerprint(src, key), sha)
        base["sha256"] = sha
        if not manifest.needs_work(sha):
            return _from_record(base, manifest.get(sha), key)
        if not manifest.claim(sha, ctx.run_id):
            return {**base, "status": "skipped", "reason": "claimed by another run"}
        try:
            reference = _fetch_reference(src, worker, ctx.src_uri, key, work)
            report = ray.get(worker.remaster.remote(
                str(local), str(work / "out"), name, reference, source_id,
                {"code_version": ctx.code_version, "run_id": ctx.run_id}))
            outputs = ray.get(worker.publish.remote(str(work / "out"), name, ctx.dest_uri,
                                                    ctx.version))
            first = manifest.put(ItemRecord(sha256=sha, key=key, name=name, state=DONE,
                                            version=ctx.version, outputs=outputs,
                                            run_id=ctx.run_id,
                                            warnings=report.get("warnings", []),
                                            lineage=_record_lineage(report)))
            if not first:  # finished meanwhile by a run whose claim had expired
                return {**base, "status": "skipped", "reason": "done by another run"}
            return {**base, "status": DONE, "seconds": round(time.perf_counter() - start, 3),
                    "outputs": outputs, "report": report}
        except Exception as exc:  # noqa: BLE001 - each failure becomes the item's record
            reason, transient = one_line_reason(exc, key, str(local)), is_transient(exc)
            manifest.put(ItemRecord(sha256=sha, key=key, name=name, state=FAILED,
                                    version=ctx.version, error=reason, transient=transient,
                                    run_id=ctx.run_id))
            return {**base, "status": FAILED, "error": reason, "transient": transient}
        finally:
            manifest.release(sha)
    except Exception as exc:  # noqa: BLE001 - failures before the claim (fetch)
        reason, transient = one_line_reason(exc, key, str(local)), is_transient(exc)
        return {**base, "status": FAILED, "error": reason, "transient": transient}
    finally:
        try:  # the work folder is on the worker's node
            ray.get(worker.discard.remote(str(work)))
        except Exception:  # noqa: BLE001 - a dead worker: what is here is removed below
            pass
        shutil.rmtree(work, ignore_errors=True)


def _record_lineage(report: dict) -> dict:
    """The manifest's lineage of an item: its report's, with the versions that made it."""
    return report.get("lineage", {}) | {
        "generator": (report.get("generator") or {}).get("version"),
        "detector": (report.get("lineage", {}).get("detector") or {})
        | {"version": (report.get("detector") or {}).get("version")}}


def _from_record(base: dict, record: ItemRecord | None, key: str) -> dict:
    """A summary line for an item the manifest already settled (not processed again)."""
    if record is None:
        return {**base, "status": "skipped", "reason": "released meanwhile"}
    if record.state == DONE:
        return {**base, "status": "skipped", "reason": "done earlier", "outputs": record.outputs}
    error = (record.error or "").replace(record.key, key)
    return {**base, "status": FAILED, "error": error, "transient": False, "earlier": True}


def _fetch_reference(src, worker, src_uri: str, key: str, work: Path) -> str | None:
    """A synthesized scene's binaural truth beside the video (truth/<stem>.binaural.wav)."""
    parent, _, base = key.rpartition("/")
    ref_key = "/".join(p for p in (parent, "truth", f"{base.rsplit('.', 1)[0]}.binaural.wav") if p)
    if not src.fs.exists(src.path(ref_key)):
        return None
    local = work / "reference.wav"
    ray.get(worker.fetch.remote(src_uri, ref_key, str(local)))
    return str(local)
