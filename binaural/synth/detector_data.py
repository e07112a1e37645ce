"""Training frames for the project's own detector, in the Ultralytics YOLO layout.

Four kinds of training image (the validation split stays synthetic, so its mAP keeps
measuring the rendered classes):
- rendered: 0-4 sprites of random classes, sizes and positions over a random backdrop,
  often overlapping or cut by the frame edge, as in the synthesized scenes;
- real: frames that ship in packages with their people (boxes from the pose model,
  labelled by the caller) and no instrument: real negatives for the instrument classes;
- composite: 1-3 sprites pasted onto a real frame, so instruments are learned on real
  backgrounds too; a real person the sprites mostly cover loses its label;
- hard negative: a real frame on which an earlier version of the detector named an
  instrument (models.hard_negatives), people labelled, written several times, hue-rotated;
- hue-rotated copies of the real frames, people labelled: a colour (a red jacket) is no
  instrument.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from binaural.synth.sprites import SPRITE_CLASSES, draw_background, render_frame

MIN_BOX_PX = 4.0
PERSON = SPRITE_CLASSES.index("person")
VAL_STREAM = 1  # the val split's own random stream: (seed, VAL_STREAM)
HUE_STREAM = 2  # the real images' hue turns: (seed, HUE_STREAM)
COVERED = 0.5  # a real person more than this fraction under pasted sprites is unlabelled

Label = tuple[int, float, float, float, float]  # class, cx, cy, w, h (fractions of frame)
Sprite = tuple[str, float, float, float]  # class, cx, cy, height (pixels)


def _sprites(rng: np.random.Generator, height: int, width: int, count: int) -> list[Sprite]:
    sprites = []
    for _ in range(count):
        cls = SPRITE_CLASSES[int(rng.integers(len(SPRITE_CLASSES)))]
        h = float(np.exp(rng.uniform(np.log(15), np.log(height * 1.1))))
        cx = float(rng.uniform(-0.05, 1.05) * width)
        cy = float(rng.uniform(0.2, 0.8) * height)
        sprites.append((cls, cx, cy, h))
    sprites.sort(key=lambda s: s[3])  # small (far) first
    return sprites


def _label(cls: int, box, height: int, width: int) -> Label | None:
    x1, y1, x2, y2 = box
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        return None
    return (cls, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
            (y2 - y1) / height)


def _drawn(rng: np.random.Generator, background: np.ndarray, count: int
           ) -> tuple[np.ndarray, list[Label], np.ndarray]:
    """Sprites drawn over a background: the frame, their labels and a mask of their boxes."""
    height, width = background.shape[:2]
    sprites = _sprites(rng, height, width, count)
    frame, boxes = render_frame(background, sprites)
    covered = np.zeros((height, width), bool)
    labels = []
    for (cls, *_), box in zip(sprites, boxes):
        if (label := _label(SPRITE_CLASSES.index(cls), box, height, width)) is not None:
            labels.append(label)
            x1, y1, x2, y2 = (round(v) for v in box)
            covered[y1:y2, x1:x2] = True
    return frame, labels, covered


def _noisy(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    if rng.random() < 0.3:  # compression-like noise, as decoded H.264 frames have
        noise = rng.normal(0, 4, frame.shape)
        return np.clip(frame + noise, 0, 255).astype(np.uint8)
    return frame


def rendered_image(rng: np.random.Generator, height: int, width: int
                   ) -> tuple[np.ndarray, list[Label]]:
    background = draw_background(height, width, rng)
    frame, labels, _ = _drawn(rng, background, int(rng.choice([0, 1, 1, 2, 2, 3, 4])))
    return _noisy(rng, frame), labels


def people_labels(people: np.ndarray, height: int, width: int,
                  covered: np.ndarray | None = None) -> list[Label]:
    """`person` labels of (n, 4) pixel boxes (x1, y1, x2, y2), clipped to the frame; a box
    mostly under `covered` (a mask of pasted sprites) is left out."""
    labels = []
    for x1, y1, x2, y2 in np.asarray(people, np.float64).reshape(-1, 4):
        box = (max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height))
        if covered is not None:
            under = covered[round(box[1]):round(box[3]), round(box[0]):round(box[2])]
            if under.size and under.mean() > COVERED:
                continue
        if (label := _label(PERSON, box, height, width)) is not None:
            labels.append(label)
    return labels


def composite_image(rng: np.random.Generator, frame: np.ndarray, people: np.ndarray
                    ) -> tuple[np.ndarray, list[Label]]:
    """1-3 sprites pasted onto a real frame; its people keep their labels unless covered."""
    height, width = frame.shape[:2]
    out, labels, covered = _drawn(rng, frame, int(rng.integers(1, 4)))
    return _noisy(rng, out), labels + people_labels(people, height, width, covered)


def hue_rotated(frame: np.ndarray, turn: float) -> np.ndarray:
    """The RGB frame with every hue turned by `turn` of a full circle (saturation and
    value kept): a red jacket becomes a green or a blue one."""
    hsv = np.asarray(Image.fromarray(frame).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + round(turn * 256)) % 256
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))


def _save(out_dir: Path, split: str, stem: str, frame: np.ndarray, labels: list[Label]
          ) -> None:
    Image.fromarray(frame).save(out_dir / "images" / split / f"{stem}.jpg", quality=90)
    lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}" for c, x, y, w, h in labels]
    (out_dir / "labels" / split / f"{stem}.txt").write_text("\n".join(lines))


def write_dataset(
    out_dir: str | Path, train_images: int, val_images: int, seed: int, width: int,
    height: int, real: Iterable[tuple[str, np.ndarray, np.ndarray]] = (),
    composites_per_frame: int = 0,
    hard: Iterable[tuple[str, np.ndarray, np.ndarray]] = (),
    hard_copies: int = 1,
    hue_copies: int = 0,
) -> Path:
    """Write images/{train,val}, labels/{train,val} and data.yaml; returns data.yaml.

    `real`: (name, RGB frame, (n, 4) pixel boxes of its people) training images, each
    written as it is and pasted with sprites `composites_per_frame` times. The rendered
    images of each split come from their own seeded stream, so the synthetic val split
    depends on neither the number of training images nor the real ones.
    `hue_copies`: each real image is also written this many times hue-rotated (its
    people labelled, no sprites). `hard`: hard negatives, (name, RGB frame, its people)
    like `real`, each written `hard_copies` times with its people labelled: as it is,
    then hue-rotated. The hue turns come from their own seeded stream.
    """
    out_dir = Path(out_dir).resolve()
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_images), ("val", val_images)):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
        split_rng = np.random.default_rng((seed, VAL_STREAM)) if split == "val" else rng
        for i in range(count):
            _save(out_dir, split, f"{split}_{i:05d}",
                  *rendered_image(split_rng, height, width))
    hue_rng = np.random.default_rng((seed, HUE_STREAM))
    for name, frame, people in real:
        h, w = frame.shape[:2]
        _save(out_dir, "train", f"real_{name}", frame, people_labels(people, h, w))
        for k in range(hue_copies):
            _save(out_dir, "train", f"hue_{name}_{k}",
                  hue_rotated(frame, hue_rng.uniform(0.1, 0.9)), people_labels(people, h, w))
        for k in range(composites_per_frame):
            _save(out_dir, "train", f"composite_{name}_{k}", *composite_image(rng, frame, people))
    for name, frame, people in hard:
        labels = people_labels(people, *frame.shape[:2])
        for k in range(hard_copies):
            shown = frame if k == 0 else hue_rotated(frame, hue_rng.uniform(0.1, 0.9))
            _save(out_dir, "train", f"hard_{name}_{k}", shown, labels)
    data_yaml = out_dir / "data.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(SPRITE_CLASSES))
    data_yaml.write_text(
        f"path: {out_dir}\ntrain: images/train\nval: images/val\nnames:\n{names}\n"
    )
    return data_yaml
