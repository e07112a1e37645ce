"""Rendering physics: ear level and timing follow the direction; streaming is exact."""

import numpy as np
import pytest
from scipy.signal import correlate, fftconvolve

from binaural.constants import LEFT, REFERENCE_DISTANCE_M, RIGHT, SPEED_OF_SOUND_M_S
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import (
    Spatializer,
    direction_filter,
    mixture_filter,
    propagate,
    spatialize,
    spatialize_stream,
)

DURATION_S = 1.0
MAX_ITD_S = 0.001  # a human head: |ITD| stays under about 0.7 ms
STREAM_TOL = 1e-5


def _noise(sample_rate: int, duration_s: float = DURATION_S, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(duration_s * sample_rate)) * 0.1


def _static(hrtf: HRTFSet, azimuth: float, elevation: float = 0.0):
    return direction_filter(hrtf, np.array([0.0, 10.0]), np.full(2, azimuth),
                            np.full(2, elevation))


def _render_static(hrtf: HRTFSet, signal: np.ndarray, azimuth: float, elevation: float = 0.0):
    return spatialize(signal, _static(hrtf, azimuth, elevation), hrtf.taps, hrtf.sample_rate)


def _ild_db(binaural: np.ndarray) -> float:
    """Left over right energy in dB (positive: left louder)."""
    e = np.sum(np.asarray(binaural, dtype=np.float64) ** 2, axis=-1)
    return float(10 * np.log10(e[LEFT] / e[RIGHT]))


def _right_lag_samples(binaural: np.ndarray, max_lag: int) -> int:
    """Samples by which the right ear lags the left (positive: left ear earlier)."""
    left, right = binaural.astype(np.float64)
    xc = correlate(right, left, mode="full", method="fft")
    lags = np.arange(-left.size + 1, right.size)
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(xc[keep])])


def test_source_on_the_left_is_louder_and_earlier_on_the_left(
    kemar: HRTFSet, sample_rate: int
) -> None:
    out = _render_static(kemar, _noise(sample_rate), 40.0)
    assert _ild_db(out) > 6.0
    lag = _right_lag_samples(out, int(MAX_ITD_S * sample_rate))
    # At 40 deg a head gives about 0.3-0.4 ms: clearly non-zero, well under the maximum.
    assert 0.15e-3 * sample_rate <= lag <= 0.6e-3 * sample_rate


def test_source_on_the_right_is_louder_and_earlier_on_the_right(
    kemar: HRTFSet, sample_rate: int
) -> None:
    out = _render_static(kemar, _noise(sample_rate), -40.0)
    assert _ild_db(out) < -6.0
    assert _right_lag_samples(out, int(MAX_ITD_S * sample_rate)) < 0


@pytest.mark.parametrize(("azimuth", "elevation"), [(40.0, 0.0), (37.0, 5.0), (12.0, -7.0),
                                                    (75.0, 20.0)])
def test_mirroring_the_scene_swaps_the_ears(
    kemar: HRTFSet, sample_rate: int, azimuth: float, elevation: float
) -> None:
    x = _noise(sample_rate)
    a = _render_static(kemar, x, azimuth, elevation)
    b = _render_static(kemar, x, -azimuth, elevation)
    scale = np.abs(a).max()
    np.testing.assert_allclose(a[LEFT], b[RIGHT], atol=1e-5 * scale)
    np.testing.assert_allclose(a[RIGHT], b[LEFT], atol=1e-5 * scale)


def test_mirroring_a_moving_scene_swaps_the_ears(kemar: HRTFSet, sample_rate: int) -> None:
    x = _noise(sample_rate)
    times = np.linspace(0.0, DURATION_S, 11)
    az = np.linspace(50.0, -20.0, 11)
    el = np.linspace(-5.0, 10.0, 11)
    a = spatialize(x, direction_filter(kemar, times, az, el), kemar.taps, sample_rate)
    b = spatialize(x, direction_filter(kemar, times, -az, el), kemar.taps, sample_rate)
    np.testing.assert_allclose(a[::-1], b, atol=1e-5 * np.abs(a).max())


def test_centred_source_gives_equal_ears(kemar: HRTFSet, sample_rate: int) -> None:
    out = _render_static(kemar, _noise(sample_rate), 0.0)
    assert abs(_ild_db(out)) < 1.0
    assert abs(_right_lag_samples(out, int(MAX_ITD_S * sample_rate))) <= 1


