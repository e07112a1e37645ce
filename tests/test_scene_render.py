"""The room-aware, activity-gated DSP renderer (binaural.spatial.scene_render)."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import fftconvolve

from binaural.constants import LEFT, RIGHT
from binaural.spatial.config import RenderConfig
from binaural.spatial.gate import ActivityModel, ActivityTracker
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import mixture_filter, spatialize
from binaural.spatial.reverb import LateReverbTracker
from binaural.spatial.scene_render import (
    SceneSpatializer,
    activity_weights,
    build_spatializer,
    gated_mixture_filter,
    render_scene,
)
from binaural.spatial.tracks import SourceTrack

NO_GATE = RenderConfig(activity_model="", reverb_model="")  # no shipped model


def _track(azimuth: float, cls: str = "person", distance: float = 2.0, sid: int = 0
           ) -> SourceTrack:
    return SourceTrack(sid, cls, cls, 0.9, np.array([0.0, 10.0]), np.full(2, azimuth),
                       np.zeros(2), np.full(2, distance), np.zeros((2, 4)))


def _bursts(sample_rate: int, seed: int = 0, duration_s: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    src = np.zeros(int(duration_s * sample_rate))
    for start in np.arange(0.1, duration_s - 0.5, 0.9):
        i = int(start * sample_rate)
        src[i:i + sample_rate // 3] = rng.standard_normal(sample_rate // 3) * 0.1
    return src


def _reverberant(src: np.ndarray, sample_rate: int, t60_s: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.2 * t60_s * sample_rate)) / sample_rate
    rir = rng.standard_normal(t.size) * 10 ** (-3 * t / t60_s) * 0.3
    rir[0] = 1.0
    out = fftconvolve(src, rir)[: src.size]
    return out + 1e-5 * rng.standard_normal(out.size)


def _band_coherence(binaural: np.ndarray, sample_rate: int, low_hz: float, high_hz: float
                    ) -> float:
    """|sum L R*| / sqrt(sum |L|^2 sum |R|^2) over STFT bins in the band."""
    hop = 512
    frames = np.lib.stride_tricks.sliding_window_view(binaural, 2 * hop, axis=-1)[:, ::hop]
    spec = np.fft.rfft(frames * np.hanning(2 * hop), axis=-1)
    freqs = np.fft.rfftfreq(2 * hop, 1.0 / sample_rate)
    band = (freqs >= low_hz) & (freqs < high_hz)
    left, right = spec[LEFT][..., band], spec[RIGHT][..., band]
    return float(np.abs(np.sum(left * np.conj(right)))
                 / np.sqrt(np.sum(np.abs(left) ** 2) * np.sum(np.abs(right) ** 2)))


def test_anechoic_input_renders_as_the_plain_renderer(kemar: HRTFSet, sample_rate: int
                                                      ) -> None:
    mono = _bursts(sample_rate)
    tracks = [_track(35.0)]
    plain = spatialize(mono, mixture_filter(kemar, [t.as_tuple() for t in tracks]),
                       kemar.taps, sample_rate)
    for mode in ("coherent", "decorrelated"):
        out = render_scene(mono, kemar, tracks, replace(NO_GATE, diffuse_mode=mode),
                           sample_rate)
        np.testing.assert_allclose(out, plain, atol=1e-6)


def test_reverberant_input_gets_a_diffuse_part_with_the_energy_kept(
    kemar: HRTFSet, sample_rate: int
) -> None:
    mono = _reverberant(_bursts(sample_rate), sample_rate, 0.6)
    tracks = [_track(50.0)]
    anechoic = render_scene(mono, kemar, tracks, replace(NO_GATE, reverb=False), sample_rate)
    sp = build_spatializer(kemar, tracks, NO_GATE, sample_rate)
    out = np.concatenate([sp.push(mono), sp.flush()], axis=1)
    assert sp.last_t60_s > 0.3
    def ild(x):
        return 10 * np.log10(np.sum(x[LEFT] ** 2) / np.sum(x[RIGHT] ** 2))
    # The diffuse part is heard equally in both ears: the ILD shrinks, stays on the left.
    assert 0.5 < ild(out) < ild(anechoic) - 1.0
    energy = np.sum(out.astype(np.float64) ** 2) / np.sum(anechoic.astype(np.float64) ** 2)
    assert 0.6 < energy < 1.4


def test_the_decorrelated_diffuse_part_has_low_high_frequency_coherence(
    kemar: HRTFSet, sample_rate: int
) -> None:
    noise = np.random.default_rng(5).standard_normal(2 * sample_rate) * 0.1
    late = LateReverbTracker(sample_rate, 512, direct_floor=0.0)
    late.direct_fraction = lambda spec, t60: np.zeros(spec.shape)  # all diffuse
    filt = mixture_filter(kemar, [_track(0.0).as_tuple()])
    sp = SceneSpatializer(filt, kemar, sample_rate, late=late, diffuse_mode="decorrelated")
    diffuse = np.concatenate([sp.push(noise), sp.flush()], axis=1)
    direct = spatialize(noise, filt, kemar.taps, sample_rate)
    assert _band_coherence(direct, sample_rate, 3000, 12000) > 0.9
    assert _band_coherence(diffuse, sample_rate, 3000, 12000) < 0.3
    assert _band_coherence(diffuse, sample_rate, 50, 250) > 0.7  # a diffuse field's, too


def _silent_class_model() -> ActivityModel:
    """A stand-in model: 'person' sounds when the frames are loud, 'piano' never."""
    from binaural.spatial.gate import N_MELS

    dim = 3 * N_MELS + 2
    w1 = np.zeros((dim, 1))
    w1[-2, 0] = 1.0  # the frame level re the loudest (dB, standardised by 1)
    return ActivityModel(("person", "piano"), np.zeros(dim), np.ones(dim), w1,
                         np.array([30.0]), np.array([[1.0, 0.0]]), np.array([-10.0, -20.0]))


def test_the_gate_gives_a_silent_visible_object_no_share(kemar: HRTFSet, sample_rate: int
                                                        ) -> None:
    mono = _bursts(sample_rate)
    speaker, piano = _track(40.0, "person", 3.0, 0), _track(-40.0, "piano", 1.5, 1)
    model = _silent_class_model()
    activity = ActivityTracker(model, sample_rate)
    activity.update(mono)
    weights = activity_weights(activity, ["person", "piano"], 0.01, 2.0, 0.5)
    t = np.array([0.3, 1.2, 2.1])  # inside the bursts
    w = weights(t)
    assert np.all(w[0] > 0.9) and np.all(w[1] < 1e-3)
    gated = gated_mixture_filter(kemar, [speaker.as_tuple(), piano.as_tuple()], weights)
    alone = mixture_filter(kemar, [speaker.as_tuple()])
    scale = np.abs(alone(t)).max()
    assert np.abs(gated(t) - alone(t)).max() < 0.05 * scale
    ungated = mixture_filter(kemar, [speaker.as_tuple(), piano.as_tuple()])
    assert np.abs(ungated(t) - alone(t)).max() > 0.5 * scale  # the nearer piano took most
    # Unit weights reproduce mixture_filter exactly.
    ones = gated_mixture_filter(kemar, [speaker.as_tuple(), piano.as_tuple()],
                                lambda times: np.ones((2, len(times))))
    np.testing.assert_array_equal(ones(t), ungated(t))


def test_unknown_classes_and_no_model_fall_back_to_the_plain_shares(
    kemar: HRTFSet, sample_rate: int, tmp_path
) -> None:
    mono = _bursts(sample_rate)
    tracks = [_track(40.0, "dog", 3.0, 0), _track(-40.0, "car", 1.5, 1)]
    path = tmp_path / "activity.npz"
    _silent_class_model().save(path)
    cfg = replace(RenderConfig(activity_model=str(path)), reverb=False)
    plain = spatialize(mono, mixture_filter(kemar, [t.as_tuple() for t in tracks]),
                       kemar.taps, sample_rate)
    np.testing.assert_allclose(render_scene(mono, kemar, tracks, cfg, sample_rate), plain,
                               atol=1e-6)
    missing = replace(cfg, activity_model=str(tmp_path / "none.npz"))
    np.testing.assert_array_equal(render_scene(mono, kemar, tracks, missing, sample_rate),
                                  plain)


def test_activity_model_round_trips(tmp_path) -> None:
    model = _silent_class_model()
    model.save(tmp_path / "m.npz")
    loaded = ActivityModel.load(tmp_path / "m.npz")
    x = np.random.default_rng(0).standard_normal((4, model.mean.size))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    assert loaded.classes == model.classes


@pytest.mark.parametrize("render", [NO_GATE, RenderConfig()], ids=["no-models", "shipped"])
def test_streaming_render_does_not_depend_on_the_chunking(
    kemar: HRTFSet, sample_rate: int, render: RenderConfig
) -> None:
    """The T60, the reverberation verdict and the activity are taken per analysis unit,
    not per caller's chunk: whole, 5000- and 24000-sample chunks give the same output."""
    render = replace(render, analysis_s=1.0)
    mono = _reverberant(_bursts(sample_rate, duration_s=4.0), sample_rate, 0.5)
    tracks = [_track(30.0), _track(-40.0, "guitar", sid=1)]
    outputs = []
    for size in (mono.size, 5000, 24000):
        sp = build_spatializer(kemar, tracks, render, sample_rate)
        pieces = [sp.push(mono[i:i + size]) for i in range(0, mono.size, size)]
        outputs.append(np.concatenate(pieces + [sp.flush()], axis=1))
    assert outputs[0].shape == (2, mono.size)
    assert np.abs(outputs[0]).max() > 0.01
    for streamed in outputs[1:]:
        np.testing.assert_allclose(streamed, outputs[0], rtol=0, atol=1e-6)


