"""`binaural synth` and the DVC stage `prepare`: synthetic scenes with a true-mono capture
and their binaural truth.

    binaural synth OUT --scenes N --seed S [--sources K] [--duration D] [--room shoebox|none]
                   [--hrtf PATH] [--source-audio DIR] [--mono-mode omni|downmix]
                   [--dataset [--test-hrtf PATH]]
    python -m flows.synth prepare [OUT]       # params `prepare` + `synth` -> data/dataset

Without --dataset OUT gets the flat layout (OUT/<name>.mp4, OUT/truth/<name>.json,
OUT/truth/<name>.binaural.wav) that `binaural remaster` and the demo read; with it, the
FAIR-Play layout of docs/formats.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from flows.environment import PROJECT_ROOT, prepare_environment, run_as_prepared
from flows.progress import ItemProgress


def _heads(specs, sample_rate: int):
    from binaural.spatial.heads import load_heads

    return load_heads(specs, sample_rate, base=PROJECT_ROOT)


def _library(cfg):
    from binaural.synth.source_files import SourceLibrary

    return SourceLibrary.from_folder(cfg.source_audio, cfg.classes) if cfg.source_audio else None


def _progress(started: float, shown=None, scene_s: float = 0.0):
    """Per scene: the bar of `shown` (flows.progress.ItemProgress) on a terminal, else a
    printed line."""

    def report(done: int, total: int, name: str, split: str | None = None) -> None:
        if shown is not None and shown.terminal:
            shown.total = total
            shown.item({"key": name, "status": "done", "report": {"duration_s": scene_s}})
            return
        where = f" ({split})" if split else ""
        print(f"[{done}/{total}] {name}{where}  {time.perf_counter() - started:.1f} s",
              flush=True)

    return report


def make_dataset(params, cfg, out: str | Path, test_hrtf: str = "") -> dict:
    """Write the FAIR-Play dataset of `cfg` into `out`, splits and held-out policy from
    params.prepare; the test split takes `test_hrtf` (or prepare.test_hrtf) when given."""
    from binaural.spatial.heads import head_digest, resolve_hrtf
    from binaural.synth.dataset_writer import write_dataset

    prepare = params.prepare
    heads = _heads(cfg.heads or (cfg.hrtf,), cfg.sample_rate)
    test_spec = test_hrtf or prepare.test_hrtf
    test_head = _heads([test_spec], cfg.sample_rate)[0] if test_spec else None
    heldout = [head_digest(resolve_hrtf(spec, PROJECT_ROOT)) for spec in prepare.heldout_heads]
    with ItemProgress(cfg.scenes, lines=False) as shown:
        card = write_dataset(cfg, prepare, out, heads, test_head, heldout, _library(cfg),
                             _progress(time.perf_counter(), shown, cfg.duration_s))
    counts = card["splits"][prepare.split_name]
    print(f"{card['scenes']} scenes in {out} ({', '.join(f'{k} {v}' for k, v in counts.items())}"
          f"; mono: {card['mono']}); card in {Path(out) / 'dataset_card.json'}")
    return card


def cmd_synth(args: argparse.Namespace) -> int:
    from binaural.synth.scenes import synthesize
    from flows.params import load_params

    params = load_params(args.params)
    changes = {"scenes": args.scenes, "seed": args.seed}
    if args.sources is not None:
        changes["max_sources"] = args.sources
    if args.duration is not None:
        changes["duration_s"] = args.duration
    if args.room is not None:
        changes["room"] = args.room
    if args.hrtf is not None:
        changes.update(hrtf=args.hrtf, heads=(args.hrtf,))
    if args.source_audio is not None:
        changes["source_audio"] = args.source_audio
    if args.mono_mode is not None:
        changes["mono_mode"] = args.mono_mode
    cfg = replace(params.synth, **changes)
    if args.dataset:
        make_dataset(params, cfg, args.out, args.test_hrtf or "")
        return 0
    if args.test_hrtf:
        raise ValueError("--test-hrtf needs --dataset (only a dataset has a test split)")
    heads = _heads(cfg.heads or (cfg.hrtf,), cfg.sample_rate)
    with ItemProgress(cfg.scenes, lines=False) as shown:
        synthesize(cfg, heads, args.out, _progress(time.perf_counter(), shown, cfg.duration_s),
                   _library(cfg))
    print(f"{cfg.scenes} scenes in {args.out} (truth in {Path(args.out) / 'truth'})")
    return 0


def add_synth_parser(sub) -> None:
    """Register `binaural synth` on the CLI's subparsers."""
    p = sub.add_parser("synth", help="synthesize scenes with true mono and binaural truth")
    p.add_argument("out")
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sources", type=int, default=None, help="at most K sources per scene")
    p.add_argument("--duration", type=float, default=None, help="seconds per scene")
    p.add_argument("--room", choices=("shoebox", "none"), default=None,
                   help="shoebox rooms (image sources + late tail) or anechoic")
    p.add_argument("--hrtf", default=None, help="render every scene with this SOFA file")
    p.add_argument("--source-audio", default=None, metavar="DIR",
                   help="WAV/FLAC files as source material (DIR/<class>/ pins a class)")
    p.add_argument("--mono-mode", choices=("omni", "downmix"), default=None,
                   help="the video's mono: the omni capture (default) or the (L+R)/2 "
                        "downmix of the target (control experiment)")
    p.add_argument("--dataset", action="store_true",
                   help="write the FAIR-Play layout (videos/, binaural_audios/, splits/, ...)")
    p.add_argument("--test-hrtf", default=None, metavar="PATH",
                   help="with --dataset: render the test split with this head (e.g. the "
                        "held-out one, refused for train/val)")
    p.set_defaults(func=cmd_synth)


def prepare(out: str | None = None, params_file: str | None = None) -> dict:
    """DVC stage `prepare`: params.prepare (scenes, seed, durations, splits, test head) over
    params.synth, into `out` (default prepare.out)."""
    from flows.params import load_params

    params = load_params(params_file)
    prep = params.prepare
    cfg = replace(params.synth, scenes=prep.scenes, seed=prep.seed, duration_s=prep.duration_s,
                  max_sources=prep.max_sources)
    return make_dataset(params, cfg, out or prep.out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=None, help="params.yaml to use")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="the training dataset (DVC stage prepare)")
    p.add_argument("out", nargs="?", default=None)
    args = parser.parse_args(argv)
    prepare_environment()
    prepare(args.out, args.params)
    return 0


if __name__ == "__main__":
    run_as_prepared("flows.synth")
    sys.exit(main())
