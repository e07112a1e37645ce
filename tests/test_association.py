"""Which visible object is sounding: the synthesized animation, the motion and audio
measurements, the learned association (binaural.spatial.association), its JSON and the
renderer following it."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from binaural.constants import LEFT, RIGHT
from binaural.spatial.association import (
    FEATURES,
    AssociationModel,
    _ncc,
    associate_tracks,
    decode,
    summarize,
    window_features,
)
from binaural.spatial.config import AssociateConfig, RenderConfig
from binaural.spatial.motion import PERSON_PART_ROWS, audio_envelope, part_cells, track_motion
from binaural.spatial.scene_render import render_scene
from binaural.spatial.tracks import SourceTrack
from binaural.synth.animation import own_envelope, random_envelope, silent_envelope
from binaural.synth.config import SynthConfig
from binaural.synth.scenes import _poses, draw_scene
from binaural.synth.scenes import render_scene as synth_scene
from binaural.synth.source_audio import render_source
from binaural.synth.sprites import MOUTH

MODEL = Path(__file__).resolve().parents[1] / "models" / "weights" / "association.npz"
FPS = 25.0
SR = 16000
FRAME = (180, 320)  # grey frame (h, w), also the display size
BOXES = ((40.0, 20.0, 100.0, 160.0), (200.0, 20.0, 260.0, 160.0))
CFG = AssociateConfig()


def _track(sid: int, box, duration_s: float, azimuth: float = 0.0) -> SourceTrack:
    times = np.arange(0.0, duration_s + 1e-9, 0.2)
    return SourceTrack(sid, "person", "person", 0.9, times, np.full(times.size, azimuth),
                       np.zeros(times.size), np.full(times.size, 2.0),
                       np.tile(np.asarray(box, float), (times.size, 1)))


def _mouth_frames(envelopes, seed: int = 0, mouth_at: float = 0.12):
    """Grey frames with a textured backdrop and, in each box's face (`mouth_at` of its
    height from the top), a dark mouth whose height follows its envelope; faint noise per
    frame."""
    rng = np.random.default_rng(seed)
    backdrop = 120 + 20 * rng.standard_normal(FRAME)
    yy, xx = np.mgrid[:FRAME[0], :FRAME[1]]
    for i in range(len(envelopes[0])):
        frame = backdrop + rng.normal(0.0, 1.0, FRAME)
        for box, env in zip(BOXES, envelopes):
            cx, cy = (box[0] + box[2]) / 2, box[1] + mouth_at * (box[3] - box[1])
            ry = 0.5 + 5.0 * env[i]
            frame[((xx - cx) / 6.0) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0] = 30.0
        yield i / FPS, frame.astype(np.float32)


def _speech_like(env: np.ndarray, seed: int) -> np.ndarray:
    """Noise under the envelope (held per video frame, lightly smoothed)."""
    per_sample = np.repeat(env, int(SR / FPS))
    per_sample = np.convolve(per_sample, np.ones(160) / 160, mode="same")
    return np.random.default_rng(seed).standard_normal(per_sample.size) * per_sample * 0.3


@pytest.fixture(scope="module")
def two_mouths():
    """Two people: the first's mouth follows the audio, the second's another envelope."""
    n = int(8 * FPS)
    envs = [random_envelope(np.random.default_rng(s), FPS, n) for s in (1, 2)]
    tracks = [_track(0, BOXES[0], n / FPS), _track(1, BOXES[1], n / FPS)]
    box, part = track_motion(_mouth_frames(envs), tracks, (FRAME[1], FRAME[0]), FPS, n)
    mono = _speech_like(envs[0], 3)
    envelope, probs = audio_envelope([mono[:SR], mono[SR:]], SR, FPS, n, ["person"] * 2)
    return tracks, envs, box, part, envelope, probs


def test_part_motion_follows_the_own_mouth(two_mouths) -> None:
    _, envs, _, part, envelope, probs = two_mouths
    for k in range(2):
        change = np.abs(np.diff(envs[k], prepend=envs[k][:1]))
        assert _ncc(np.nan_to_num(part[k, 0]), change, [0]) > 0.8  # the top cell
    audio_change = np.abs(np.diff(envelope, prepend=envelope[:1]))
    lags = range(-2, 6)
    assert (_ncc(np.nan_to_num(part[0, 0]), audio_change, lags)
            > _ncc(np.nan_to_num(part[1, 0]), audio_change, lags) + 0.3)
    assert np.all(probs == 0.5)  # no activity model: the neutral value


def _voiced(times_s: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Per time, whether the mono is heard there: its envelope over 0.5 s at least a fifth
    of the loudest (the speech fixtures pause for up to 1.2 s; nobody sounds then)."""
    smooth = np.convolve(envelope, np.ones(int(0.5 * FPS)) / int(0.5 * FPS), mode="same")
    frames = np.clip(np.round(times_s * FPS).astype(int), 0, envelope.size - 1)
    return smooth[frames] >= 0.2 * smooth.max()


