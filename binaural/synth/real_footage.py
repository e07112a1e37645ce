"""The real-footage evaluation set: clips composed ONLY of real media (binaural.synth.
real_media) whose truth is known by construction: who is where, who is heard, when.

Layouts (the `group` of each clip, cycled over the clips in this order):

    1 person            one real person speaking, left / centre / right, static or
                        sliding across the frame
    distractor static   the speaker and a second real person beside them who stays still
    distractor talking  the same, and the silent one's mouth moves too, driven by a voice
                        nobody hears (the truth marks it silent)
    turn-taking         two people speaking in turns (each source's `sounding` spans)

Each person is a real still cut from a real frame, pasted with feathered edges into a real
background; the mouth opens with the envelope of the voice that drives it
(binaural.synth.talking). The mono is the heard voices (true mono: each propagated over its
distance, no downmix); the binaural reference renders the same sources along the truth
with the held-out head. The truth JSON is the synthesizer's schema (binaural.synth.scenes)
plus `group`, per-source `mouth` per track point and `media`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binaural.io.audio import write_wav
from binaural.io.outputs import atomic_path, write_json
from binaural.io.video import write_video
from binaural.spatial.config import DEFAULT_CLASS_HEIGHTS_M
from binaural.spatial.geometry import Camera
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, propagate, spatialize
from binaural.synth.config import RealFootageConfig
from binaural.synth.real_media import Person, resize, speech
from binaural.synth.scenes import PEAK_LEVEL, scene_seed
from binaural.synth.silences import gate, is_sounding, sounding_intervals
from binaural.synth.talking import envelope_per_frame, open_mouth, paste

LAYOUTS = ("1 person", "distractor static", "distractor talking", "turn-taking")
SPOTS = (0.22, 0.5, 0.78)  # left, centre, right: box centre / frame width
PAIR_SPOTS = (0.3, 0.7)
MAX_CROP_WIDTH = (0.5, 0.38)  # a crop's width / frame width: alone, two people
TURN_PAUSE_S = 0.15
CONTROL_S = 0.01  # direction updates of the reference's renderer


@dataclass(frozen=True)
class Actor:
    """One person of a clip: where they stand and what drives their mouth.

    voice: index of the voice heard from them (None: silent); mouth: index of the voice
    that opens their mouth (None: it stays shut)."""

    person: int
    x: tuple[float, float]  # box centre / frame width at start and end
    voice: int | None
    mouth: int | None


@dataclass
class RealClip:
    """A composed clip: truth, scaled audio, the voices as drawn and its frames."""

    truth: dict
    mono: np.ndarray  # (N,) float32
    binaural: np.ndarray  # (2, N) float32
    voices: list[np.ndarray]  # each voice as it drives a mouth (heard or not), unscaled
    frames: Sequence[np.ndarray] | Iterator[np.ndarray]


def plan_actors(layout: str, rng: np.random.Generator, n_people: int, slide_prob: float
                ) -> tuple[list[Actor], int]:
    """The actors of a layout and the number of voices it needs."""
    pick = rng.permutation(n_people)
    if layout == "1 person":
        start = float(SPOTS[int(rng.integers(3))])
        end = float(SPOTS[2] if start < 0.5 else SPOTS[0]) if rng.random() < slide_prob \
            else start
        return [Actor(int(pick[0]), (start, end), 0, 0)], 1
    other = int(pick[1 % n_people])
    spots = list(PAIR_SPOTS) if rng.random() < 0.5 else list(PAIR_SPOTS[::-1])
    if layout == "turn-taking":
        return [Actor(int(pick[0]), (spots[0],) * 2, 0, 0),
                Actor(other, (spots[1],) * 2, 1, 1)], 2
    talking = layout == "distractor talking"
    return [Actor(int(pick[0]), (spots[0],) * 2, 0, 0),
            Actor(other, (spots[1],) * 2, None, 1 if talking else None)], 1 + talking


def turn_gates(n: int, sample_rate: int, rng: np.random.Generator,
               turn_s: tuple[float, float]) -> list[np.ndarray]:
    """Two gains (N,): speaker 0 in turns 0, 2, 4..., speaker 1 in turns 1, 3...; a short
    pause between turns."""
    duration = n / sample_rate
    turns: list[list[tuple[float, float]]] = [[], []]
    t, who = 0.0, 0
    while t < duration:
        end = min(duration, t + float(rng.uniform(*turn_s)))
        turns[who].append((t, end))
        t, who = end + TURN_PAUSE_S, 1 - who
    return [gate(n, sample_rate, tuple(_complement(mine, duration))) for mine in turns]


def _complement(spans: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The parts of [0, duration] outside `spans` (sorted, disjoint)."""
    out, at = [], 0.0
    for a, b in spans:
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < duration:
        out.append((at, duration))
    return out


