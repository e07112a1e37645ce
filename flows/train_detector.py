"""DVC stages `detector_data` and `train_detector`: our own small YOLO, logged to MLflow,
with its figures on the held-out real frames (binaural.synth.real_frames).

    python -m flows.train_detector data OUT_DIR
    python -m flows.train_detector train DATA_DIR WEIGHTS_OUT METRICS_JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from flows.environment import prepare_environment, run_as_prepared


def make_data(out_dir: str) -> Path:
    from binaural.synth.detector_data import write_dataset
    from binaural.synth.real_frames import shrink, training_images
    from flows.params import load_params
    from models.hard_negatives import MiningTally, dense_training_frames, instrument_detector, mine
    from models.real_people import person_finder

    params = load_params()
    cfg = params.detector_data
    shutil.rmtree(out_dir, ignore_errors=True)
    find_people = person_finder(cfg.person_weights, cfg.person_scale, cfg.person_conf)

    def real():
        for name, frame in training_images(cfg):
            people = find_people(frame)  # at full resolution, then scaled with the frame
            small = shrink(frame, cfg.max_side)
            yield name, small, people * (small.shape[1] / frame.shape[1])

    tally = MiningTally()

    def hard():
        if not cfg.mine_weights:
            return
        detect = instrument_detector(params.detector, cfg.mine_weights, cfg.mine_conf)
        for name, frame, people in mine(dense_training_frames(cfg), detect, find_people,
                                        params.detector.cross_class_iou, tally):
            small = shrink(frame, cfg.max_side)
            yield name, small, people * (small.shape[1] / frame.shape[1])

    data_yaml = write_dataset(out_dir, cfg.train_images, cfg.val_images, cfg.seed,
                              cfg.width, cfg.height, real(), cfg.composites_per_frame,
                              hard(), cfg.hard_negative_copies, cfg.hue_copies)
    (data_yaml.parent / "mining.json").write_text(json.dumps(vars(tally), indent=2) + "\n")
    print(f"hard negatives: {vars(tally)}")
    return data_yaml


def real_figures(weights: str, threads: int) -> dict[str, dict[str, float]]:
    """Our detector alone on the held-out real frames (scripts/measure_real_people.py)."""
    from dataclasses import replace

    from binaural.synth.real_frames import held_out_sets
    from flows.params import load_params
    from models.builders import build_detector
    from models.config import DetectorModel
    from models.real_people import count_on_people, person_finder

    params = load_params()
    cfg = params.detector_data
    own = next(m for m in params.detector.models if m.embed)
    detector = build_detector(replace(params.detector, device="cpu", threads=threads,
                                      models=(DetectorModel(weights, own.classes),)))
    find_people = person_finder(cfg.person_weights, cfg.person_scale, cfg.person_conf,
                                threads)
    figures = {}
    for name, frames in held_out_sets(cfg).items():
        refs = [find_people(f) for f in frames]
        counts = count_on_people(detector, frames, refs, params.detector.cross_class_iou)
        counts.pop("s/frame")
        figures[name] = {"frames": len(frames), "reference people": sum(map(len, refs))
                         } | counts
    return figures


def train(data_dir: str, weights_out: str, metrics_out: str) -> dict:
    import mlflow

    from flows.params import load_params
    from flows.tracking import start_experiment
    from models import detector_train

    params = load_params()
    cfg = params.train_detector
    threads = cfg.threads or os.cpu_count() or 1
    data_yaml = Path(data_dir).resolve() / "data.yaml"
    run_dir = Path(prepare_environment()) / "yolo-train"
    shutil.rmtree(run_dir, ignore_errors=True)
    start_experiment("detector")
    with mlflow.start_run(run_name="train_detector") as run:
        mlflow.log_params({f"train_detector.{k}": v for k, v in vars(cfg).items()})
        mlflow.log_params({f"detector_data.{k}": v for k, v in vars(params.detector_data).items()})
        t0 = time.perf_counter()
        best, metrics = detector_train.train(
            data_yaml, cfg.model, run_dir, cfg.epochs, cfg.imgsz, cfg.batch, cfg.seed,
            cfg.workers, threads=threads, init=cfg.init, lr0=cfg.lr0,
        )
        metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
        mlflow.log_metrics(metrics)
        real = real_figures(str(best), threads)
        mlflow.log_dict(real, "held_out_real_frames.json")
        results = run_dir / "train" / "results.csv"
        if results.exists():
            mlflow.log_artifact(str(results))
        Path(weights_out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, weights_out)
        mlflow.log_artifact(weights_out)
        metrics["mlflow_run_id"] = run.info.run_id
        metrics["held_out_real_frames"] = real  # our detector alone; no instrument there
    Path(metrics_out).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_out).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("out_dir")
    t = sub.add_parser("train")
    t.add_argument("data_dir")
    t.add_argument("weights_out")
    t.add_argument("metrics_out")
    args = parser.parse_args(argv)
    if args.cmd == "data":
        print(make_data(args.out_dir))
    else:
        print(json.dumps(train(args.data_dir, args.weights_out, args.metrics_out), indent=2))


if __name__ == "__main__":
    run_as_prepared("flows.train_detector")
    main()
