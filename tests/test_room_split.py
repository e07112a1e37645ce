"""The renderer's room split applied to a binaural estimate (binaural.spatial.room_split)."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import fftconvolve

from binaural.spatial.config import RenderConfig
from binaural.spatial.render import direction_filter, spatialize
from binaural.spatial.room_split import RoomSplit, room_split
from binaural.spatial.scene_render import render_scene
from binaural.spatial.tracks import SourceTrack

NO_GATE = RenderConfig(activity_model="", reverb_model="")  # every mono judged reverberant


def _reverberant_bursts(sample_rate: int, t60_s: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    src = np.zeros(3 * sample_rate)
    for start in np.arange(0.1, 2.5, 0.9):
        i = int(start * sample_rate)
        src[i:i + sample_rate // 3] = rng.standard_normal(sample_rate // 3) * 0.1
    t = np.arange(int(1.2 * t60_s * sample_rate)) / sample_rate
    rir = rng.standard_normal(t.size) * 10 ** (-3 * t / t60_s) * 0.3
    rir[0] = 1.0
    return fftconvolve(src, rir)[: src.size] + 1e-5 * rng.standard_normal(src.size)


def _track(azimuth: float) -> SourceTrack:
    return SourceTrack(0, "person", "person", 0.9, np.array([0.0, 10.0]), np.full(2, azimuth),
                       np.zeros(2), np.full(2, 2.0), np.zeros((2, 4)))


def _anechoic(mono: np.ndarray, kemar, azimuth: float, sample_rate: int) -> np.ndarray:
    filt = direction_filter(kemar, np.array([0.0, 10.0]), np.full(2, azimuth), np.zeros(2))
    return spatialize(mono, filt, kemar.taps, sample_rate)


def _band_ild_db(binaural: np.ndarray, sample_rate: int, low_hz: float = 2000.0) -> float:
    spec = np.abs(np.fft.rfft(binaural, axis=-1)) ** 2
    band = np.fft.rfftfreq(binaural.shape[-1], 1.0 / sample_rate) >= low_hz
    return float(10 * np.log10(spec[0, band].sum() / spec[1, band].sum()))


def test_without_a_room_the_estimate_passes_unchanged(kemar, sample_rate):
    mono = _reverberant_bursts(sample_rate)
    estimate = _anechoic(mono, kemar, 40.0, sample_rate)
    out = room_split(mono, estimate, kemar, replace(NO_GATE, reverb=False), sample_rate)
    assert out.shape == estimate.shape
    np.testing.assert_allclose(out, estimate, atol=1e-6)


def test_the_split_of_the_direct_render_is_the_room_aware_render(kemar, sample_rate):
    """The renderer's own anechoic render as the estimate: the split gives what the
    room-aware renderer gives (its ILD lowered by the diffuse part), up to the framing of
    the estimate (a filtered frame is not the frame filtered)."""
    mono = _reverberant_bursts(sample_rate)
    estimate = _anechoic(mono, kemar, 40.0, sample_rate)
    split = room_split(mono, estimate, kemar, NO_GATE, sample_rate)
    renderer = render_scene(mono, kemar, [_track(40.0)], NO_GATE, sample_rate,
                            use_activity=False)
    assert _band_ild_db(split, sample_rate) == pytest.approx(
        _band_ild_db(renderer, sample_rate), abs=0.5)
    assert _band_ild_db(split, sample_rate) < _band_ild_db(estimate, sample_rate) - 1.0
    power = [float(np.mean(x.astype(np.float64) ** 2)) for x in (split, renderer)]
    assert power[0] == pytest.approx(power[1], rel=0.05)


def test_below_min_hz_the_estimate_keeps_its_direct_sound(kemar, sample_rate):
    """min_hz 1500: the low band (the ITD) is the estimate's, the high band's ILD is the
    room's."""
    mono = _reverberant_bursts(sample_rate)
    estimate = _anechoic(mono, kemar, 40.0, sample_rate)
    full = room_split(mono, estimate, kemar, NO_GATE, sample_rate)
    high = room_split(mono, estimate, kemar, NO_GATE, sample_rate, min_hz=1500.0)
    freqs = np.fft.rfftfreq(mono.size, 1.0 / sample_rate)
    low = (freqs > 100) & (freqs < 1000)

    def low_error(out):
        diff = np.abs(np.fft.rfft(out - estimate, axis=-1)[:, low]) ** 2
        return float(diff.sum() / (np.abs(np.fft.rfft(estimate, axis=-1)[:, low]) ** 2).sum())

    assert low_error(high) < 1e-3 < low_error(full)
    assert _band_ild_db(high, sample_rate) == pytest.approx(_band_ild_db(full, sample_rate),
                                                            abs=0.1)


def test_streamed_in_any_pieces_equals_the_whole(kemar, sample_rate):
    """The generator reads the mono ahead of what it emits, in its own chunk sizes."""
    mono = _reverberant_bursts(sample_rate)
    estimate = _anechoic(mono, kemar, -30.0, sample_rate)
    render = replace(NO_GATE, analysis_s=0.5)
    whole = room_split(mono, estimate, kemar, render, sample_rate)
    split = RoomSplit(kemar, render, sample_rate)
    reader = split.tap(np.array_split(mono, 7))
    pieces, done = [], 0
    for cut in np.linspace(0, mono.size, 12).astype(int)[1:]:
        for _ in range(2):  # the mono read runs ahead of the estimate
            next(reader, None)
        pieces.append(split.push(estimate[:, done:cut]))
        done = cut
    pieces.append(split.flush())
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-6)


def test_an_estimate_ahead_of_the_mono_is_refused(kemar, sample_rate):
    split = RoomSplit(kemar, NO_GATE, sample_rate)
    list(split.tap([np.zeros(100)]))
    with pytest.raises(ValueError, match="ahead of the mono"):
        split.push(np.zeros((2, 200)))
