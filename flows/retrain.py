"""The retrain flow (and DVC stage `train`): train the diffusion generator, evaluate it on
the held-out split, register it (with its per-clip figures), promote it when a paired test
over the held-out clips says it beats the champion (flows.promotion).

    python -m flows.retrain [--data DIR] [--val-data DIR] [--eval-data DIR] [--size small]
                            [--mono omni|downmix] [--out CKPT] [--max-minutes M] [--steps N]
                            [--no-evaluate] [--no-register]

Defaults come from params.yaml's `train` section. One MLflow run per training (experiment
train.mlflow_experiment): params, data size, loss curves, validation losses, sample audio,
plots, the held-out evaluation, the checkpoint (artifact `generator/`). The run's id is
kept in the work folder, so a rerun resumes both the training (from its last checkpoint)
and the run. Writes the checkpoint to train.out and the metrics to eval/generator.json
(with --no-evaluate: beside the checkpoint, so a candidate leaves the DVC metrics alone).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from prefect import flow, get_run_logger

from flows.environment import PROJECT_ROOT, prepare_environment, run_as_prepared

DEFAULT_METRICS = "eval/generator.json"
SAMPLE_CLIPS = 2  # validation scenes rendered as sample audio
BASE_SYSTEMS = ("mono", "dsp", "dsp-oracle", "model")
ORACLE_SYSTEMS = ("dsp-separate", "model-oracle")


def _records(path: str, split: str, limit: int = 0):
    from binaural.eval.datasets import load_dataset

    records = load_dataset(path, split)
    return records[:limit] if limit else records


def _data_summary(scenes, sample_rate: int) -> dict:
    seconds = sum(s.mono.shape[0] for s in scenes) / sample_rate
    counts: dict[str, int] = {}
    for s in scenes:
        counts[str(s.n_sources)] = counts.get(str(s.n_sources), 0) + 1
    return {"scenes": len(scenes), "seconds": round(seconds, 1),
            **{f"scenes_{k}src": v for k, v in sorted(counts.items())}}


def _plot_history(history: list[dict], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, ax in (("loss", axes[0]), ("ild", axes[1])):
        for prefix, style in (("train_", "-"), ("val_", "o-")):
            rows = [(r["step"], r[prefix + key]) for r in history if prefix + key in r]
            if rows:
                ax.plot(*zip(*rows), style, label=prefix.rstrip("_"))
        ax.set_xlabel("step")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _log_samples(generator, scenes, sample_rate: int, out_dir: Path) -> list[Path]:
    """Model, renderer and reference audio of a few validation scenes."""
    import numpy as np

    from binaural.io.audio import write_wav
    from binaural.spatial.generator import generate_array

    paths = []
    for scene in scenes[:SAMPLE_CLIPS]:
        mono = scene.mono.astype(np.float32)
        outputs = {
            "model": generate_array(generator, mono, scene.tracks, sample_rate, scene.frame_size),
            "dsp": scene.hyps[-1].astype(np.float32),
            "reference": scene.target.astype(np.float32),
        }
        for name, audio in outputs.items():
            path = out_dir / f"{scene.id}.{name}.wav"
            write_wav(path, audio, sample_rate)
            paths.append(path)
    return paths


def _evaluate(eval_data: str, split: str, limit: int, checkpoint: Path, out_dir: Path,
              params_file: str | None) -> dict:
    from binaural.eval.datasets import load_dataset
    from flows.evaluate import evaluate
    from models.generator_system import separate_path, stems_path

    records = load_dataset(eval_data, split)
    systems = list(BASE_SYSTEMS)
    if records and (stems_path(records[0]) or separate_path(records[0])) is not None:
        systems += ORACLE_SYSTEMS
    return evaluate(eval_data, str(out_dir), systems=",".join(systems), split=split,
                    limit=limit or None, params_file=params_file, model=str(checkpoint))


@flow(name="retrain", log_prints=True)
def retrain(
    params_file: str | None = None,
    data: str | None = None,
    val_data: str | None = None,
    eval_data: str | None = None,
    size: str | None = None,
    mono: str | None = None,
    out: str | None = None,
    init: str | None = None,
    max_minutes: float | None = None,
    steps: int | None = None,
    threads: int | None = None,
    model_version: int | None = None,
    evaluate: bool = True,
    to_registry: bool = True,
    metrics_out: str | None = None,
) -> dict:
    """Train (resuming), evaluate, register and maybe promote; returns a summary."""
    import mlflow
    import torch

    from binaural.spatial.hrtf import load_sofa
    from flows.params import load_params
    from flows.promotion import PromotionRule, clip_figures
    from flows.registry import load_generator, metric_tags, register_and_promote
    from flows.tracking import start_experiment
    from models.builders import resolve_device
    from models.generator import save_checkpoint
    from models.generator_config import preset
    from models.generator_examples import load_scenes
    from models.generator_net import GeneratorNet
    from models.generator_train import set_visual_statistics, train, warm_start, with_visual

    logger = get_run_logger()
    params = load_params(params_file)
    overrides = {k: v for k, v in {"data": data, "val_data": val_data, "eval_data": eval_data,
                                   "size": size, "mono": mono, "out": out, "init": init,
                                   "max_minutes": max_minutes, "steps": steps,
                                   "threads": threads, "model_version": model_version}.items()
                 if v is not None}
    tc = dataclasses.replace(params.train, **overrides)
    torch.set_num_threads(tc.threads)
    device = resolve_device(tc.device)
    cfg = dataclasses.replace(preset(tc.size, tc.model_version),
                              diffuse_min_hz=tc.diffuse_min_hz, share_prior=tc.share_prior)
    if cfg.sample_rate != params.scene.sample_rate:
        raise ValueError(f"model rate {cfg.sample_rate} != scene.sample_rate")
    hrtf = load_sofa(params.render.hrtf, params.scene.sample_rate)

    t0 = time.perf_counter()
    train_records = _records(tc.data, tc.train_split, tc.max_scenes)
    val_records = _records(tc.val_data or tc.data, tc.val_split)

    def progress(done: int, total: int, name: str) -> None:
        if done % 50 == 0 or done == total:
            logger.info("prepared %d/%d scenes (%s)", done, total, name)

    scenes = load_scenes(train_records, hrtf, cfg, tc, params.render.block,
                         params.render.neighbours, tc.seed, progress, params.render,
                         tc.share_folds, params.generator.min_sounding)
    val_scenes = load_scenes(val_records, hrtf, cfg, tc, params.render.block,
                             params.render.neighbours, tc.seed + 1, render=params.render,
                             min_sounding=params.generator.min_sounding)
    if tc.visual:
        cfg = with_visual(cfg, scenes)
    # One work folder (resumable state, MLflow run) per model config and starting point.
    start_id = hashlib.sha256(json.dumps([cfg.to_dict(), tc.init]).encode()).hexdigest()[:8]
    work_dir = (Path(os.environ["BINAURAL_STATE_DIR"]) / "generator"
                / f"train-{tc.size}-{tc.mono}-{Path(tc.out).stem}-{start_id}")
    work_dir.mkdir(parents=True, exist_ok=True)
    data_info = _data_summary(scenes, cfg.sample_rate)
    logger.info("data: %s (val %d scenes) in %.0f s", data_info, len(val_scenes),
                time.perf_counter() - t0)

    start_experiment(tc.mlflow_experiment)
    run_file = work_dir / "mlflow_run_id"
    run_id = run_file.read_text().strip() if run_file.is_file() else None
    with mlflow.start_run(run_id=run_id, run_name=f"train {tc.size} ({tc.mono} mono)") as run:
        run_file.write_text(run.info.run_id)
        if run_id is None:
            mlflow.log_params({f"train.{k}": v for k, v in dataclasses.asdict(tc).items()})
            mlflow.log_params({f"model.{k}": v for k, v in cfg.to_dict().items()})
            mlflow.log_params({f"data.{k}": v for k, v in data_info.items()}
                              | {"data.val_scenes": len(val_scenes), "device": device,
                                 "hrtf": hrtf.name})
        net = GeneratorNet(cfg)
        if tc.init:
            fresh = warm_start(net, tc.init)
            logger.info("warm start from %s (new: %s)", tc.init, ", ".join(fresh) or "none")
        set_visual_statistics(net, scenes)
        def log_row(row: dict, step: int) -> None:
            mlflow.log_metrics(row, step=step)
            if "train_loss" in row and step % (tc.log_every * 10) == 0:
                logger.info("step %d/%d: loss %.4g, %.0f s of %.0f", step, tc.steps,
                            row["train_loss"], row.get("elapsed_s", 0.0), tc.max_minutes * 60)

        state = train(net, scenes, val_scenes, tc, device, work_dir, log_fn=log_row,
                      render=params.render)
        meta = {"name": f"generator-{tc.size}" + ("-downmix" if tc.mono == "downmix" else "")
                + (f"-v{cfg.version}" if cfg.version != 2 else ""),
                "size": tc.size, "mono": tc.mono, "steps": state.step,
                "train_seconds": round(state.elapsed_s, 1), "device": device,
                "scenes": data_info["scenes"], "data_seconds": data_info["seconds"],
                "data": str(tc.data), "hrtf": hrtf.name, "mlflow_run_id": run.info.run_id,
                "init": tc.init, "visual_source": cfg.visual_source,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        checkpoint = save_checkpoint(tc.out, net, meta)
        mlflow.log_metrics({"train_seconds": state.elapsed_s, "trained_steps": state.step,
                            "checkpoint_mb": checkpoint.stat().st_size / 2 ** 20})
        mlflow.log_artifact(str(checkpoint), "generator")
        plots = work_dir / "plots"
        plots.mkdir(exist_ok=True)
        mlflow.log_artifact(str(_plot_history(state.history, plots / "loss.png")), "plots")
        generator = load_generator(str(checkpoint), hrtf, params.render, params.generator,
                                   device)
        for path in _log_samples(generator, val_scenes, cfg.sample_rate, plots):
            mlflow.log_artifact(str(path), "samples")
        run_id = run.info.run_id
    summary = {"checkpoint": str(checkpoint), "mlflow_run_id": run_id, "steps": state.step,
               "train_seconds": round(state.elapsed_s, 1), "data": data_info,
               "version": generator.version}

    if evaluate:
        eval_dir = work_dir / "eval"
        result = _evaluate(tc.eval_data or tc.data, tc.eval_split, tc.eval_limit, checkpoint,
                           eval_dir, params_file)
        aggregate = result["aggregate"]
        summary["evaluation"] = {"dir": str(eval_dir), "aggregate": aggregate,
                                 "mlflow_run_id": result["mlflow_run_id"]}
        start_experiment(tc.mlflow_experiment)  # the evaluation selected its own
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metrics({f"eval/{g}/{s}/{k}": v for g, by in aggregate.items()
                                for s, vals in by.items() for k, v in vals.items()
                                if isinstance(v, int | float)})
            mlflow.log_artifact(str(eval_dir / "report.md"), "evaluation")
            mlflow.log_artifact(str(eval_dir / "metrics.json"), "evaluation")
            if to_registry:
                rule = PromotionRule(tc.promote_group, tuple(tc.promote_metrics),
                                     tc.promote_margin, tc.promote_alpha, tc.promote_test)
                tags = metric_tags(aggregate, "model") | {
                    "size": tc.size, "mono": tc.mono, "sampler_steps": str(params.generator.steps),
                    "generator_version": generator.version}
                document = json.loads((eval_dir / "metrics.json").read_text())
                summary["registry"] = register_and_promote(
                    run_id, "generator", tc.registry_name, tags, rule,
                    clips=clip_figures(document["clips"], "model"))
                mlflow.set_tags({f"registry.{k}": str(v) for k, v in summary["registry"].items()})
    metrics_path = metrics_destination(metrics_out, evaluate, checkpoint)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    logger.info("retrain: %s", json.dumps({k: v for k, v in summary.items()
                                           if k != "evaluation"}, default=str))
    return summary


def metrics_destination(metrics_out: str | None, evaluated: bool, checkpoint: Path) -> Path:
    """Where a retrain's summary goes: `metrics_out` when given (relative to the project),
    else eval/generator.json (the DVC stage's metrics) after an evaluation, and beside the
    checkpoint (<checkpoint>.retrain.json) without one, so a candidate trained with
    --no-evaluate does not overwrite the evaluated model's figures."""
    if metrics_out is None:
        if not evaluated:
            return checkpoint.with_name(checkpoint.name + ".retrain.json")
        metrics_out = DEFAULT_METRICS
    path = Path(metrics_out)
    return path if path.is_absolute() else PROJECT_ROOT / path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.retrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default=None)
    p.add_argument("--data")
    p.add_argument("--val-data")
    p.add_argument("--eval-data")
    p.add_argument("--size", choices=("tiny", "small", "base"))
    p.add_argument("--mono", choices=("omni", "downmix"))
    p.add_argument("--out")
    p.add_argument("--init", help="warm-start from this checkpoint")
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--steps", type=int)
    p.add_argument("--threads", type=int, help="torch threads (1 is faster on a busy host)")
    p.add_argument("--model-version", type=int, choices=(2, 3),
                   help="2: anechoic hypotheses; 3: rooms (params train.model_version)")
    p.add_argument("--no-evaluate", action="store_true")
    p.add_argument("--no-register", action="store_true")
    p.add_argument("--metrics-out", default=None,
                   help=f"the summary (default {DEFAULT_METRICS}; with --no-evaluate "
                        "CHECKPOINT.retrain.json)")
    args = p.parse_args(argv)
    prepare_environment()
    logging.basicConfig(level=logging.INFO)
    summary = retrain(args.params, args.data, args.val_data, args.eval_data, args.size,
                      args.mono, args.out, args.init, args.max_minutes, args.steps,
                      args.threads, args.model_version,
                      evaluate=not args.no_evaluate, to_registry=not args.no_register,
                      metrics_out=args.metrics_out)
    print(json.dumps({k: v for k, v in summary.items() if k != "evaluation"}, indent=2,
                     default=str))
    return 0


if __name__ == "__main__":
    from flows.environment import exit_now

    run_as_prepared("flows.retrain")
    exit_now(main())
