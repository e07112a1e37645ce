"""`binaural synth`: synthetic scenes with a true-mono capture and their binaural truth."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def cmd_synth(args: argparse.Namespace) -> int:
    from binaural.hrtf import load_sofa
    from binaural.synth import synthesize
    from flows.params import load_params

    cfg = load_params(args.params).synth
    changes = {"scenes": args.scenes, "seed": args.seed}
    if args.sources is not None:
        changes["max_sources"] = args.sources
    if args.duration is not None:
        changes["duration_s"] = args.duration
    cfg = replace(cfg, **changes)
    hrtf = load_sofa(cfg.hrtf, cfg.sample_rate)

    def progress(done: int, total: int, name: str) -> None:
        print(f"[{done}/{total}] {name}", flush=True)

    synthesize(cfg, hrtf, args.out, progress)
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
    p.set_defaults(func=cmd_synth)