def test_the_moving_mouth_that_matches_the_audio_is_the_sounding_one(two_mouths) -> None:
    tracks, _, box, part, envelope, _ = two_mouths
    model = AssociationModel.load(MODEL)
    heard = np.full((2, envelope.size), 0.9)  # the class-activity model hears a voice
    out, summary = associate_tracks(tracks, box, part, envelope, heard, FPS, model, CFG)
    speaker, silent = out[0].sounding, out[1].sounding
    assert speaker.shape == tracks[0].times_s.shape
    voiced = _voiced(tracks[0].times_s, envelope)
    assert 0.3 < voiced.mean() < 0.95
    assert speaker[voiced].mean() > silent[voiced].mean() + 0.3
    assert np.mean(speaker[voiced] > silent[voiced]) >= 0.8
    assert np.all(silent < 0.5)
    assert summary["tracks"]["0"] > summary["tracks"]["1"]
    assert 0.0 < summary["confidence"] <= 1.0


def test_model_round_trips_and_refuses_other_features(tmp_path) -> None:
    rng = np.random.default_rng(0)
    d = len(FEATURES)
    model = AssociationModel(np.full(d, -2.0), np.full(d, 2.0), np.zeros(d), np.ones(d),
                             rng.standard_normal((d, 4)),
                             np.zeros(4), rng.standard_normal((4, 1)), np.zeros(1))
    model.save(tmp_path / "m.npz")
    again = AssociationModel.load(tmp_path / "m.npz")
    x = rng.standard_normal((5, d))
    np.testing.assert_allclose(again.predict(x), model.predict(x))
    np.testing.assert_allclose(model.predict(100 * x), model.predict(np.clip(100 * x, -2, 2)))
    with np.load(tmp_path / "m.npz") as data:
        np.savez(tmp_path / "other.npz", **{k: data[k] for k in data.files} | {
            "features": np.array(FEATURES[:-1])})
    with pytest.raises(ValueError, match="other features"):
        AssociationModel.load(tmp_path / "other.npz")


