"""Sprites and backdrops for synthetic scenes, drawn with numpy only.

Frames are uint8 RGB arrays of shape (H, W, 3). Each sound-source class has one sprite
with its own shape and colours so that a small detector can tell them apart. A sprite
is described in "height units": x and y are offsets from the sprite centre divided by
its pixel height, so y spans [-0.5, 0.5] and x spans [-aspect / 2, aspect / 2]. Every
sprite touches all four sides of that box, which makes the returned box a tight one.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable

import numpy as np

# The classes the synthesizer draws as sprites (and so the classes our own detector learns).
SPRITE_CLASSES: tuple[str, ...] = ("person", "piano", "guitar", "violin", "trumpet")

# Width / height of each class's sprite.
SPRITE_ASPECT: dict[str, float] = {
    "person": 0.42,
    "piano": 1.5,
    "guitar": 0.38,
    "violin": 0.7,
    "trumpet": 2.6,
}

Colour = tuple[int, int, int]
Box = tuple[float, float, float, float]
Layer = tuple[np.ndarray, Colour]

# Sprite palettes (RGB).
SKIN: Colour = (224, 172, 130)
HAIR: Colour = (60, 40, 30)
SHIRT_BLUE: Colour = (40, 80, 200)
TROUSERS: Colour = (35, 35, 55)
SHOES: Colour = (15, 15, 15)
PIANO_BLACK: Colour = (22, 20, 24)
PIANO_LID: Colour = (48, 44, 50)
PIANO_PANEL: Colour = (34, 31, 36)
KEY_WHITE: Colour = (240, 240, 235)
KEY_GAP: Colour = (150, 150, 150)
KEY_BLACK: Colour = (8, 8, 8)
GUITAR_BODY: Colour = (205, 125, 55)
GUITAR_NECK: Colour = (95, 58, 28)
GUITAR_HEAD: Colour = (70, 40, 20)
SOUND_HOLE: Colour = (25, 15, 8)
STRING: Colour = (210, 210, 200)
PEG_METAL: Colour = (190, 190, 195)
VIOLIN_BODY: Colour = (135, 35, 25)
VIOLIN_EDGE: Colour = (95, 20, 15)
EBONY: Colour = (12, 10, 10)
BRIDGE_WOOD: Colour = (230, 200, 150)
BOW_STICK: Colour = (110, 70, 40)
BOW_HAIR: Colour = (235, 230, 210)
BRASS: Colour = (225, 175, 45)
BRASS_DARK: Colour = (165, 115, 25)
BRASS_LIGHT: Colour = (250, 222, 120)
VALVE_CAP: Colour = (236, 228, 205)
SILVER: Colour = (200, 200, 205)

# Backdrop: muted colours only (low saturation, medium value), so that no sprite colour
# (black, saturated blue, orange, dark red, gold) appears prominently.
WALL_SATURATION = (0.03, 0.18)
WALL_VALUE = (0.6, 0.85)
FLOOR_SATURATION = (0.03, 0.2)
FLOOR_VALUE = (0.4, 0.6)
HORIZON_FRACTION = (0.6, 0.8)
WALL_GRADIENT = 0.15
NOISE_STD = 3.0
BLOTCH_STD = 6.0
BLOTCH_CELL_PX = 40
MAX_PANELS = 2
PANEL_CONTRAST = 0.08

# Pixels narrower than this are dropped by point sampling; prominent lines keep this width.
MIN_LINE_PX = 1.0


def _ellipse(x: np.ndarray, y: np.ndarray, x0: float, y0: float, rx: float, ry: float
             ) -> np.ndarray:
    return ((x - x0) / rx) ** 2 + ((y - y0) / ry) ** 2 <= 1.0


def _rect(x: np.ndarray, y: np.ndarray, xa: float, xb: float, ya: float, yb: float
          ) -> np.ndarray:
    return (x >= xa) & (x <= xb) & (y >= ya) & (y <= yb)


def _segment(x: np.ndarray, y: np.ndarray, p0: tuple[float, float], p1: tuple[float, float],
             width: float) -> np.ndarray:
    """Points within width / 2 of the segment p0-p1."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((x - p0[0]) * dx + (y - p0[1]) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(x - p0[0] - t * dx, y - p0[1] - t * dy) <= width / 2


