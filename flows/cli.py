"""The `binaural` command line.

    binaural demo --out DIR                 remaster the bundled sample archive
    binaural remaster SRC DEST [--model dsp|CKPT|models:/NAME@ALIAS] [--ray-address ADDR]
    binaural synth OUT --scenes N --seed S [--sources K] [--duration D]
    binaural train-detector                 the DVC stages detector_data + train_detector
"""

from __future__ import annotations

import argparse
import subprocess

from flows.commands import command_parser, run_command
from flows.environment import PROJECT_ROOT, exit_now, prepare_environment

SAMPLE_ARCHIVE = PROJECT_ROOT / "data" / "sample"


def _agreement_cell(metrics: dict) -> str:
    """The agreement with the detection, or why none is printed: a small figure for
    detections nobody can vouch for would read as accuracy."""
    if not metrics.get("detections_reliable", True):
        return "unreliable"
    value = metrics.get("agreement_with_detection_deg")
    return "-" if value is None else f"{value:.1f}"


def _association_cell(metrics: dict) -> str:
    """Which track sounds, how surely: mean margin / confident share; '-' without one."""
    margin = metrics.get("association_confidence")
    share = metrics.get("association_confident_fraction")
    return "-" if margin is None or share is None else f"{margin:.2f}/{share:.0%}"


def _print_summary(summary: dict) -> None:
    print(f"\n{'video':<32} {'status':<8} {'sources':>7} {'agree w/ det deg':>16} "
          f"{'collapse dB':>11} {'who sounds':>10}")
    for item in summary.get("items", []):
        if item["status"] == "done":
            m = item["report"]["metrics"]
            print(f"{item['key']:<32} {'done':<8} {len(item['report']['sources']):>7} "
                  f"{_agreement_cell(m):>16} {m['collapse_score_db']:>11.1f} "
                  f"{_association_cell(m):>10}")
        elif item["status"] == "failed":
            print(f"{item['key']:<32} {'FAILED':<8} {item['error']}")
        else:
            print(f"{item['key']:<32} {'skipped':<8} {item.get('reason', '')}")
    print("agree w/ det: heard direction vs the system's own detection (not vs the truth)")
    print("who sounds: the association's mean margin for the sounding track / share of "
          "time with a confident sounding source")
    print(f"\n{len(summary['done'])} done, {len(summary['already_done'])} already done, "
          f"{len(summary['failed'])} failed; outputs in {summary['dest']}/{summary['version']}/; "
          f"MLflow run {summary.get('mlflow_run_id')}")


def cmd_remaster(args: argparse.Namespace) -> int:
    from flows.params import load_params, with_overrides
    from flows.remaster import remaster
    from flows.warm_start import release_unclaimed, warm_start

    # the very settings the flow will derive; a bad head fails here, in one line
    params = with_overrides(load_params(args.params), args.model, args.hrtf)
    warm_start(params, args.ray_address, args.src, args.dest)
    try:
        summary = remaster(args.src, args.dest, params_file=args.params,
                           ray_address=args.ray_address, model=args.model, hrtf=args.hrtf)
    finally:
        release_unclaimed()
    _print_summary(summary)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    args.src = str(SAMPLE_ARCHIVE)
    args.dest = args.out
    return cmd_remaster(args)


def cmd_train_detector(args: argparse.Namespace) -> int:
    return subprocess.call(["dvc", "repro", "train_detector"], cwd=PROJECT_ROOT)


MODEL_HELP = ("the generator: dsp (the HRTF renderer alone), a checkpoint path, or an "
              "MLflow registry URI models:/NAME@ALIAS (default: params generator.model, the "
              "shipped small diffusion model)")


HRTF_HELP = ("the listener's head: a SOFA file (SimpleFreeFieldHRIR, any sample rate; "
             "resampled and normalised as the shipped sets are) or pkg:PACKAGE/FILE.sofa "
             "(a head shipped in a Python package) instead of params render.hrtf")


def add_remaster_parsers(sub) -> None:
    p = sub.add_parser("remaster", help="remaster a folder of videos")
    p.add_argument("src")
    p.add_argument("dest")
    p.add_argument("--ray-address", default=None, help="an existing Ray cluster")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--hrtf", default=None, help=HRTF_HELP)
    p.set_defaults(func=cmd_remaster)

    p = sub.add_parser("demo", help="remaster the bundled sample archive")
    p.add_argument("--out", default="demo-out")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--hrtf", default=None, help=HRTF_HELP)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train-detector", help="retrain the shipped detector (dvc repro)")
    p.set_defaults(func=cmd_train_detector)


def build_parser() -> argparse.ArgumentParser:
    """The parser; its subcommands' modules import Prefect, which reads its settings once,
    at import: main() prepares the environment (state dirs, timeouts) before this."""
    from flows.bench import add_bench_parser
    from flows.evaluate import add_evaluate_parser
    from flows.listen import add_listen_parser
    from flows.schedule import add_schedule_parser
    from flows.synth import add_synth_parser

    return command_parser([add_remaster_parsers, add_synth_parser, add_schedule_parser,
                           add_bench_parser, add_evaluate_parser, add_listen_parser],
                          description=__doc__, prog="binaural")


def main(argv: list[str] | None = None) -> int:
    prepare_environment()
    return run_command(build_parser(), argv)


def entry() -> None:
    """The `binaural` console script: main(), then exit without interpreter finalisation
    (flows.environment.exit_now: Ray's threads crash it at exit)."""
    exit_now(main())


if __name__ == "__main__":
    entry()