def test_moving_source_moves_the_level_difference(kemar: HRTFSet, sample_rate: int) -> None:
    duration = 2.0
    x = _noise(sample_rate, duration)
    times = np.linspace(0.0, duration, 21)
    az = np.linspace(60.0, -60.0, 21)  # left to right
    out = spatialize(x, direction_filter(kemar, times, az, np.zeros(21)), kemar.taps,
                     sample_rate)
    windows = out.reshape(2, 8, -1).transpose(1, 0, 2)  # eight 0.25 s windows
    ild = np.array([_ild_db(w) for w in windows])
    assert ild[0] > 6.0 and ild[-1] < -6.0
    assert abs(ild[3:5]).max() < 3.0  # through the centre half-way
    assert np.all(np.diff(ild) < 0)


@pytest.mark.parametrize("block", [256, 512])
def test_streaming_equals_whole_signal(kemar: HRTFSet, sample_rate: int, block: int) -> None:
    x = _noise(sample_rate)
    times = np.linspace(0.0, DURATION_S, 6)
    filt = direction_filter(kemar, times, np.linspace(-30.0, 45.0, 6), np.linspace(0, 10, 6))
    whole = spatialize(x, filt, kemar.taps, sample_rate, block=block)
    sizes = [1, 7, 300, block, block + 1, 2 * block - 3, 5000, 13, 9000]
    cuts = np.cumsum(sizes)
    assert cuts[-1] < x.size
    chunks = np.split(x, cuts)
    pieces = list(spatialize_stream(chunks, filt, kemar.taps, sample_rate, block=block))
    streamed = np.concatenate(pieces, axis=1)
    assert streamed.shape == whole.shape == (2, x.size)
    np.testing.assert_allclose(streamed, whole, atol=STREAM_TOL)


def test_filters_apply_at_their_block_centre_times(sample_rate: int) -> None:
    """A filter switched on at time T is crossfaded in over the block before T."""
    block, taps = 512, 8
    switch = 48 * block  # a block centre
    delta = np.zeros((2, taps))
    delta[:, 0] = 1.0

    def filter_at(t: np.ndarray) -> np.ndarray:
        on = t >= switch / sample_rate
        return np.where(on[:, None, None], delta[None], 0.0)

    x = _noise(sample_rate)
    out = spatialize(x, filter_at, taps, sample_rate, block=block)
    np.testing.assert_allclose(out[:, : switch - block], 0.0, atol=1e-9)
    np.testing.assert_allclose(out[:, switch:], np.stack([x, x])[:, switch:], atol=1e-6)
    ramp = out[LEFT, switch - block : switch] / x[switch - block : switch]
    assert np.all((ramp > -1e-6) & (ramp < 1 + 1e-6))
    assert np.all(np.diff(ramp) > -1e-6)  # a fade in, not a jump


def test_static_direction_equals_convolution(kemar: HRTFSet, sample_rate: int) -> None:
    x = _noise(sample_rate)
    azimuth, elevation = 23.0, 7.0
    out = _render_static(kemar, x, azimuth, elevation)
    h = kemar.interpolate(np.array([azimuth]), np.array([elevation]))[0].astype(np.float64)
    for ear in (LEFT, RIGHT):
        expected = fftconvolve(x, h[ear])[: x.size]
        np.testing.assert_allclose(out[ear], expected, atol=1e-5 * np.abs(expected).max())


def test_tail_keeps_the_whole_convolution(kemar: HRTFSet, sample_rate: int) -> None:
    x = _noise(sample_rate, 0.1)
    out = spatialize(x, _static(kemar, -60.0), kemar.taps, sample_rate, tail=True)
    h = kemar.interpolate(np.array([-60.0]), np.zeros(1))[0].astype(np.float64)
    expected = np.stack([fftconvolve(x, h[LEFT]), fftconvolve(x, h[RIGHT])])
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("n", [1, 100, 511, 512, 513, 1024, 4801])
def test_output_length_equals_input_length(kemar: HRTFSet, sample_rate: int, n: int) -> None:
    x = _noise(sample_rate)[:n]
    filt = _static(kemar, 10.0)
    assert spatialize(x, filt, kemar.taps, sample_rate).shape == (2, n)
    assert spatialize(x, filt, kemar.taps, sample_rate, tail=True).shape == (2, n + kemar.taps - 1)
    chunks = np.array_split(x, 3)
    total = sum(p.shape[1] for p in spatialize_stream(chunks, filt, kemar.taps, sample_rate))
    assert total == n


def test_spatializer_refuses_bad_sizes(kemar: HRTFSet, sample_rate: int) -> None:
    with pytest.raises(ValueError):
        Spatializer(_static(kemar, 0.0), kemar.taps, sample_rate, block=0)
    with pytest.raises(ValueError):
        Spatializer(_static(kemar, 0.0), 0, sample_rate)


