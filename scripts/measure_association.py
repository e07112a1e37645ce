"""Which person is speaking: the association on fresh scenes of two people, one speaking
and one silent but moving (seeds the training never used), and what it does to the DSP
render's heard direction.

    python scripts/measure_association.py --scenes 20 --seed 900000

Per scene: the video is written and read back through the association's decode pass with
the truth's tracks thinned to the detection rate and jittered (a detector's view, no
detector needed); accuracy: per 0.5 s window where one track sounds, whether the track
with the highest probability is it; direction: the median |ITD azimuth of the render -
the speaker's true azimuth| over the windows where the speaker sounds
(binaural.eval.truth.truth_direction_errors), rendered with and without the association.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from binaural.eval.truth import truth_direction_errors
from binaural.io.audio import write_wav
from binaural.io.outputs import write_json
from binaural.spatial.association import AssociationModel, associate_tracks
from binaural.spatial.gate import ActivityModel
from binaural.spatial.heads import load_heads
from binaural.spatial.hrtf import load_sofa
from binaural.spatial.scene_render import render_scene
from binaural.synth.association_data import (
    detected_tracks,
    make_scene,
    scene_windows,
    sounding_fraction,
)
from flows.environment import PROJECT_ROOT
from flows.params import load_params

EVAL_WINDOW_S = 0.5


def window_accuracy(truth: dict, tracks) -> tuple[int, int]:
    """(correct, counted) over EVAL_WINDOW_S windows where exactly one source sounds."""
    correct = counted = 0
    for t0 in np.arange(0.0, truth["duration_s"] - EVAL_WINDOW_S + 1e-9, EVAL_WINDOW_S):
        t1 = t0 + EVAL_WINDOW_S
        on = [sounding_fraction(s, t0, t1) >= 0.5 for s in truth["sources"]]
        if sum(on) != 1:
            continue
        p = [np.interp((t0 + t1) / 2, tr.times_s, tr.sounding) for tr in tracks]
        counted += 1
        correct += int(on[int(np.argmax(p))])
    return correct, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=None)
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=900000)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--source-class", default="person")
    parser.add_argument("--closeup", type=float, default=0.0,
                        help="share of people's boxes cut to head and shoulders")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = replace(params.synth, duration_s=args.duration)
    heads = load_heads(cfg.heads or (cfg.hrtf,), cfg.sample_rate, base=PROJECT_ROOT)
    assoc = params.localize.associate
    model = AssociationModel.load(assoc.model)
    activity = ActivityModel.load(assoc.activity_model) if assoc.activity_model else None
    hrtf = load_sofa(params.render.hrtf, cfg.sample_rate)
    print(f"{'scene':>8} {'acc':>6} {'windows':>7} {'err with':>9} {'err without':>11} "
          f"{'p speaker':>9} {'p silent':>8} {'assoc s':>7}")
    totals = np.zeros(2, int)
    errors = {True: [], False: []}
    for i in range(args.scenes):
        seed = args.seed + i
        with tempfile.TemporaryDirectory() as tmp:
            scene, video = make_scene(cfg, heads, "pair", args.source_class, seed, Path(tmp))
            truth = scene.truth
            tracks = detected_tracks(truth, np.random.default_rng([seed, 99]), args.closeup)
            start = time.perf_counter()
            _, _, _, series = scene_windows(scene, video, tracks, assoc, activity)
            fps = min(assoc.fps, float(truth["fps"]))
            tracks, summary = associate_tracks(tracks, *series, fps, model, assoc)
            seconds = time.perf_counter() - start
            correct, counted = window_accuracy(truth, tracks)
            totals += (correct, counted)
            write_json(Path(tmp) / "truth.json", truth)
            row = []
            for use in (True, False):
                used = tracks if use else [replace(t, sounding=None) for t in tracks]
                out = render_scene(scene.mono, hrtf, used, params.render, cfg.sample_rate)
                write_wav(Path(tmp) / "out.wav", out, cfg.sample_rate)
                err = truth_direction_errors(Path(tmp) / "out.wav", Path(tmp) / "truth.json",
                                             params.evaluate)
                errors[use].append(float(np.median(err)) if err.size else np.nan)
                row.append(errors[use][-1])
        speaker = [s["silent"] for s in truth["sources"]].index(False)
        means = [float(np.mean(t.sounding)) for t in tracks]
        print(f"{seed:>8} {correct / max(counted, 1):>6.2f} {counted:>7} {row[0]:>9.2f} "
              f"{row[1]:>11.2f} {means[speaker]:>9.2f} {means[1 - speaker]:>8.2f} "
              f"{seconds:>7.2f}")
    accuracy = totals[0] / max(totals[1], 1)
    print(f"\nassociation accuracy per {EVAL_WINDOW_S} s window: {accuracy:.3f} "
          f"({totals[0]}/{totals[1]} windows, {args.scenes} scenes)")
    for use in (True, False):
        e = np.array(errors[use])
        print(f"direction error, DSP render {'with' if use else 'without'} the association: "
              f"median {np.nanmedian(e):.2f} deg, mean {np.nanmean(e):.2f} deg over scenes")


if __name__ == "__main__":
    main()