def test_summary_margin_and_confident_share() -> None:
    tracks = [_track(3, BOXES[0], 2.0), _track(4, BOXES[1], 2.0)]
    probs = np.array([[0.9, 0.6, np.nan], [0.1, 0.5, 0.8]])
    s = summarize(probs, tracks, 0.7)
    assert s["confidence"] == pytest.approx(np.mean([0.8, 0.1, 0.6]), abs=1e-4)
    assert s["confident_fraction"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["tracks"] == {"3": 0.75, "4": pytest.approx(0.4667, abs=1e-4)}


def test_face_cells_of_a_person_and_whole_box_of_an_instrument() -> None:
    box = np.array([100.0, 50.0, 140.0, 250.0])
    cells = part_cells(box, "person")
    assert cells.shape == (len(PERSON_PART_ROWS), 4)
    np.testing.assert_allclose(cells[0], [110.0, 50.0, 130.0, 90.0])  # full body: the head
    assert cells[-1, 1] >= 50.0 + 0.4 * 200 and cells[-1, 3] <= 50.0 + 0.7 * 200  # close-up
    np.testing.assert_allclose(part_cells(box, "guitar")[0], box)
    assert np.isnan(part_cells(box, "guitar")[1:]).all()
    both = part_cells(np.stack([box, box + 10]), "person")  # boxes (..., 4) in one call
    np.testing.assert_allclose(both[1], cells + 10)


def test_a_close_up_speaker_is_found_by_the_cell_search() -> None:
    """Head-and-shoulders boxes: the mouths lie halfway down, outside the top cell; the
    search over the cells still finds the one that follows the audio."""
    n = int(8 * FPS)
    envs = [random_envelope(np.random.default_rng(s), FPS, n) for s in (4, 5)]
    tracks = [_track(0, BOXES[0], n / FPS), _track(1, BOXES[1], n / FPS)]
    box, part = track_motion(_mouth_frames(envs, mouth_at=0.5), tracks, (FRAME[1], FRAME[0]),
                             FPS, n)
    assert np.nanmean(part[:, 2]) > 3 * np.nanmean(part[:, 0])  # the mouth's cell moves
    mono = _speech_like(envs[1], 6)  # the second one speaks
    envelope, probs = audio_envelope([mono], SR, FPS, n, ["person"] * 2)
    out, _ = associate_tracks(tracks, box, part, envelope, np.full((2, n), 0.9), FPS,
                              AssociationModel.load(MODEL), CFG)
    voiced = _voiced(tracks[0].times_s, envelope)
    assert out[1].sounding[voiced].mean() > out[0].sounding[voiced].mean() + 0.3
    assert np.mean(out[1].sounding[voiced] > out[0].sounding[voiced]) >= 0.8


def test_a_pause_lowers_everyone(two_mouths) -> None:
    """In a second of silence in the middle of the speech nobody is likely sounding."""
    tracks, _, box, part, envelope, _ = two_mouths
    quiet = envelope.copy()
    gap = slice(int(3.5 * FPS), int(5.0 * FPS))
    quiet[gap] = 1e-4 * envelope.max()
    out, _ = associate_tracks(tracks, box, part, quiet, np.full((2, quiet.size), 0.9), FPS,
                              AssociationModel.load(MODEL), CFG)
    at = (tracks[0].times_s > 4.0) & (tracks[0].times_s < 4.6)
    assert out[0].sounding[at].max() < 0.5 and out[1].sounding[at].max() < 0.5
    talking = (tracks[0].times_s > 0.2) & (tracks[0].times_s < 2.0)  # before the pause
    assert _voiced(tracks[0].times_s, quiet)[talking].all()
    assert out[0].sounding[talking].mean() > 0.5


def test_windows_cover_the_clip_to_its_ends(two_mouths) -> None:
    """Windows are centred every hop from the first frame to the last (cut to the clip):
    the last second is measured, not held from a window a second earlier."""
    _, _, box, part, envelope, probs = two_mouths
    features, index = window_features(box, part, envelope, probs, FPS, CFG)
    centres = sorted({c for _, _, c in index})
    hop = int(round(CFG.hop_s * FPS))
    assert centres[0] == 0 and centres[-1] > envelope.size - 1 - hop
    assert np.all(np.diff(centres) == hop)
    assert np.isfinite(features).all() and len(index) == 2 * len(centres)


def test_decoding_bridges_a_flicker_and_keeps_a_turn() -> None:
    """A one-window dip inside a long sounding run is bridged and a long run of the other
    state still switches; 0.5 leaves the windows as they are; absent windows stay absent."""
    row = np.array([0.9] * 8 + [0.3] + [0.9] * 8 + [0.1] * 10 + [np.nan] * 2)
    out = decode(row[None], 0.05, 0.5)[0]
    assert out[8] > 0.5 and np.all(out[:17] > 0.5) and np.all(out[19:26] < 0.5)
    assert np.isnan(out[-2:]).all()
    np.testing.assert_allclose(decode(row[None], 0.5, 1.0)[0][:-2], row[:-2])


def test_turn_gaps_alternate_the_speakers() -> None:
    from binaural.synth.association_data import TURN_S, turn_gaps

    gaps = turn_gaps(np.random.default_rng(3), 8.0)
    t = np.arange(0.0, 8.0, 0.01)
    silent = [np.any([(t >= a) & (t < b) for a, b in g], axis=0) for g in gaps]
    assert not np.any(~silent[0] & ~silent[1])  # never both at once
    assert np.mean(silent[0] & silent[1]) < 0.3  # mostly one of them holds the turn
    for g in gaps:  # every silence inside the clip lasts at least a turn
        assert all(b - a >= TURN_S[0] - 1e-6 for a, b in g if 0 < a and b < 8.0)


def test_sounding_probability_round_trips_through_json() -> None:
    track = replace(_track(7, BOXES[0], 1.0), sounding=np.linspace(0.1, 0.9, 6))
    data = track.to_json()
    assert [p["sounding_p"] for p in data["track"]] == pytest.approx(np.linspace(0.1, 0.9, 6))
    assert all("sounding" not in p for p in data["track"])  # the truth's boolean key
    back = SourceTrack.from_json(data)
    np.testing.assert_allclose(back.sounding, track.sounding)
    assert SourceTrack.from_json(_track(7, BOXES[0], 1.0).to_json()).sounding is None


def _ild_db(binaural: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(binaural[LEFT] ** 2) / np.sum(binaural[RIGHT] ** 2)))


