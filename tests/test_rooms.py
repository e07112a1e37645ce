"""Shoebox rooms: image-source paths, reflection directions, the omni capture, reverberation
and the late tail's decorrelation between the ears."""

from dataclasses import replace

import numpy as np
import pyroomacoustics as pra
import pytest
from scipy.signal import coherence, correlate

from binaural.constants import HEAD_RADIUS_M, LEFT, RIGHT, SPEED_OF_SOUND_M_S
from binaural.spatial.diffuse import diffuse_coherence_mixing
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import direction_filter, propagate, spatialize
from binaural.synth.config import SynthConfig
from binaural.synth.rooms import (
    ShoeboxRoom,
    draw_room,
    early_reflections,
    image_paths,
    late_tails,
    render_room,
)

ROOM = (5.0, 4.0, 3.0)
CLICK_AT = 100  # samples: the dry click, away from the signal's start
STATIC = np.array([0.0, 2.0])  # control times of a static source (s)


def _room(absorption: float = 0.3, listener=(1.0, 2.0, 1.5), size=ROOM) -> ShoeboxRoom:
    return ShoeboxRoom(size, absorption, listener, max_order=3, early_ms=50.0,
                       late_fade_ms=10.0)


def _click_response(room: ShoeboxRoom, offset, hrtf: HRTFSet, sample_rate: int,
                    seconds: float = 1.0, seed: int = 0):
    """(mono (N,), binaural (2, N), direct arrival sample) of a click at `offset`, and the
    binaural of the room's part alone."""
    n = int(seconds * sample_rate)
    dry = np.zeros(n)
    dry[CLICK_AT] = 1.0
    offsets = np.array([offset, offset], dtype=np.float64)
    r = float(np.linalg.norm(offset))
    direct = propagate(dry, np.full(n, r), sample_rate)
    az = np.degrees(np.arctan2(offset[1], offset[0]))
    el = np.degrees(np.arctan2(offset[2], np.hypot(offset[0], offset[1])))
    ears = spatialize(direct, direction_filter(hrtf, STATIC, [az, az], [el, el]), hrtf.taps,
                      sample_rate)
    mono_room, ears_room = render_room(dry, direct, STATIC, offsets, room, hrtf, sample_rate,
                                       np.random.default_rng(seed))
    arrival = CLICK_AT + int(round(r / SPEED_OF_SOUND_M_S * sample_rate))
    return direct + mono_room, ears + ears_room, arrival, ears_room


def _t20(ir: np.ndarray, sample_rate: int) -> float:
    """Reverberation time from the Schroeder curve between -5 and -25 dB."""
    energy = np.cumsum(ir[::-1].astype(np.float64) ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-30)
    i0, i1 = np.argmax(edc <= -5), np.argmax(edc <= -25)
    slope = np.polyfit(np.arange(i0, i1) / sample_rate, edc[i0:i1], 1)[0]
    return -60.0 / slope


def _max_xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    xc = correlate(a, b, mode="full", method="fft")
    mid = len(b) - 1
    return float(np.abs(xc[mid - max_lag: mid + max_lag + 1]).max()
                 / np.sqrt(np.sum(a**2) * np.sum(b**2)))


def test_first_path_is_the_direct_one_and_paths_get_longer() -> None:
    room = _room(absorption=0.36)
    offset = np.array([[2.5, 0.5, 0.2]])
    paths = image_paths(room, offset)
    assert len(paths.order) == 1 + 6 + 18 + 38  # image sources of orders 0..3 in a box
    assert paths.order[0] == 0 and tuple(paths.index_xyz[0]) == (0, 0, 0)
    assert paths.distance_m[0, 0] == pytest.approx(np.linalg.norm(offset))
    assert paths.azimuth_deg[0, 0] == pytest.approx(np.degrees(np.arctan2(0.5, 2.5)))
    assert np.all(np.diff(paths.distance_m[:, 0]) >= 0)
    assert np.all(paths.order[1:] >= 1)
    # Amplitude sqrt(1 - absorption) per reflection.
    np.testing.assert_allclose(paths.damping, (1 - 0.36) ** (paths.order / 2), rtol=1e-5)
    early = early_reflections(paths, 50.0)
    lag_ms = (early.distance_m[:, 0] - paths.distance_m[0, 0]) / SPEED_OF_SOUND_M_S * 1e3
    assert len(early.order) > 6 and np.all(lag_ms < 50.0) and np.all(early.order >= 1)


