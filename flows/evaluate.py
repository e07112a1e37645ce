"""The evaluate flow: systems against the references of a dataset, into EVAL_DIR.

    binaural evaluate DATASET --out DIR [--systems mono,dsp,dsp-oracle] [--split test]
                      [--limit N]

Clips run one after another in this process with the detector loaded once (only when a
selected system needs it); every clip's failure is kept as its one-line reason. Writes
EVAL_DIR per docs/formats.md and records one MLflow run (experiment evaluate.mlflow_experiment).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from prefect import flow, get_run_logger

DEFAULT_OUT = "eval"


def load_detector(detector_cfg):
    """The detector of params `detector` (models.builders), for the systems that need one."""
    from models.builders import build_detector

    try:
        return build_detector(detector_cfg)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{exc}; the dsp and model systems need them (or leave them "
                                "out: --systems mono,dsp-oracle)") from None


def register_model_systems(params, model: str | None = None) -> None:
    """Add the generator's systems (`model`, `model-oracle`, `dsp-separate`) to the
    registry, the generator named by `model` or params generator.model (loaded lazily)."""
    from flows.registry import resolve_model
    from models.generator_system import register_generator_systems

    spec, label = resolve_model(model or params.generator.model)
    register_generator_systems(spec, params.generator, label=label)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _remove_stale(out_dir: Path, clip_ids: set[str], plots: set[Path]) -> None:
    """Drop clip folders and plots an earlier run left that this run did not write."""
    clips_dir = out_dir / "clips"
    if clips_dir.is_dir():
        for folder in clips_dir.iterdir():
            if folder.is_dir() and folder.name not in clip_ids and (folder / "info.json").exists():
                shutil.rmtree(folder)
    for png in (out_dir / "plots").glob("*.png"):
        if png not in plots:
            png.unlink()


def log_to_mlflow(experiment: str, dataset: str, out_dir: Path, params, document: dict) -> str:
    """One MLflow run: settings, the aggregate metrics (group/system/metric), the report,
    metrics.json and plots as artifacts."""
    import mlflow

    from flows.tracking import start_experiment

    start_experiment(experiment)
    with mlflow.start_run(run_name=f"evaluate {Path(dataset).name}") as run:
        meta = document["meta"]
        mlflow.log_params({
            "dataset": dataset, "split": meta["split"], "systems": ",".join(document["systems"]),
            "hrtf": meta["hrtf"], "detector": meta["detector"], "sample_rate": meta["sample_rate"],
            "out": str(out_dir),
        })
        metrics = {"clips_done": len(document["clips"]), "clips_failed": len(document["failed"])}
        for group, by_system in document["aggregate"].items():
            for system, values in by_system.items():
                metrics.update({f"{group}/{system}/{key}": value
                                for key, value in values.items() if value is not None})
        for group, row in (document.get("groups") or {}).items():
            key = group.replace(" ", "_")
            if row["association_accuracy"] is not None:
                metrics[f"group/{key}/association_accuracy"] = row["association_accuracy"]
            for system, values in row["systems"].items():
                metrics.update({f"group/{key}/{system}/{k}": v for k, v in values.items()
                                if v is not None})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(out_dir / "report.md"))
        mlflow.log_artifact(str(out_dir / "metrics.json"))
        if (out_dir / "plots").is_dir():
            mlflow.log_artifacts(str(out_dir / "plots"), "plots")
        return run.info.run_id


@flow(name="evaluate", log_prints=True)
def evaluate(
    dataset: str,
    out: str,
    systems: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    params_file: str | None = None,
    model: str | None = None,
    hrtf: str | None = None,
) -> dict:
    """Evaluate `systems` (default params evaluate.systems) on `dataset`'s `split` into `out`.
    `hrtf` (a SOFA file) replaces params render.hrtf: the head the systems render with.

    `model` names the generator of the `model` systems (default params generator.model).
    Returns a summary: out, clips (count), failed ({clip: reason}), aggregate, groups (the
    per-group table when the truths name groups, else None), mlflow_run_id.
    """
    from binaural.eval.datasets import load_dataset
    from binaural.eval.plots import box_plots, direction_plot, pick_sample_clips
    from binaural.eval.report import clip_entry, metrics_document, write_report_md
    from binaural.eval.suite import METRICS, evaluate_clip, write_clip_folder
    from binaural.eval.systems import EvalContext, parse_systems
    from binaural.io.outputs import write_json
    from binaural.spatial.hrtf import load_sofa
    from flows.params import load_params, with_head
    from flows.progress import ItemProgress

    logger = get_run_logger()
    params = with_head(load_params(params_file), hrtf)
    cfg = params.evaluate
    register_model_systems(params, model)
    specs = parse_systems(systems if systems else cfg.systems)
    names = [s.name for s in specs]
    split = split or cfg.split
    records = load_dataset(dataset, split)[:limit]
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    logger.info("%d clips of %s (split %s); systems %s", len(records), dataset, split, names)

    hrtf = load_sofa(params.render.hrtf, params.scene.sample_rate)
    tracker = load_detector(params.detector) if any(s.needs_detector for s in specs) else None
    context = EvalContext(params.scene, params.localize, params.render, cfg, hrtf, tracker)
    clips, failed, results = {}, {}, {}
    shown = ItemProgress(len(records), logger=logger, lines=False).__enter__()  # a terminal bar
    for i, record in enumerate(records):
        try:
            result = evaluate_clip(record, context, specs)
            write_clip_folder(out_dir / "clips" / record.id, context.clip(record), result, names)
        except Exception as exc:  # noqa: BLE001 - one bad clip never stops the evaluation
            failed[record.id] = f"{record.id}: {_one_line(exc)}"
            logger.error("[%d/%d] FAILED %s", i + 1, len(records), failed[record.id])
            shown.item({"key": record.id, "status": "failed"})
            continue
        finally:
            context.forget(record)
        shown.item({"key": record.id, "status": "done",
                    "report": {"duration_s": _seconds(record.binaural)}})
        clips[record.id], results[record.id] = clip_entry(result), result
        ild_errors = ", ".join(f"{name} {values['tf_ild_error_db']:.2f}"
                               for name, values in result.metrics.items()
                               if values.get("tf_ild_error_db") is not None)
        logger.info("[%d/%d] %s (%s sources): TF-ILD error dB: %s", i + 1, len(records),
                    record.id, result.n_sources, ild_errors or "-")

    shown.__exit__(None, None, None)
    plots = set(box_plots(out_dir / "plots", clips, names, METRICS))
    for clip_id in pick_sample_clips(clips, cfg.plot_clips):
        r = results[clip_id]
        plots.add(direction_plot(out_dir / "plots" / f"direction_{clip_id}.png", clip_id,
                                 r.visual_tracks, r.directions, r.reference_direction))
    _remove_stale(out_dir, set(clips), plots)
    meta = {
        "dataset": str(dataset), "split": split, "hrtf": hrtf.name,
        "detector": tracker.version if tracker is not None else None,
        "sample_rate": context.sample_rate,
        "systems": {s.name: s.description for s in specs},
    }
    document = metrics_document(names, clips, failed, meta)
    write_json(out_dir / "metrics.json", document)
    write_report_md(out_dir / "report.md", document,
                    sorted(str(p.relative_to(out_dir)) for p in plots))
    run_id = log_to_mlflow(cfg.mlflow_experiment, str(dataset), out_dir, params, document)
    return {"out": str(out_dir), "clips": len(clips), "failed": failed,
            "aggregate": document["aggregate"], "groups": document.get("groups"),
            "mlflow_run_id": run_id}


def _print_summary(summary: dict) -> None:
    from binaural.eval.metrics import finite
    from binaural.eval.suite import LEADING_METRICS

    table = summary["aggregate"].get("all", {})
    widths = [max(18, len(s.label) + 2) for s in LEADING_METRICS]  # labels never run together
    header = f"{'system':<14}" + "".join(f"{s.label:>{w}}"
                                         for s, w in zip(LEADING_METRICS, widths))
    print(f"\n{header}")
    for system, values in table.items():
        cells = "".join(
            f"{'-' if finite(values.get(s.key)) is None else f'{values[s.key]:.3f}':>{w}}"
            for s, w in zip(LEADING_METRICS, widths))
        print(f"{system:<14}{cells}")
    if summary.get("groups"):
        from binaural.eval.groups import group_table_text

        print("\n" + group_table_text(summary["groups"], list(table)))
    for reason in summary["failed"].values():
        print(f"FAILED {reason}")
    print(f"\n{summary['clips']} clips evaluated into {summary['out']}; "
          f"MLflow run {summary['mlflow_run_id']}")


def _seconds(path) -> float:
    """A clip's length from its file header (0 when unreadable)."""
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except (OSError, RuntimeError):
        return 0.0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The `evaluate` subcommand: checks the arguments, runs the flow, prints the table."""
    from binaural.eval.datasets import load_dataset
    from binaural.eval.systems import parse_systems

    if args.systems:
        from flows.params import load_params

        register_model_systems(load_params(getattr(args, "params", None)), args.model)
        parse_systems(args.systems)  # a typo fails here, before Prefect starts
    from flows.params import load_params, with_head

    with_head(load_params(getattr(args, "params", None)), args.hrtf)  # fails in one line
    if args.split:
        load_dataset(args.dataset, args.split)
    elif not Path(args.dataset).is_dir():
        raise NotADirectoryError(f"{args.dataset}: dataset folder not found")
    summary = evaluate(args.dataset, args.out, systems=args.systems, split=args.split,
                       limit=args.limit, params_file=getattr(args, "params", None),
                       model=args.model, hrtf=args.hrtf)
    _print_summary(summary)
    return 0 if summary["clips"] else 1


def add_evaluate_parser(subparsers) -> None:
    """Register `evaluate` on the CLI's subparsers (func: cmd_evaluate)."""
    p = subparsers.add_parser(
        "evaluate", help="score systems against a dataset's binaural references",
        description="Score binaural systems against the references of a dataset (FAIR-Play "
                    "layout or a folder of paired recordings); writes report.md, metrics.json, "
                    "plots/ and clips/<id>/ into --out.")
    p.add_argument("dataset", help="dataset folder (FAIR-Play layout or paired recordings)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"EVAL_DIR (default {DEFAULT_OUT})")
    p.add_argument("--systems", default=None,
                   help="comma-separated, from mono, dsp, dsp-oracle, model, model-oracle, "
                        "dsp-separate (default: params evaluate.systems)")
    p.add_argument("--split", default=None,
                   help="train, val, test, splitN/test or all (default: params evaluate.split)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N clips only")
    p.add_argument("--model", default=None,
                   help="generator of the model systems: dsp, a checkpoint or "
                        "models:/NAME@ALIAS (default: params generator.model)")
    p.add_argument("--hrtf", default=None,
                   help="the head to render with: a SOFA file (SimpleFreeFieldHRIR, any "
                        "rate) or pkg:PACKAGE/FILE.sofa instead of params render.hrtf")
    # SUPPRESS: absent here, the main parser's --params (if any) is kept.
    p.add_argument("--params", default=argparse.SUPPRESS, help="params.yaml to use")
    p.set_defaults(func=cmd_evaluate)


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.evaluate ...`: the same as `binaural evaluate ...`."""
    from flows.commands import module_main

    return module_main(add_evaluate_parser, "evaluate", argv)


if __name__ == "__main__":
    from flows.environment import run_as_prepared

    run_as_prepared("flows.evaluate")
    sys.exit(main())