def test_renderer_follows_the_sounding_track(kemar, sample_rate) -> None:
    rng = np.random.default_rng(5)
    mono = 0.1 * rng.standard_normal(2 * sample_rate)
    render = RenderConfig(activity_model="", reverb_model="", reverb=False)
    left, right = _track(0, BOXES[0], 3.0, 40.0), _track(1, BOXES[1], 3.0, -40.0)
    alone = {k: _ild_db(render_scene(mono, kemar, [t], render, sample_rate))
             for k, t in (("left", left), ("right", right))}
    assert alone["left"] > 6 > -6 > alone["right"]
    p = np.full(left.times_s.size, 0.97)
    for speaker, pl, pr in (("left", p, 1 - p), ("right", 1 - p, p)):
        both = [replace(left, sounding=pl), replace(right, sounding=pr)]
        ild = _ild_db(render_scene(mono, kemar, both, render, sample_rate))
        assert ild == pytest.approx(alone[speaker], abs=1.5)
    unknown = _ild_db(render_scene(mono, kemar, [left, right], render, sample_rate))
    assert abs(unknown) < 3  # no association: both share the mixture


def test_a_silent_object_moves_like_a_sounding_one_of_its_class() -> None:
    """synth.silent_motion_own_class: 0 keeps the random envelope draw for draw; 1 moves a
    silent guitar by an unheard guitar (seeded): its level sits where a heard guitar's does,
    not at the syllable-like random one's (what taught that a still guitar is the heard one)."""
    cfg = replace(SynthConfig(), duration_s=4.0, sample_rate=16000)
    n = int(cfg.duration_s * cfg.video_fps)

    def silent(share: float, seed: int) -> np.ndarray:
        return silent_envelope(replace(cfg, silent_motion_own_class=share), "guitar",
                               np.random.default_rng(seed), n,
                               np.random.default_rng([seed, 9]))

    for seed in range(3):
        assert np.array_equal(silent(0.0, seed),
                              random_envelope(np.random.default_rng(seed), cfg.video_fps, n))
        assert np.array_equal(silent(1.0, seed), silent(1.0, seed))  # seeded
        assert not np.allclose(silent(1.0, seed), silent(0.0, seed))
    heard = [own_envelope(render_source("guitar", cfg.duration_s, cfg.sample_rate, s,
                                        cfg.soundfont), cfg.sample_rate, cfg.video_fps, n)
             for s in (101, 102, 103, 104)]
    own_class = [silent(1.0, seed) for seed in range(4)]
    randoms = [silent(0.0, seed) for seed in range(4)]
    level = float(np.mean([e.mean() for e in heard]))
    assert (abs(np.mean([e.mean() for e in own_class]) - level)
            < 0.5 * abs(np.mean([e.mean() for e in randoms]) - level))
    assert max(abs(np.corrcoef(e, h)[0, 1]) for e in own_class for h in heard) < 0.9


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_synthesized_mouth_opens_with_the_own_envelope(share) -> None:
    cfg = replace(SynthConfig(), animate=True, classes=("person",) * 3, silent_object_prob=1.0,
                  duration_s=3.0, width=320, height=180, seed=0,
                  silent_motion_own_class=share)
    from binaural.spatial.hrtf import load_sofa

    hrtf = load_sofa(cfg.hrtf, cfg.sample_rate)
    scene = synth_scene(cfg, hrtf, "anim", 41, 1)
    frames = list(scene.frames())
    again = list(synth_scene(cfg, hrtf, "anim", 41, 1).frames())
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))  # seeded
    sources = scene.truth["sources"]
    assert [s["silent"] for s in sources] == [False, True]
    mouth = [np.zeros(len(frames)), np.zeros(len(frames))]
    for i, frame in enumerate(frames):
        painted = np.all(frame == MOUTH, axis=-1)
        for k, s in enumerate(sources):
            x1, y1, x2, y2 = (int(round(v)) for v in s["track"][i]["box"])
            mouth[k][i] = painted[y1:y2, x1:x2].sum()
    n = len(frames)
    own = own_envelope(scene.dry[0], cfg.sample_rate, cfg.video_fps, n)
    assert np.corrcoef(mouth[0], own)[0, 1] > 0.9  # the speaker's mouth follows its voice
    plan, _ = draw_scene(cfg, 41, 1)
    levels, _ = _poses(cfg, plan, scene.dry, 41, np.arange(n) / cfg.video_fps)
    assert mouth[1].std() > 0 and np.corrcoef(mouth[1], levels[1])[0, 1] > 0.9  # its own
    assert abs(np.corrcoef(mouth[1], own)[0, 1]) < 0.5  # ...not the voice's
    still = synth_scene(replace(cfg, animate=False), hrtf, "still", 41, 1)
    assert not any(np.all(f == MOUTH, axis=-1).any() for f in still.frames())