def _person(x: np.ndarray, y: np.ndarray, px: float) -> list[Layer]:
    del px
    head = _ellipse(x, y, 0.0, -0.425, 0.065, 0.075)
    hair = _ellipse(x, y, 0.0, -0.43, 0.07, 0.07) & (y < -0.44)
    neck = _rect(x, y, -0.025, 0.025, -0.36, -0.32)
    torso = (_rect(x, y, -0.125, 0.125, -0.29, 0.06)
             | _ellipse(x, y, 0.0, -0.29, 0.125, 0.045))
    arms = (_rect(x, y, -0.21, -0.135, -0.30, 0.0) | _rect(x, y, 0.135, 0.21, -0.30, 0.0)
            | _ellipse(x, y, -0.16, -0.29, 0.05, 0.04) | _ellipse(x, y, 0.16, -0.29, 0.05, 0.04))
    hands = _ellipse(x, y, -0.172, 0.03, 0.038, 0.04) | _ellipse(x, y, 0.172, 0.03, 0.038, 0.04)
    legs = _rect(x, y, -0.115, -0.012, 0.05, 0.47) | _rect(x, y, 0.012, 0.115, 0.05, 0.47)
    shoes = (_ellipse(x, y, -0.075, 0.47, 0.06, 0.03) | _ellipse(x, y, 0.075, 0.47, 0.06, 0.03))
    return [(neck, SKIN), (head, SKIN), (hair, HAIR), (legs, TROUSERS), (shoes, SHOES),
            (torso, SHIRT_BLUE), (arms, SHIRT_BLUE), (hands, SKIN)]


# Piano keyboard: three octaves of white keys; black keys follow the white key at
# these positions within an octave (C#, D#, F#, G#, A#).
PIANO_WHITE_KEYS = 21
BLACK_AFTER_WHITE = (0, 1, 3, 4, 5)


def _piano(x: np.ndarray, y: np.ndarray, px: float) -> list[Layer]:
    half = SPRITE_ASPECT["piano"] / 2
    cabinet = _rect(x, y, -half + 0.05, half - 0.05, -0.5, 0.5)
    lid = _rect(x, y, -half, half, -0.5, -0.44)
    panel = _rect(x, y, -half + 0.15, half - 0.15, -0.36, -0.1)
    shelf = _rect(x, y, -half, half, 0.0, 0.17)
    kx0, kx1, ky0, ky1 = -half + 0.07, half - 0.07, 0.025, 0.145
    keys = _rect(x, y, kx0, kx1, ky0, ky1)
    key_w = (kx1 - kx0) / PIANO_WHITE_KEYS
    k = (x - kx0) / key_w
    key_px = px * key_w
    gaps = keys & (np.abs(k - np.round(k)) * key_px < MIN_LINE_PX / 2) & (key_px >= 3 * MIN_LINE_PX)
    # Black key sits across the boundary after white key i (i within the octave).
    boundary = np.round(k)
    black = keys & (y < ky0 + 0.6 * (ky1 - ky0)) & (np.abs(k - boundary) < 0.3)
    black &= np.isin((boundary.astype(int) - 1) % 7, BLACK_AFTER_WHITE)
    black &= (boundary > 0) & (boundary < PIANO_WHITE_KEYS)
    toes = _rect(x, y, -half, -half + 0.12, 0.44, 0.5) | _rect(x, y, half - 0.12, half, 0.44, 0.5)
    return [(cabinet, PIANO_BLACK), (lid, PIANO_LID), (panel, PIANO_PANEL),
            (shelf, PIANO_BLACK), (keys, KEY_WHITE), (gaps, KEY_GAP), (black, KEY_BLACK),
            (toes, PIANO_LID)]


def _guitar(x: np.ndarray, y: np.ndarray, px: float) -> list[Layer]:
    half = SPRITE_ASPECT["guitar"] / 2
    body = (_ellipse(x, y, 0.0, 0.30, half, 0.20) | _ellipse(x, y, 0.0, 0.03, 0.145, 0.15))
    hole = _ellipse(x, y, 0.0, 0.12, 0.055, 0.055)
    bridge = _rect(x, y, -0.065, 0.065, 0.325, 0.35)
    neck = _rect(x, y, -0.028, 0.028, -0.40, 0.0)
    head = _rect(x, y, -0.048, 0.048, -0.5, -0.39)
    pegs = (_ellipse(x, y, -0.058, -0.47, 0.012, 0.012) | _ellipse(x, y, 0.058, -0.47, 0.012, 0.012)
            | _ellipse(x, y, -0.058, -0.42, 0.012, 0.012)
            | _ellipse(x, y, 0.058, -0.42, 0.012, 0.012))
    string_w = 0.004
    strings = np.zeros_like(body)
    if px * string_w * 3 >= MIN_LINE_PX:
        for sx in (-0.015, -0.005, 0.005, 0.015):
            strings |= _rect(x, y, sx - string_w / 2, sx + string_w / 2, -0.39, 0.335)
    return [(body, GUITAR_BODY), (hole, SOUND_HOLE), (bridge, GUITAR_HEAD), (neck, GUITAR_NECK),
            (head, GUITAR_HEAD), (pegs, PEG_METAL), (strings, STRING)]


