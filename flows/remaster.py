"""The remaster flow: a folder of videos in, binaural WAV/MP4/JSON/PNG per video out.

Prefect orchestrates (one task per video, failures kept per item); Ray executes the
heavy stages in actors that load the detector and the HRTF set once; MLflow records
one run per remaster.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.futures import as_completed

from flows.environment import prepare_environment

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm")


def list_inputs(src: str | Path) -> tuple[list[Path], list[Path]]:
    """Video-named files in SRC (sorted) and the other files that were skipped."""
    src = Path(src)
    if not src.is_dir():
        raise NotADirectoryError(f"{src}: not a folder of videos")
    files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    return videos, [p for p in files if p not in videos]


def reference_for(video: Path) -> str | None:
    """A synthesized scene's binaural truth, when it lies beside the video."""
    ref = video.parent / "truth" / f"{video.stem}.binaural.wav"
    return str(ref) if ref.is_file() else None


def init_ray(address: str | None) -> bool:
    """Connect to a Ray cluster or start a local one; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    logging.getLogger("ray").setLevel(logging.WARNING)
    kwargs = {"include_dashboard": False, "log_to_driver": True,
              "configure_logging": True, "logging_level": logging.WARNING}
    if address:
        env = {k: v for k, v in os.environ.items()
               if k.startswith(("YOLO_", "MLFLOW_", "RAY_", "BINAURAL_"))}
        ray.init(address=address, runtime_env={"env_vars": env}, **kwargs)
    else:
        temp = Path(os.environ["BINAURAL_STATE_DIR"]) / "ray"
        ray.init(_temp_dir=str(temp), **kwargs)
    return True


def log_to_mlflow(experiment: str, src: str, dest: Path, params, items: list[dict]) -> str:
    """One MLflow run for the remaster: params, per-clip metrics, reports as artifacts."""
    import mlflow

    from flows.tracking import start_experiment

    start_experiment(experiment)
    done = [i for i in items if i["status"] == "done"]
    with mlflow.start_run(run_name=f"remaster {Path(src).name}") as run:
        mlflow.log_params({
            "src": src, "dest": str(dest), "generator": "dsp",
            "hrtf": Path(params.render.hrtf).name,
            "detector_weights": Path(params.detector.weights).name,
            "fov_deg": params.localize.fov_deg, "scene_fps": params.scene.fps,
            "sample_rate": params.scene.sample_rate, "block": params.render.block,
        })
        metrics = {"videos_done": len(done), "videos_failed": len(items) - len(done)}
        errors = []
        for item in done:
            for key, value in item["report"]["metrics"].items():
                if isinstance(value, (int, float)):
                    metrics[f"{item['name']}/{key}"] = float(value)
            err = item["report"]["metrics"].get("direction_error_deg_median")
            if err is not None:
                errors.append(err)
        if errors:
            metrics["direction_error_deg_median"] = float(sorted(errors)[len(errors) // 2])
        mlflow.log_metrics(metrics)
        for item in done:
            for key in ("json", "png"):
                mlflow.log_artifact(str(dest / item["report"]["outputs"][key]), "reports")
        mlflow.log_artifact(str(dest / "summary.json"))
        return run.info.run_id


@flow(name="remaster", log_prints=True)
def remaster(
    src: str,
    dest: str,
    params_file: str | None = None,
    ray_address: str | None = None,
) -> dict:
    """Remaster every video in `src` into `dest`; returns the run summary."""
    import ray

    from binaural.outputs import write_json
    from flows.params import load_params
    from tasks.actors import start_pools
    from tasks.remaster import remaster_video

    logger = get_run_logger()
    params = load_params(params_file)
    dest_path = Path(dest).resolve()
    dest_path.mkdir(parents=True, exist_ok=True)
    videos, skipped = list_inputs(src)
    logger.info("%d videos in %s (%d other files skipped)", len(videos), src, len(skipped))
    started = init_ray(ray_address)
    detectors, renderers = start_pools(params, max(1, min(params.remaster.actors, len(videos))))
    items: list[dict] = []
    try:
        futures = [
            remaster_video.submit(str(v.resolve()), str(dest_path), v.stem, reference_for(v),
                                  detectors[i % len(detectors)], renderers[i % len(renderers)])
            for i, v in enumerate(videos)
        ]
        for future in as_completed(futures):
            item = future.result()
            items.append(item)
            logger.info("[%d/%d] %s: %s", len(items), len(videos), item["name"],
                        item["status"] if item["status"] == "done" else item["error"])
    finally:
        for actor in detectors + renderers:
            ray.kill(actor)
        if started:
            ray.shutdown()
    items.sort(key=lambda i: i["name"])
    summary = {
        "src": str(src),
        "dest": str(dest_path),
        "done": [i["name"] for i in items if i["status"] == "done"],
        "failed": {i["input"]: i["error"] for i in items if i["status"] == "failed"},
        "skipped": [str(p) for p in skipped],
    }
    write_json(dest_path / "summary.json", summary)
    summary["mlflow_run_id"] = log_to_mlflow(params.remaster.mlflow_experiment, str(src),
                                             dest_path, params, items)
    write_json(dest_path / "summary.json", summary)
    summary["items"] = items
    return summary


def main() -> None:
    prepare_environment()
    import sys

    result = remaster(sys.argv[1], sys.argv[2])
    print(json.dumps({k: v for k, v in result.items() if k != "items"}, indent=2))


if __name__ == "__main__":
    main()