def _layout_geometry(cfg: RealFootageConfig, person: Person, alone: bool,
                     rng: np.random.Generator) -> tuple[float, float]:
    """(scale of the crop, box bottom / frame height) of one person."""
    box_h = person.box[3] - person.box[1]
    scale = rng.uniform(*cfg.person_height) * cfg.height / box_h
    max_w = MAX_CROP_WIDTH[0 if alone else 1] * cfg.width
    scale = min(scale, max_w / person.image.shape[1])
    bottom = cfg.height - (person.image.shape[0] - person.box[3]) * scale * rng.random()
    return float(scale), float(bottom / cfg.height)


@dataclass(frozen=True)
class Placed:
    """An actor in the frame: the scaled crop, its top-left corner per frame (x0 (F,), y0),
    the person's box per frame (F, 4) and the mouth's opening per frame (F,)."""

    actor: Actor
    person: Person
    scale: float
    crop: np.ndarray
    x0: np.ndarray
    y0: int
    boxes: np.ndarray
    opening: np.ndarray

    def mouth_at(self, i: int) -> tuple[float, float, float]:
        """The mouth's centre x, y and width in frame i (frame pixels)."""
        return (self.x0[i] + self.person.mouth[0] * self.scale,
                self.y0 + self.person.mouth[1] * self.scale, self.person.mouth_width * self.scale)


def place(cfg: RealFootageConfig, actor: Actor, person: Person, alone: bool,
          rng: np.random.Generator, video_t: np.ndarray, opening: np.ndarray) -> Placed:
    """Scale the person's crop, keep it inside the frame and move its box centre from
    actor.x[0] to actor.x[1] (smoothstep over the clip)."""
    scale, bottom = _layout_geometry(cfg, person, alone, rng)
    crop = resize(person.image, max(1, round(person.image.shape[1] * scale)),
                  max(1, round(person.image.shape[0] * scale)))
    half = crop.shape[1] / 2.0 / cfg.width + 0.01
    x = [float(np.clip(v, half, 1 - half)) for v in actor.x]
    ramp = np.clip(video_t / max(cfg.duration_s - 1.0 / cfg.fps, 1e-9), 0, 1)
    cx = cfg.width * (x[0] + (x[1] - x[0]) * ramp * ramp * (3 - 2 * ramp))
    x0 = np.round(cx - (person.box[0] + person.box[2]) / 2.0 * scale).astype(int)
    y0 = int(round(bottom * cfg.height - person.box[3] * scale))
    frames = len(video_t)
    boxes = np.stack([x0 + person.box[0] * scale, np.full(frames, y0 + person.box[1] * scale),
                      x0 + person.box[2] * scale, np.full(frames, y0 + person.box[3] * scale)],
                     axis=1)
    boxes = np.clip(boxes, 0, [cfg.width, cfg.height, cfg.width, cfg.height])
    return Placed(actor, person, scale, crop, x0, y0, boxes, opening)