# Violin body centre (x, height units); the bow spans the sprite's width from lower left
# to upper right (heights of its ends), crossing the strings near the bridge.
VIOLIN_X = -0.08
BOW_Y = (0.42, -0.30)


def _violin(x: np.ndarray, y: np.ndarray, px: float) -> list[Layer]:
    c = VIOLIN_X
    body = (_ellipse(x, y, c, 0.33, 0.15, 0.17) | _ellipse(x, y, c, -0.01, 0.125, 0.14)
            | _rect(x, y, c - 0.1, c + 0.1, 0.05, 0.25))
    waist = _ellipse(x, y, c - 0.165, 0.14, 0.06, 0.07) | _ellipse(x, y, c + 0.165, 0.14, 0.06,
                                                                     0.07)
    body &= ~waist
    edge = body & ~(_ellipse(x, y, c, 0.33, 0.135, 0.155) | _ellipse(x, y, c, -0.01, 0.11, 0.125)
                    | _rect(x, y, c - 0.085, c + 0.085, 0.05, 0.25)) & ~waist
    f_holes = (_ellipse(x, y, c - 0.06, 0.16, 0.011, 0.055) | _ellipse(x, y, c + 0.06, 0.16, 0.011,
                                                                         0.055))
    board = _rect(x, y, c - 0.022, c + 0.022, -0.36, 0.06)
    bridge = _rect(x, y, c - 0.05, c + 0.05, 0.2, 0.215)
    tail_half = 0.016 + 0.14 * np.clip(y - 0.26, 0.0, None)
    tail = (np.abs(x - c) <= tail_half) & (y >= 0.26) & (y <= 0.40)
    chin = _ellipse(x, y, c - 0.06, 0.44, 0.05, 0.03)
    # The pegbox runs up under the scroll so that tiny violins still reach the box top.
    peg_half = max(0.022, MIN_LINE_PX / (2 * px))
    pegbox = _rect(x, y, c - peg_half, c + peg_half, -0.49, -0.36)
    scroll = _ellipse(x, y, c, -0.46, 0.04, 0.04)
    stick_w = max(0.012, MIN_LINE_PX / px)
    hair_w = max(0.008, MIN_LINE_PX / px)
    offset = stick_w / 2 + hair_w / 2
    bow_x = SPRITE_ASPECT["violin"] / 2 - stick_w / 2
    bow_from, bow_to = (-bow_x, BOW_Y[0]), (bow_x, BOW_Y[1])
    stick = _segment(x, y, bow_from, bow_to, stick_w)
    hair = _segment(x, y, (-bow_x, BOW_Y[0] + offset), (bow_x, BOW_Y[1] + offset), hair_w)
    frog_w = 0.035
    frog_from = (-bow_x + (frog_w - stick_w) / 2, BOW_Y[0])
    frog = _segment(x, y, frog_from, (frog_from[0] + 0.05, BOW_Y[0] - 0.054), frog_w)
    return [(body, VIOLIN_BODY), (edge, VIOLIN_EDGE), (f_holes, EBONY), (tail, EBONY),
            (chin, EBONY), (board, EBONY), (pegbox, VIOLIN_EDGE), (scroll, VIOLIN_BODY),
            (bridge, BRIDGE_WOOD), (hair, BOW_HAIR), (stick, BOW_STICK), (frog, EBONY)]


# Trumpet layout (height units): upper lead pipe, lower tube, a crook joining them.
TUBE_Y = -0.05
LOWER_Y = 0.43
BELL_START_X = 0.55
BELL_RADIUS = 0.42
TUBE_HALF = 0.06