def test_bad_diffuse_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        RenderConfig(diffuse_mode="wet")


def _constant_model(logit: float) -> ActivityModel:
    """A one-output stand-in detector whose probability is sigmoid(logit) everywhere."""
    from binaural.spatial.gate import N_MELS

    dim = 3 * N_MELS + 2
    return ActivityModel(("reverberant",), np.zeros(dim), np.ones(dim), np.zeros((dim, 1)),
                         np.zeros(1), np.zeros((1, 1)), np.array([logit]))


def test_the_reverberation_detector_decides_whether_there_is_a_late_part(
    kemar: HRTFSet, sample_rate: int, tmp_path
) -> None:
    mono = _reverberant(_bursts(sample_rate), sample_rate, 0.6)
    tracks = [_track(50.0)]
    plain = render_scene(mono, kemar, tracks, replace(NO_GATE, reverb=False), sample_rate)
    dry, wet = tmp_path / "dry.npz", tmp_path / "wet.npz"
    _constant_model(-20.0).save(dry)
    _constant_model(20.0).save(wet)
    said_dry = build_spatializer(kemar, tracks, replace(NO_GATE, reverb_model=str(dry)),
                                 sample_rate)
    out = np.concatenate([said_dry.push(mono), said_dry.flush()], axis=1)
    assert said_dry.last_t60_s == 0.0
    np.testing.assert_allclose(out, plain, atol=1e-6)
    # Reverberant by the detector, but white noise has no free decay: the fallback T60.
    noise = np.random.default_rng(3).standard_normal(2 * sample_rate) * 0.1
    said_wet = build_spatializer(kemar, tracks, replace(NO_GATE, reverb_model=str(wet),
                                                        fallback_t60_s=0.4), sample_rate)
    said_wet.push(noise)
    said_wet.flush()
    assert said_wet.reverberant and said_wet.last_t60_s == 0.4