def render_voices(cfg: RealFootageConfig, hrtf: HRTFSet, placed: list[Placed],
                  positions: list[tuple[np.ndarray, ...]], voices: list[np.ndarray],
                  video_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mono (N,), binaural (2, N), the scale that brings their peak to PEAK_LEVEL): each
    heard voice propagated from where its person is, and rendered there with `hrtf`."""
    sr, n = cfg.sample_rate, len(voices[0])
    mono, binaural = np.zeros(n), np.zeros((2, n))
    audio_t = np.arange(n) / sr
    control_t = np.arange(0, cfg.duration_s + 2 * CONTROL_S, CONTROL_S)
    for p, (az, el, dist) in zip(placed, positions):
        if p.actor.voice is None:
            continue
        wet = propagate(voices[p.actor.voice], np.interp(audio_t, video_t, dist), sr)
        mono += wet
        filt = direction_filter(hrtf, control_t, np.interp(control_t, video_t, az),
                                np.interp(control_t, video_t, el))
        binaural += spatialize(wet, filt, hrtf.taps, sr)
    return mono, binaural, PEAK_LEVEL / max(np.abs(mono).max(), np.abs(binaural).max(), 1e-9)


def source_record(k: int, p: Placed, position: tuple[np.ndarray, ...], spans: list,
                  prompts: list[list[str]], video_t: np.ndarray) -> dict:
    """The truth's entry of one person (the synthesizer's schema, plus `mouth` per point,
    `mouth_driver` and `medium`)."""
    az, el, dist = position
    heard, on = p.actor.voice is not None, is_sounding(spans, video_t)
    if p.actor.mouth is None:
        driver = "none (still)"
    else:
        driver = "own voice" if heard else "unheard voice: " + ", ".join(prompts[p.actor.mouth])
    return {
        "id": k, "class": "person", "gain": 1.0 if heard else 0.0, "silent": not heard,
        "audio": ", ".join(prompts[p.actor.voice]) if heard else "none",
        "mouth_driver": driver, "medium": p.person.source, "sounding": spans, "gaps": [],
        "track": [{"t": round(float(t), 4), "azimuth_deg": round(float(az[i]), 3),
                   "elevation_deg": round(float(el[i]), 3),
                   "distance_m": round(float(dist[i]), 3),
                   "box": [round(float(v), 1) for v in p.boxes[i]],
                   "mouth": [round(float(v), 1) for v in p.mouth_at(i)],
                   "sounding": bool(on[i])} for i, t in enumerate(video_t)],
    }


def compose(cfg: RealFootageConfig, hrtf: HRTFSet, index: int, backgrounds: list[np.ndarray],
            background_names: list[str], people: list[Person], voice_files: list[str]
            ) -> RealClip:
    """Clip `index` of the set: layout LAYOUTS[index % 4], everything else drawn from
    scene_seed(cfg.seed, index)."""
    seed = scene_seed(cfg.seed, index)
    rng = np.random.default_rng(seed)
    layout = LAYOUTS[index % len(LAYOUTS)]
    sr, fps = cfg.sample_rate, cfg.fps
    n, frames = int(round(cfg.duration_s * sr)), int(round(cfg.duration_s * fps))
    bg_index = int(rng.integers(len(backgrounds)))
    actors, n_voices = plan_actors(layout, rng, len(people), cfg.slide_prob)
    drawn = [speech(voice_files, cfg.duration_s, sr, rng) for _ in range(n_voices)]
    voices, prompts = [v[:n] for v, _ in drawn], [used for _, used in drawn]
    if layout == "turn-taking":
        voices = [v * g for v, g in zip(voices, turn_gates(n, sr, rng, cfg.turn_s))]
    video_t = np.arange(frames) / fps
    placed = [place(cfg, a, people[a.person], len(actors) == 1, rng, video_t,
                    envelope_per_frame(voices[a.mouth], sr, fps, frames)
                    if a.mouth is not None else np.zeros(frames)) for a in actors]
    camera = Camera(cfg.width, cfg.height, cfg.fov_deg)
    positions = [camera.box_to_position(p.boxes, DEFAULT_CLASS_HEIGHTS_M["person"])
                 for p in placed]
    mono, binaural, gain = render_voices(cfg, hrtf, placed, positions, voices, video_t)
    sources = [source_record(k, p, position, sounding_intervals(voices[p.actor.voice] * gain, sr)
                             if p.actor.voice is not None else [], prompts, video_t)
               for k, (p, position) in enumerate(zip(placed, positions))]
    name = f"real_{cfg.seed:03d}_{index:04d}"
    truth = {
        "name": name, "seed": seed, "group": layout, "fov_deg": cfg.fov_deg,
        "width": cfg.width, "height": cfg.height, "fps": fps, "sample_rate": sr,
        "duration_s": cfg.duration_s, "hrtf": hrtf.name, "hrtf_digest": hrtf.digest,
        "room": {"type": "none"}, "mono": "omni",
        "mono_description": "true mono: the heard voices at the camera (no downmix)",
        "microphone": None, "ambience_db": None, "noise_db": None,
        "media": {"background": background_names[bg_index],
                  "people": [p.person.source for p in placed],
                  "voices": sorted({f for used in prompts for f in used})},
        "sources": sources,
    }
    background = backgrounds[bg_index]

    def render() -> Iterator[np.ndarray]:
        far_first = sorted(placed, key=lambda p: p.boxes[0, 3] - p.boxes[0, 1])
        for i in range(frames):
            frame = background.copy()
            for p in far_first:
                mouth = (p.person.mouth[0] * p.scale, p.person.mouth[1] * p.scale)
                shown = open_mouth(p.crop, mouth, p.person.mouth_width * p.scale,
                                   float(p.opening[i]), cfg.mouth_darkening)
                paste(frame, shown, int(p.x0[i]), p.y0)
            yield frame

    return RealClip(truth, (mono * gain).astype(np.float32),
                    (binaural * gain).astype(np.float32), voices, render())


def write_clip(clip: RealClip, out_dir: str | Path, cfg: RealFootageConfig) -> None:
    """The paired layout `binaural evaluate` reads: <id>.mp4 (the mono as its track),
    <id>.mono.wav, truth/<id>.binaural.wav and truth/<id>.json."""
    out_dir, name = Path(out_dir), clip.truth["name"]
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / f"{name}.mp4") as tmp:
        write_video(tmp, clip.frames, cfg.fps, clip.mono, cfg.sample_rate)
    write_wav(out_dir / f"{name}.mono.wav", clip.mono, cfg.sample_rate)
    write_wav(out_dir / "truth" / f"{name}.binaural.wav", clip.binaural, cfg.sample_rate)
    write_json(out_dir / "truth" / f"{name}.json", clip.truth)