def _trumpet(x: np.ndarray, y: np.ndarray, px: float) -> list[Layer]:
    half = SPRITE_ASPECT["trumpet"] / 2
    upper = _rect(x, y, -1.1, BELL_START_X, TUBE_Y - TUBE_HALF, TUBE_Y + TUBE_HALF)
    lower = _rect(x, y, -0.55, 0.3, LOWER_Y - 0.07, LOWER_Y + 0.07)
    crook_c, crook_r = (TUBE_Y + LOWER_Y) / 2, (LOWER_Y - TUBE_Y) / 2
    dist = np.hypot(x + 0.55, y - crook_c)
    crook = (np.abs(dist - crook_r) <= TUBE_HALF) & (x <= -0.55)
    s = np.clip((x - BELL_START_X) / (half - BELL_START_X), 0.0, 1.0)
    bell = (x >= BELL_START_X) & (np.abs(y - TUBE_Y) <= TUBE_HALF + (BELL_RADIUS - TUBE_HALF)
                                   * s ** 3)
    mouth = _ellipse(x, y, half - 0.025, TUBE_Y, 0.025, BELL_RADIUS - 0.04)
    valves = np.zeros_like(upper)
    caps = np.zeros_like(upper)
    for vx in (-0.15, 0.0, 0.15):
        valves |= _rect(x, y, vx - 0.045, vx + 0.045, -0.4, LOWER_Y)
        caps |= _rect(x, y, vx - 0.032, vx + 0.032, -0.5, -0.4)
    highlight = (upper | lower) & (np.abs(y - TUBE_Y + 0.025) < 0.015)
    pipe_half = max(0.03, MIN_LINE_PX / (2 * px))
    mouthpiece = _rect(x, y, -half, -1.1, TUBE_Y - pipe_half, TUBE_Y + pipe_half)
    cup = _ellipse(x, y, -half + 0.03, TUBE_Y, 0.03, 0.06)
    return [(crook, BRASS), (lower, BRASS), (upper, BRASS), (bell, BRASS),
            (mouth, BRASS_DARK), (valves, BRASS_DARK), (caps, VALVE_CAP),
            (highlight, BRASS_LIGHT), (mouthpiece, SILVER), (cup, SILVER)]


MOUTH: Colour = (110, 25, 35)


def _mix(a: Colour, b: Colour, m: float) -> Colour:
    return tuple(int(round(u + (v - u) * m)) for u, v in zip(a, b))  # type: ignore[return-value]


def _moving(source_class: str, x: np.ndarray, y: np.ndarray, m: float) -> list[Layer]:
    """What moves with the object's sound (m in [0, 1]: its envelope now), drawn over
    the sprite: a person's mouth opens, a guitar's strumming hand and a violin's bow hand
    travel, piano keys go down, a trumpet's bell brightens."""
    if source_class == "person":
        return [(_ellipse(x, y, 0.0, -0.39, 0.032, 0.004 + 0.026 * m), MOUTH)]
    if source_class == "guitar":
        return [(_ellipse(x, y, 0.0, 0.04 + 0.16 * m, 0.05, 0.035), SKIN)]
    if source_class == "violin":
        u = 0.25 + 0.5 * m  # along the bow, lower left to upper right
        bx = SPRITE_ASPECT["violin"] / 2 - 0.03
        hx, hy = -bx + 2 * bx * u, BOW_Y[0] + (BOW_Y[1] - BOW_Y[0]) * u
        return [(_ellipse(x, y, hx, hy, 0.04, 0.035), SKIN)]
    if source_class == "piano":
        half = SPRITE_ASPECT["piano"] / 2
        kx0, kx1 = -half + 0.07, half - 0.07
        k = np.floor((x - kx0) / ((kx1 - kx0) / PIANO_WHITE_KEYS)).astype(int)
        down = (k * 7 + int(m * 20)) % PIANO_WHITE_KEYS < int(round(m * 8))
        return [(_rect(x, y, kx0, kx1, 0.09, 0.145) & down, KEY_GAP)]
    return [(_ellipse(x, y, SPRITE_ASPECT["trumpet"] / 2 - 0.025, TUBE_Y, 0.025,
                      BELL_RADIUS - 0.04), _mix(BRASS_DARK, BRASS_LIGHT, m))]


_SPRITES: dict[str, Callable[[np.ndarray, np.ndarray, float], list[Layer]]] = {
    "person": _person,
    "piano": _piano,
    "guitar": _guitar,
    "violin": _violin,
    "trumpet": _trumpet,
}


def _check_class(source_class: str) -> None:
    if source_class not in _SPRITES:
        raise ValueError(f"unknown source class {source_class!r}; known: {SPRITE_CLASSES}")


def sprite_box(source_class: str, cx: float, cy: float, height_px: float) -> Box:
    """The unclipped box (x1, y1, x2, y2) a sprite occupies, in pixels."""
    _check_class(source_class)
    half_w = height_px * SPRITE_ASPECT[source_class] / 2
    return (cx - half_w, cy - height_px / 2, cx + half_w, cy + height_px / 2)