@pytest.mark.parametrize(("listener", "expect"), [
    ((1.0, 3.5, 1.5), "left"),    # 0.5 m from the wall at y = 4 (the listener's left)
    ((1.0, 0.5, 1.5), "right"),   # 0.5 m from the wall at y = 0
    ((1.0, 2.0, 0.4), "below"),   # 0.4 m above the floor
])
def test_the_nearest_wall_gives_the_first_reflection_from_its_side(listener, expect) -> None:
    room = _room(listener=listener)
    paths = image_paths(room, np.array([[3.0, 0.0, 0.0]]))
    first = 1
    assert paths.order[first] == 1
    az, el = paths.azimuth_deg[first, 0], paths.elevation_deg[first, 0]
    wall_gap = {"left": 0.5, "right": 0.5, "below": 0.4}[expect]
    # The image lies 2 x wall gap beyond the wall: distance and angle follow.
    assert paths.distance_m[first, 0] == pytest.approx(np.hypot(3.0, 2 * wall_gap))
    angle = np.degrees(np.arctan2(2 * wall_gap, 3.0))
    if expect == "left":
        assert az == pytest.approx(angle) and el == pytest.approx(0.0, abs=1e-6)
    elif expect == "right":
        assert az == pytest.approx(-angle) and el == pytest.approx(0.0, abs=1e-6)
    else:
        assert el == pytest.approx(-angle) and az == pytest.approx(0.0, abs=1e-6)


def test_a_wall_on_the_left_is_heard_on_the_left(kemar: HRTFSet, sample_rate: int) -> None:
    """The first reflection of a frontal click, near the left wall, is louder in the left
    ear; nearer the right wall, in the right ear."""
    ratios = {}
    for side, y in (("left", 3.5), ("right", 0.5)):
        room = _room(listener=(1.0, y, 1.5))
        _, _, arrival, reflected = _click_response(room, (3.0, 0.0, 0.0), kemar, sample_rate,
                                                   0.2)
        extra = np.hypot(3.0, 1.0) - 3.0  # the next path (the floor) comes 1.2 m later
        start = arrival + int(extra / SPEED_OF_SOUND_M_S * sample_rate) - 10
        window = reflected[:, start: start + 120].astype(np.float64)
        energy = np.sum(window**2, axis=-1)
        ratios[side] = 10 * np.log10(energy[LEFT] / energy[RIGHT])
    assert ratios["left"] > 3.0 and ratios["right"] < -3.0


def test_mono_is_the_image_source_capture_at_the_omni_mic(kemar: HRTFSet, sample_rate: int
                                                           ) -> None:
    """Up to the late tail, the mono is sum_p damping_p / r_p delayed by r_p / c, the image
    sources (independently from pyroomacoustics) of orders <= 3; it is no downmix."""
    listener, offset = (1.0, 2.0, 1.5), np.array([2.5, 0.5, 0.2])
    room = _room(absorption=0.3, listener=listener)
    mono, ears, arrival, _ = _click_response(room, offset, kemar, sample_rate, 0.5)
    model = pra.ShoeBox(list(ROOM), fs=sample_rate, max_order=3,
                        materials=pra.Material(0.3), air_absorption=False)
    model.add_source(list(np.add(listener, offset)))
    model.add_microphone(list(listener))
    model.image_source_model()
    distances = np.linalg.norm(model.sources[0].images.T - np.array(listener), axis=1)
    expected = np.zeros_like(mono, dtype=np.float64)
    lag_ms = (distances - distances.min()) / SPEED_OF_SOUND_M_S * 1e3
    for r, g in zip(distances[lag_ms < 50.0], model.sources[0].damping[0][lag_ms < 50.0]):
        at = CLICK_AT + r / SPEED_OF_SOUND_M_S * sample_rate
        k = int(np.floor(at))
        expected[k] += (1 - (at - k)) * g / r
        expected[k + 1] += (at - k) * g / r
    end = arrival + int(0.045 * sample_rate)  # before the late tail fades in
    np.testing.assert_allclose(mono[:end], expected[:end], atol=1e-6)
    downmix = ears.mean(axis=0)
    error = np.sum((mono - downmix) ** 2) / np.sum(mono**2)
    assert error > 0.1  # the ears hear HRIR-filtered paths, the mic does not


@pytest.mark.parametrize("absorption", [0.2, 0.5])
def test_room_reverberation_follows_the_absorption(
    absorption: float, kemar: HRTFSet, sample_rate: int
) -> None:
    """The late decay matches Eyring's RT60 (0.46 s and 0.15 s here); the tail starts at
    the level of pyroomacoustics' high-order image-source response within a few dB (it
    decays a little slower than Eyring: a specular box is not a diffuse room)."""
    room = _room(absorption=absorption)
    mono, ears, arrival, _ = _click_response(room, (2.5, 0.5, 0.0), kemar, sample_rate, 1.2)
    late = mono[arrival + int(0.065 * sample_rate):]
    assert _t20(late, sample_rate) == pytest.approx(room.rt60_s, rel=0.1)
    full = _t20(mono[arrival - 5:], sample_rate)
    assert 0.6 * room.rt60_s < full < 1.6 * room.rt60_s
    for ear in (LEFT, RIGHT):  # the same decay and level at the ears
        ear_late = ears[ear, arrival + int(0.065 * sample_rate):]
        assert _t20(ear_late, sample_rate) == pytest.approx(room.rt60_s, rel=0.15)
        level = 10 * np.log10(np.sum(ear_late.astype(np.float64) ** 2) / np.sum(late**2))
        assert abs(level) < 1.5
    reference = pra.ShoeBox(list(ROOM), fs=sample_rate, max_order=40,
                            materials=pra.Material(absorption), air_absorption=False)
    reference.add_source([3.5, 2.5, 1.5])
    reference.add_microphone([1.0, 2.0, 1.5])
    reference.compute_rir()
    rir = np.asarray(reference.rir[0][0])
    peak = int(np.argmax(np.abs(rir)))

    def onset_level(x: np.ndarray, direct_at: int, direct_half: int) -> float:
        direct = np.sum(x[direct_at - direct_half: direct_at + direct_half + 1] ** 2)
        window = x[direct_at + int(0.06 * sample_rate): direct_at + int(0.12 * sample_rate)]
        return 10 * np.log10(np.sum(window**2) / direct)

    ours, theirs = onset_level(mono, arrival, 2), onset_level(rir, peak, 40)
    assert -8.0 < ours - theirs < 1.0


