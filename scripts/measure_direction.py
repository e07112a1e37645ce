"""Median error between the output's ITD azimuth and the truth azimuth on 1-source scenes.

    python scripts/measure_direction.py --scenes 20 --seed 11 --out /tmp/dircheck

Synthesizes 1-source scenes, remasters them with the real flow, and prints per-scene and
overall median errors (degrees).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from flows.environment import prepare_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--out", default="/tmp/direction-check")
    args = parser.parse_args()
    prepare_environment()

    from binaural.eval.truth import truth_direction_errors
    from binaural.spatial.hrtf import load_sofa
    from binaural.synth.scenes import synthesize
    from flows.params import load_params
    from flows.remaster import remaster

    params = load_params()
    cfg = replace(params.synth, scenes=args.scenes, seed=args.seed, max_sources=1,
                  duration_s=args.duration)
    src, dest = Path(args.out) / "src", Path(args.out) / "dest"
    synthesize(cfg, load_sofa(cfg.hrtf, cfg.sample_rate), src)
    summary = remaster(str(src), str(dest))
    medians, detected = [], 0
    print(f"{'scene':<22} {'sources found':>13} {'median err (deg)':>17}")
    out = dest / summary["version"]
    for key in sorted(summary["done"] + summary["already_done"]):
        name = Path(key).stem
        errors = truth_direction_errors(out / f"{name}.binaural.wav",
                                        src / "truth" / f"{name}.json", params.evaluate)
        report = json.loads((out / f"{name}.json").read_text())
        detected += bool(report["sources"])
        med = float(np.median(errors)) if errors.size else float("nan")
        medians.append(med)
        print(f"{name:<22} {len(report['sources']):>13} {med:>17.2f}")
    print(f"\nscenes: {len(medians)}, with a detected source: {detected}")
    print(f"median of per-scene medians: {np.nanmedian(medians):.2f} deg; "
          f"worst scene: {np.nanmax(medians):.2f} deg")


if __name__ == "__main__":
    main()
