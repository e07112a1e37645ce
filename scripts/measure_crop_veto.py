"""Choosing the crop veto's settings (params detector.verify_*) on frames that may choose:
real frames the detector trained on, and rendered sprite frames (never the held-out ones).

    PYTHONPATH=. YOLO_OFFLINE=1 .venv/bin/python scripts/measure_crop_veto.py
        [--own-conf 0.1] [--sizes 320 480 640] [--margins 0.5 1.0] [--confs 0.1 0.3]
        [--sprite-frames 100]

Real side (binaural.synth.real_frames.training_images: the videos' training parts and the
training photos; no instrument there): the default list with our model's conf lowered to
--own-conf (the shipped detector fits these frames, so at its own conf it fires on few),
the crop veto off. Per setting (imgsz, margin) it prints how many of those instrument
boxes it drops, among them those on a reference person (IoU >= cross_class_iou with the
pose model's people at a high resolution, models.real_people), and the ms per look.
Settings: imgsz x margin x conf (the crop's people from conf up, params verify_conf).

Sprite side (binaural.synth.detector_data.rendered_image, its own seed; drawn people and
instruments; and composite_image, sprites pasted over those real frames and their people):
instruments found by the default list (a box of the drawn label at IoU >= 0.5) without
the crop veto, and those the veto would drop, per setting.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace

import numpy as np

from binaural.spatial.box_merge import iou_matrix
from binaural.synth.detector_data import composite_image, rendered_image
from binaural.synth.real_frames import training_images
from flows.params import load_params
from models.real_people import person_finder
from scripts.measure_sprite_recall import MATCH_IOU, truth_boxes


def instrument_boxes(detector, frame: np.ndarray) -> list[tuple[str, tuple]]:
    return [(lab, box) for lab, _, box in detector.detect(frame) if lab != "person"]


def seen_people(detector, bgr: np.ndarray) -> np.ndarray:
    """The (m, 4) boxes the first model (the pose model, the crop veto's) sees in the
    frame pass, veto-only ones too: people the crop veto leaves to the merge."""
    return detector.runners[0].detect(bgr).boxes


def sprite_found(detector, frames) -> list[tuple[np.ndarray, tuple]]:
    """(frame, box) of each drawn instrument the detector finds (label and IoU >= 0.5)."""
    hits = []
    for frame, (names, boxes) in frames:
        found = instrument_boxes(detector, frame)
        for name, box in zip(names, boxes):
            same = [b for lab, b in found if lab == name]
            if name != "person" and same:
                ious = iou_matrix(box[None], np.array(same))[0]
                if ious.max() >= MATCH_IOU:
                    hits.append((frame, same[int(ious.argmax())]))
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--own-conf", type=float, default=0.1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 480, 640])
    parser.add_argument("--margins", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--confs", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--sprite-frames", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from models.builders import build_detector

    params = load_params()
    cfg = replace(params.detector, device="cpu", threads=args.threads, verify_imgsz=0)
    data = params.detector_data
    low = build_detector(replace(cfg, models=tuple(
        replace(m, conf=args.own_conf) if m.embed else m for m in cfg.models)))
    plain = build_detector(cfg)
    refs = person_finder(data.person_weights, data.person_scale, data.person_conf,
                         args.threads)
    real = []  # (bgr frame, instrument box, on a reference person)
    composites = []  # (frame, (names, boxes)): sprites pasted over real people
    paste = np.random.default_rng((args.seed, 1))
    for _, frame in training_images(data):
        people = refs(frame)
        pasted, labels = composite_image(paste, frame, people)
        composites.append((pasted, truth_boxes(labels, *frame.shape[:2])))
        boxes = instrument_boxes(low, frame)
        if not boxes:
            continue
        bgr = np.ascontiguousarray(frame[..., ::-1])  # one frame pass for all its boxes
        seen = seen_people(low, bgr)
        for _, box in boxes:
            on = bool(len(people)) and iou_matrix(np.array(box)[None], people).max() >= (
                cfg.cross_class_iou)
            real.append((bgr, box, on, seen))
    rng = np.random.default_rng((args.seed, 0))
    width, height = data.width, data.height
    frames = []
    for _ in range(args.sprite_frames):
        frame, labels = rendered_image(rng, height, width)
        frames.append((frame, truth_boxes(labels, height, width)))
    passed: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(frame) -> (BGR, seen)
    sprites = []
    for f, b in sprite_found(plain, frames + composites):
        if id(f) not in passed:  # one frame pass per frame, not per instrument in it
            bgr = np.ascontiguousarray(f[..., ::-1])
            passed[id(f)] = (bgr, seen_people(plain, bgr))
        bgr, seen = passed[id(f)]
        sprites.append((bgr, b, seen))
    on = sum(o for _, _, o, _ in real)
    print(f"real training frames, our conf {args.own_conf}: {len(real)} instrument boxes, "
          f"{on} on a reference person; sprite frames (seed {args.seed}) and sprites pasted "
          f"on the real frames: {len(sprites)} instruments found without the crop veto")
    for size, margin, conf in itertools.product(args.sizes, args.margins, args.confs):
        veto = build_detector(replace(cfg, verify_imgsz=size, verify_margin=margin,
                                      verify_conf=conf)).crop_veto
        start = time.perf_counter()
        dropped = [veto.is_person(bgr, box, seen) for bgr, box, _, seen in real]
        lost = sum(veto.is_person(bgr, box, seen) for bgr, box, seen in sprites)
        ms = 1000 * (time.perf_counter() - start) / max(1, len(real) + len(sprites))
        on_people = sum(d and o for d, (_, _, o, _) in zip(dropped, real))
        print(f"  imgsz {size} margin {margin} conf {conf}: real boxes dropped "
              f"{sum(dropped)} (on people {on_people} of {on}), sprite instruments dropped "
              f"{lost} of {len(sprites)}, {ms:.1f} ms/look")

if __name__ == "__main__":
    main()