def test_late_tail_is_decorrelated_between_the_ears_the_direct_sound_is_not(
    kemar: HRTFSet, sample_rate: int
) -> None:
    room = _room(absorption=0.2)
    mono, ears, arrival, _ = _click_response(room, (3.0, 0.0, 0.0), kemar, sample_rate, 1.0)
    direct = ears[:, arrival - 20: arrival + 200].astype(np.float64)
    late = ears[:, arrival + int(0.08 * sample_rate):].astype(np.float64)
    lag = int(0.001 * sample_rate)
    assert _max_xcorr(direct[LEFT], direct[RIGHT], lag) > 0.9
    assert _max_xcorr(late[LEFT], late[RIGHT], lag) < 0.4
    # Diffuse-field coherence: high at low frequencies, low above ~1 kHz.
    tails = late_tails(room, kemar, sample_rate, 0.0, np.random.default_rng(3))
    t = np.arange(tails.shape[1]) / sample_rate
    flat = tails / 10 ** (-3 * t / room.rt60_s)  # undo the decay: a stationary noise
    freqs, coh = coherence(flat[1], flat[2], fs=sample_rate, nperseg=1024)
    assert coh[(freqs > 50) & (freqs < 200)].mean() > 0.7
    assert coh[(freqs > 2000) & (freqs < 10000)].mean() < 0.1
    # Independent draws: another source's tail is a different waveform, the same decay.
    other = late_tails(room, kemar, sample_rate, 0.0, np.random.default_rng(4))
    assert _max_xcorr(tails[0], other[0], lag) < 0.2


def test_the_coherence_mixing_reproduces_the_diffuse_field_coherence() -> None:
    """M M^T is the coherence, also at DC (rank one) and where both sinc terms vanish."""
    zero = SPEED_OF_SOUND_M_S / (2 * HEAD_RADIUS_M)  # k R = pi: ear-centre and ear-ear zero
    freqs = np.concatenate([np.linspace(0.0, 24000.0, 2049), [zero / 2, zero, 2 * zero]])
    k_r = 2 * np.pi * freqs / SPEED_OF_SOUND_M_S * HEAD_RADIUS_M
    a, b = np.sinc(k_r / np.pi), np.sinc(2 * k_r / np.pi)
    one = np.ones_like(a)
    expected = np.stack([np.stack([one, a, a], -1), np.stack([a, one, b], -1),
                         np.stack([a, b, one], -1)], -2)
    m = diffuse_coherence_mixing(freqs)
    np.testing.assert_allclose(m @ m.transpose(0, 2, 1), expected, rtol=0, atol=1e-12)


def test_drawn_rooms_hold_the_sources_and_the_listener() -> None:
    cfg = replace(SynthConfig(), room="shoebox")
    rng = np.random.default_rng(0)
    rt60 = []
    for _ in range(50):
        offsets = rng.uniform([1.0, -4.0, -0.8], [8.0, 4.0, 0.5], size=(3, 5, 3))
        room = draw_room(cfg, rng, offsets)
        listener, size = np.array(room.listener_m), np.array(room.size_m)
        points = np.vstack([offsets.reshape(-1, 3) + listener, listener])
        assert np.all(points >= cfg.wall_margin_m - 1e-9)
        assert np.all(points <= size - cfg.wall_margin_m + 1e-9)
        assert cfg.absorption[0] <= room.absorption <= cfg.absorption[1]
        assert np.all(size >= [r[0] for r in (cfg.room_length_m, cfg.room_width_m,
                                              cfg.room_height_m)])
        rt60.append(room.rt60_s)
    assert 0.05 < min(rt60) and max(rt60) < 2.0 and max(rt60) > 2 * min(rt60)
    again = draw_room(cfg, np.random.default_rng(7), np.ones((1, 2, 3)))
    assert again == draw_room(cfg, np.random.default_rng(7), np.ones((1, 2, 3)))
