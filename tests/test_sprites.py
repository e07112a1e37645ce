"""Sprites: boxes, clipping, distinct classes, and a backdrop free of sprite colours."""

import itertools

import numpy as np
import pytest

from binaural.synth import sprites
from binaural.synth.sprites import (
    SPRITE_ASPECT,
    SPRITE_CLASSES,
    draw_background,
    draw_sprite,
    render_frame,
)

HEIGHT, WIDTH = 240, 400
GREY = 128
SPRITE_PX = 100.0
BOX_TOL_PX = 1.5
MIN_DISTINCT_RGB = 30.0
# The colour that dominates each sprite; the backdrop must not contain it prominently.
MAIN_COLOURS = (sprites.SHIRT_BLUE, sprites.PIANO_BLACK, sprites.GUITAR_BODY,
                sprites.VIOLIN_BODY, sprites.BRASS)
COLOUR_RADIUS = 40.0
MAX_COLOUR_FRACTION = 0.01


def _grey() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), GREY, dtype=np.uint8)


def _changed(frame: np.ndarray) -> np.ndarray:
    return np.any(frame != GREY, axis=2)


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_classes_have_aspects() -> None:
    assert set(SPRITE_ASPECT) == set(SPRITE_CLASSES)
    assert all(a > 0 for a in SPRITE_ASPECT.values())


@pytest.mark.parametrize("source_class", SPRITE_CLASSES)
@pytest.mark.parametrize("height_px", [12.0, 13.7, 17.3, 23.0, 37.5, SPRITE_PX, 140.0])
def test_box_is_centred_tight_and_painted(source_class: str, height_px: float) -> None:
    frame = _grey()
    cx, cy = 201.3, 118.7
    x1, y1, x2, y2 = draw_sprite(frame, source_class, cx, cy, height_px)
    assert (x1 + x2) / 2 == pytest.approx(cx)
    assert (y1 + y2) / 2 == pytest.approx(cy)
    assert y2 - y1 == pytest.approx(height_px)
    assert x2 - x1 == pytest.approx(height_px * SPRITE_ASPECT[source_class])
    changed = _changed(frame)
    # Every painted pixel lies in the box and the painting reaches all four sides.
    ex1, ey1, ex2, ey2 = _extent(changed)
    for drawn, box in zip((ex1, ey1, ex2, ey2), (x1, y1, x2, y2), strict=True):
        assert abs(drawn - box) <= BOX_TOL_PX
    inside = changed[int(np.ceil(y1)):int(y2), int(np.ceil(x1)):int(x2)]
    assert inside.mean() > 0.2
    outside = changed.copy()
    outside[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = False
    assert not outside.any()


@pytest.mark.parametrize("source_class", SPRITE_CLASSES)
def test_clipped_at_frame_edges(source_class: str) -> None:
    frame = _grey()
    x1, y1, x2, y2 = draw_sprite(frame, source_class, 3.0, HEIGHT - 10.0, SPRITE_PX)
    half_w = SPRITE_PX * SPRITE_ASPECT[source_class] / 2
    assert (x1, y2) == (0.0, HEIGHT)
    assert x2 == pytest.approx(3.0 + half_w)
    assert y1 == pytest.approx(HEIGHT - 10.0 - SPRITE_PX / 2)
    assert _changed(frame).any()
    ex1, ey1, ex2, ey2 = _extent(_changed(frame))
    assert ex2 <= x2 + BOX_TOL_PX and ey1 >= y1 - BOX_TOL_PX


def test_large_sprite_larger_than_frame() -> None:
    frame = _grey()
    box = draw_sprite(frame, "piano", WIDTH / 2, HEIGHT / 2, 300.0)
    assert box[1] == 0.0 and box[3] == HEIGHT
    assert _changed(frame).mean() > 0.5


def test_sprite_wholly_outside_leaves_frame_unchanged() -> None:
    frame = _grey()
    x1, y1, x2, y2 = draw_sprite(frame, "guitar", -200.0, 50.0, 50.0)
    assert x2 - x1 <= 0.0
    assert not _changed(frame).any()


def test_classes_have_distinct_colours() -> None:
    means = {}
    for source_class in SPRITE_CLASSES:
        frame = _grey()
        draw_sprite(frame, source_class, WIDTH / 2, HEIGHT / 2, SPRITE_PX)
        means[source_class] = frame[_changed(frame)].astype(float).mean(axis=0)
    for a, b in itertools.combinations(SPRITE_CLASSES, 2):
        assert np.linalg.norm(means[a] - means[b]) > MIN_DISTINCT_RGB, (a, b)


def test_unknown_class_raises() -> None:
    with pytest.raises(ValueError, match="person"):
        draw_sprite(_grey(), "tuba", 10.0, 10.0, 20.0)
    with pytest.raises(ValueError, match="unknown"):
        render_frame(_grey(), [("tuba", 10.0, 10.0, 20.0)])


def test_background_is_deterministic_textured_and_muted() -> None:
    a = draw_background(HEIGHT, WIDTH, np.random.default_rng(7))
    b = draw_background(HEIGHT, WIDTH, np.random.default_rng(7))
    c = draw_background(HEIGHT, WIDTH, np.random.default_rng(8))
    assert a.shape == (HEIGHT, WIDTH, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.astype(float).std(axis=(0, 1)).min() > 1.0
    # The floor (bottom rows) differs from the wall (top rows).
    top, bottom = a[:10].astype(float).mean(), a[-10:].astype(float).mean()
    assert abs(top - bottom) > 3.0


@pytest.mark.parametrize("seed", range(8))
def test_background_has_no_sprite_colours(seed: int) -> None:
    image = draw_background(HEIGHT, WIDTH, np.random.default_rng(seed)).astype(float)
    for colour in MAIN_COLOURS:
        near = np.linalg.norm(image - np.array(colour, dtype=float), axis=2) < COLOUR_RADIUS
        assert near.mean() < MAX_COLOUR_FRACTION, colour


def test_render_frame_draws_in_order_without_touching_background() -> None:
    background = _grey()
    frame, boxes = render_frame(background, [("piano", 200.0, 120.0, 100.0),
                                             ("person", 200.0, 120.0, 100.0)])
    assert not _changed(background).any()
    assert len(boxes) == 2
    assert boxes[1] == draw_sprite(_grey(), "person", 200.0, 120.0, 100.0)
    # The person, drawn last, covers the piano: its blue torso shows at the centre.
    assert tuple(frame[120, 200]) == sprites.SHIRT_BLUE