def draw_sprite(frame: np.ndarray, source_class: str, cx: float, cy: float, height_px: float,
                motion: float | None = None) -> Box:
    """Draw a sprite in place, centred at (cx, cy) pixels, and return its clipped box.

    A pixel is painted when its centre falls inside a shape. The box is clipped to the
    frame; it has zero area when the sprite lies wholly outside. `motion` (in [0, 1];
    None: a still sprite) poses what moves with the object's sound (_moving).
    """
    x1, y1, x2, y2 = sprite_box(source_class, cx, cy, height_px)
    height, width = frame.shape[:2]
    box = (min(max(x1, 0.0), width), min(max(y1, 0.0), height),
           max(min(x2, float(width)), 0.0), max(min(y2, float(height)), 0.0))
    if height_px <= 0:
        return box
    c0, c1 = max(0, math.floor(x1)), min(width, math.ceil(x2))
    r0, r1 = max(0, math.floor(y1)), min(height, math.ceil(y2))
    if c0 >= c1 or r0 >= r1:
        return box
    x = (np.arange(c0, c1) + 0.5 - cx)[None, :] / height_px
    y = (np.arange(r0, r1) + 0.5 - cy)[:, None] / height_px
    x, y = np.broadcast_arrays(x, y)
    inside = (np.abs(x) <= SPRITE_ASPECT[source_class] / 2) & (np.abs(y) <= 0.5)
    region = frame[r0:r1, c0:c1]
    layers = _SPRITES[source_class](x, y, height_px)
    if motion is not None:
        layers += _moving(source_class, x, y, float(np.clip(motion, 0.0, 1.0)))
    for mask, colour in layers:
        region[mask & inside] = colour
    return box


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float64) * 255.0


def _smooth_noise(height: int, width: int, cell_px: int, rng: np.random.Generator
                  ) -> np.ndarray:
    """Low-frequency noise: a coarse random grid upsampled bilinearly, unit std-ish."""
    gh, gw = height // cell_px + 2, width // cell_px + 2
    grid = rng.standard_normal((gh, gw))
    ys = np.arange(height) / cell_px
    xs = np.arange(width) / cell_px
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def draw_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A room-like backdrop: tinted wall with a light gradient, a floor, faint texture."""
    wall = _hsv(rng.random(), rng.uniform(*WALL_SATURATION), rng.uniform(*WALL_VALUE))
    floor = _hsv(rng.random(), rng.uniform(*FLOOR_SATURATION), rng.uniform(*FLOOR_VALUE))
    horizon = int(height * rng.uniform(*HORIZON_FRACTION))
    img = np.empty((height, width, 3), dtype=np.float64)
    # Wall: lit from a random side and from above.
    light_x = rng.uniform(0.0, 1.0)
    xs = np.linspace(0.0, 1.0, width)[None, :]
    ys = np.linspace(0.0, 1.0, max(horizon, 1))[:, None]
    shade = 1.0 + WALL_GRADIENT * (0.5 - np.abs(xs - light_x)) - WALL_GRADIENT * 0.5 * ys
    img[:horizon] = wall[None, None, :] * shade[..., None]
    for _ in range(rng.integers(0, MAX_PANELS + 1)):
        pw, ph = int(width * rng.uniform(0.08, 0.25)), int(horizon * rng.uniform(0.15, 0.4))
        px0 = int(rng.uniform(0, max(width - pw, 1)))
        py0 = int(rng.uniform(0.05, 0.5) * horizon)
        tint = 1.0 + rng.choice((-1.0, 1.0)) * PANEL_CONTRAST
        img[py0:py0 + ph, px0:px0 + pw] *= tint
    # Floor: darker towards the camera, with faint receding board lines.
    depth = np.linspace(0.0, 1.0, height - horizon)[:, None]
    floor_shade = 1.0 - 0.2 * depth + 0.03 * np.sin(np.linspace(0, 40, width))[None, :] * depth
    img[horizon:] = floor[None, None, :] * floor_shade[..., None]
    board = max(2, height // 60)
    img[horizon:horizon + board] *= 0.85
    img += BLOTCH_STD * _smooth_noise(height, width, BLOTCH_CELL_PX, rng)[..., None]
    img += rng.normal(0.0, NOISE_STD, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def render_frame(background: np.ndarray, sprites: list[tuple]
                 ) -> tuple[np.ndarray, list[Box]]:
    """Copy the background and draw each (class, cx, cy, height_px[, motion]) in order.

    Pass far sprites first so near ones cover them. Returns the frame and the clipped boxes.
    """
    frame = background.copy()
    boxes = [draw_sprite(frame, *sprite) for sprite in sprites]
    return frame, boxes