def test_propagate_delays_and_attenuates_with_distance(sample_rate: int) -> None:
    distance = 3.43
    delay = int(round(distance / SPEED_OF_SOUND_M_S * sample_rate))
    assert delay == int(0.010 * sample_rate)  # 3.43 m at 343 m/s is 10 ms
    x = np.zeros(sample_rate // 10)
    x[100] = 1.0
    x[1000:1200] = np.hanning(200)
    out = propagate(x, np.full(x.size, distance), sample_rate)
    expected = np.zeros_like(x)
    expected[delay:] = x[:-delay] * REFERENCE_DISTANCE_M / distance
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_propagate_at_the_reference_distance_only_delays(sample_rate: int) -> None:
    x = _noise(sample_rate, 0.1)
    out = propagate(x, np.full(x.size, REFERENCE_DISTANCE_M), sample_rate)
    delay = REFERENCE_DISTANCE_M / SPEED_OF_SOUND_M_S * sample_rate  # fractional
    n = np.arange(x.size)
    np.testing.assert_allclose(out, np.interp(n - delay, n, x, left=0.0), atol=1e-6)


def test_propagate_refuses_a_mismatched_distance(sample_rate: int) -> None:
    with pytest.raises(ValueError, match="per sample"):
        propagate(np.zeros(100), np.ones(10), sample_rate)


def _track(azimuth: float, distance: float, t0: float = 0.0, t1: float = 1.0):
    times = np.linspace(t0, t1, 5)
    return times, np.full(5, azimuth), np.zeros(5), np.full(5, distance)


def _lstsq_gains(h: np.ndarray, basis: list[np.ndarray]) -> np.ndarray:
    """Coefficients c with h ~ sum_k c_k basis_k, over both ears and all taps."""
    a = np.stack([b.reshape(-1) for b in basis], axis=1).astype(np.float64)
    c, *_ = np.linalg.lstsq(a, h.reshape(-1).astype(np.float64), rcond=None)
    return c


def test_trajectories_cross_behind_the_head_the_short_way(kemar: HRTFSet) -> None:
    """170 deg -> -170 deg passes through 180 deg, not through the front."""
    times = np.array([0.0, 1.0])
    az, el, dist = np.array([170.0, -170.0]), np.zeros(2), np.full(2, 2.0)
    behind = kemar.interpolate(np.array([180.0]), np.zeros(1))
    t = np.array([0.5])
    np.testing.assert_allclose(direction_filter(kemar, times, az, el)(t), behind, atol=1e-6)
    np.testing.assert_allclose(mixture_filter(kemar, [(times, az, el, dist)])(t), behind,
                               atol=1e-6)


def test_mixture_of_one_track_equals_its_direction_filter(kemar: HRTFSet) -> None:
    times = np.linspace(0.0, 1.0, 5)
    az = np.array([30.0, 20.0, 0.0, -15.0, -40.0])
    el = np.array([0.0, 5.0, 10.0, 5.0, -5.0])
    dist = np.array([1.0, 2.0, 3.0, 2.0, 1.5])
    t = np.linspace(0.0, 1.0, 37)
    mixed = mixture_filter(kemar, [(times, az, el, dist)])(t)
    single = direction_filter(kemar, times, az, el)(t)
    np.testing.assert_allclose(mixed, single, atol=1e-6)


def test_mixture_renders_ahead_where_no_source_is_present(kemar: HRTFSet) -> None:
    filt = mixture_filter(kemar, [_track(40.0, 2.0, 0.5, 1.0)])
    front = kemar.interpolate(np.zeros(1), np.zeros(1))[0]
    np.testing.assert_allclose(filt(np.array([0.1, 1.5])), np.stack([front, front]), atol=1e-7)


@pytest.mark.parametrize(("distances", "shares"), [((2.0, 2.0), (0.5, 0.5)),
                                                   ((1.0, 2.0), (0.8, 0.2))])
def test_mixture_shares_energy_by_inverse_square_distance(
    kemar: HRTFSet, distances: tuple[float, float], shares: tuple[float, float]
) -> None:
    filt = mixture_filter(kemar, [_track(30.0, distances[0]), _track(-50.0, distances[1])])
    h = filt(np.array([0.5]))[0]
    basis = [kemar.interpolate(np.array([a]), np.zeros(1))[0] for a in (30.0, -50.0)]
    gains = _lstsq_gains(h, basis)
    np.testing.assert_allclose(gains**2, shares, atol=1e-5)
    assert np.sum(gains**2) == pytest.approx(1.0, abs=1e-5)  # the mono's energy is kept