@pytest.mark.parametrize(("rotation", "sar"), [(0, 1), (-90, 1), (0, 2)])
def test_grey_frames_are_the_shown_picture_downscaled(tmp_path, rotation, sar) -> None:
    """Phone portrait (display rotation) and anamorphic (SAR) clips: the grey frames have
    the shown picture's shape (width at most the asked one) and content."""
    from fractions import Fraction

    from binaural.io.grey import iter_grey_frames
    from binaural.synth.edge_media import write_clip

    shown_h, shown_w = (320, 180) if rotation else (180, 320)
    picture = np.full((shown_h, shown_w, 3), 40, np.uint8)
    picture[: shown_h // 4, : shown_w // 4] = 230  # a bright top-left corner as shown
    path = tmp_path / "clip.mp4"
    write_clip(path, [picture] * 10, 10, np.zeros(16000, np.float32), 16000, rotation,
               Fraction(sar))
    frames = list(iter_grey_frames(path, 5.0, 90))
    assert 4 <= len(frames) <= 6
    t, grey = frames[1]
    assert t == pytest.approx(0.2, abs=0.05)
    assert grey.shape[1] == 90 and grey.shape[0] == pytest.approx(90 * shown_h / shown_w, abs=2)
    h, w = grey.shape
    assert grey[: h // 5, : w // 5].mean() > 180 and grey[h // 2:, w // 2:].mean() < 80
