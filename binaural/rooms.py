"""Shoebox rooms: image-source paths (pyroomacoustics), their directions at the listener,
the late tail, and one source's room response at the microphone and at the ears.

Frame: a room corner at the origin, x along the camera's axis (the listener faces +x),
y to the listener's left, z up. A vector from the listener is then (forward, left, up),
so directions come out in the SOFA convention (azimuth +90 = left) directly.

What the mono and the truth share, per source s(t) and path p (p = 0 the direct path,
then the image sources up to `max_order` arriving within `early_ms` of it):

    length r_p(t), amplitude damping_p / r_p (damping: sqrt(1 - absorption) per
    reflection), delay r_p / c, direction = the image's direction from the listener;
    mono  = sum_p damping_p propagate(s, r_p)                (the omni microphone)
    ears  = sum_p HRIR(dir_p) * damping_p propagate(s, r_p)

and after `early_ms` a late tail: Gaussian noise with the statistical energy decay of
the room, 4 pi c / V exp(-13.8 t / T60) per second (t since emission, Eyring's T60), the
same envelope at the microphone and at both ears, the three mixed per frequency to the
coherence of a diffuse field (sinc(k d), d the distance between receivers) and each ear
coloured by its diffuse-field HRTF. So the ears' late parts are decorrelated (at high
frequencies) while their direct parts stay coherent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra
from scipy import fft as sfft
from scipy.signal import fftconvolve

from binaural.config import SynthConfig
from binaural.constants import SPEED_OF_SOUND_M_S
from binaural.hrtf import HRTFSet
from binaural.render import FilterFn, propagate, spatialize

HEAD_RADIUS_M = 0.0875  # each ear's distance from the head centre (the microphone)
CONTROL_S = 0.1  # image paths are computed at this spacing, interpolated in between
REFLECTION_BLOCK = 1024  # hop (samples) of the time-varying early-reflection filter
LATE_LENGTH_T60 = 1.1  # the tail runs this many T60s past its onset (then < -60 dB)
MAX_TAIL_S = 3.0
DIFFUSE_NFFT = 1024  # resolution of the diffuse-field HRTF magnitude
DECAY_DB = 60.0
SABINE_FACTOR = 24.0 * math.log(10.0) / SPEED_OF_SOUND_M_S  # T60 = 0.161 V / A


@dataclass(frozen=True)
class ShoeboxRoom:
    """A rectangular room with uniform wall absorption and the listener in it.

    Attributes:
        size_m: (length along the camera's axis, width, height).
        absorption: energy absorption coefficient of every surface.
        listener_m: the listener's (and camera's, and microphone's) position.
        max_order: image sources up to this order are rendered path by path.
        early_ms: after the direct sound, the split between image paths and late tail.
        late_fade_ms: fade-in of the late tail.
    """

    size_m: tuple[float, float, float]
    absorption: float
    listener_m: tuple[float, float, float]
    max_order: int = 3
    early_ms: float = 50.0
    late_fade_ms: float = 10.0

    @property
    def volume_m3(self) -> float:
        return float(np.prod(self.size_m))

    @property
    def surface_m2(self) -> float:
        x, y, z = self.size_m
        return 2.0 * (x * y + x * z + y * z)

    @property
    def rt60_s(self) -> float:
        """Eyring's reverberation time (the decay the late tail follows)."""
        return SABINE_FACTOR * self.volume_m3 / (-self.surface_m2 * math.log(1 - self.absorption))

    def record(self) -> dict:
        """The room as the truth JSON stores it."""
        return {
            "type": "shoebox",
            "size_m": [round(v, 3) for v in self.size_m],
            "absorption": round(self.absorption, 4),
            "rt60_s": round(self.rt60_s, 3),
            "listener_m": [round(v, 3) for v in self.listener_m],
            "max_image_order": self.max_order,
            "early_ms": self.early_ms,
        }


def draw_room(cfg: SynthConfig, rng: np.random.Generator, offsets_m: np.ndarray) -> ShoeboxRoom:
    """A random room (sizes and absorption from cfg) that holds every source position.

    offsets_m (..., 3): source positions relative to the listener (forward, left, up) over
    the scene. A drawn dimension too small for them (with cfg.wall_margin_m to spare) is
    enlarged; the listener is then placed at random where everything fits.
    """
    points = np.vstack([np.asarray(offsets_m, dtype=np.float64).reshape(-1, 3), np.zeros(3)])
    lo, hi = points.min(axis=0), points.max(axis=0)
    margin = cfg.wall_margin_m
    ranges = (cfg.room_length_m, cfg.room_width_m, cfg.room_height_m)
    drawn = [float(rng.uniform(*r)) for r in ranges]
    height = max(float(rng.uniform(*cfg.listener_height_m)), margin - lo[2])
    size, listener = [], []
    for axis in (0, 1):
        length = max(drawn[axis], hi[axis] - lo[axis] + 2 * margin)
        size.append(length)
        low = margin - lo[axis]
        listener.append(float(rng.uniform(low, max(low, length - margin - hi[axis]))))
    size.append(max(drawn[2], height + hi[2] + margin))
    listener.append(height)
    return ShoeboxRoom(
        size_m=tuple(float(v) for v in size),
        absorption=float(rng.uniform(*cfg.absorption)),
        listener_m=tuple(listener),
        max_order=cfg.max_image_order,
        early_ms=cfg.early_ms,
        late_fade_ms=cfg.late_fade_ms,
    )


@dataclass(frozen=True)
class ImagePaths:
    """Sound paths from one source to the listener at control times, sorted by mean
    length (the direct path first).

    Attributes:
        distance_m, azimuth_deg, elevation_deg: (P, T) per path and control time.
        damping: (P,) amplitude factor of the path's reflections.
        order: (P,) number of reflections.
        index_xyz: (P, 3) the image's index along each axis (0, 0, 0 = the source).
    """

    distance_m: np.ndarray
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    damping: np.ndarray
    order: np.ndarray
    index_xyz: np.ndarray

    def select(self, keep: np.ndarray) -> ImagePaths:
        return ImagePaths(self.distance_m[keep], self.azimuth_deg[keep],
                          self.elevation_deg[keep], self.damping[keep], self.order[keep],
                          self.index_xyz[keep])


def image_paths(room: ShoeboxRoom, offsets_m: np.ndarray) -> ImagePaths:
    """Image sources (pyroomacoustics) of a source at offsets_m (T, 3) from the listener."""
    listener = np.asarray(room.listener_m, dtype=np.float64)
    offsets_m = np.atleast_2d(np.asarray(offsets_m, dtype=np.float64))
    images, first = [], None
    for offset in offsets_m:
        # fs is unused by the image-source model; pyroomacoustics requires one.
        model = pra.ShoeBox(list(room.size_m), fs=16000, max_order=room.max_order,
                            materials=pra.Material(room.absorption), air_absorption=False)
        model.add_source(listener + offset)
        model.add_microphone(listener)
        model.image_source_model()
        source = model.sources[0]
        if first is None:
            first = source
        elif not np.array_equal(source.orders_xyz, first.orders_xyz):
            raise RuntimeError("image sources changed identity along the trajectory")
        images.append(source.images.T)  # (P, 3)
    vectors = np.stack(images, axis=1) - listener  # (P, T, 3): forward, left, up
    distance = np.linalg.norm(vectors, axis=-1)
    azimuth = np.degrees(np.arctan2(vectors[..., 1], vectors[..., 0]))
    elevation = np.degrees(np.arctan2(vectors[..., 2], np.hypot(vectors[..., 0],
                                                                vectors[..., 1])))
    paths = ImagePaths(distance, azimuth, elevation, first.damping[0].astype(np.float64),
                       first.orders.astype(int), first.orders_xyz.T.astype(int))
    return paths.select(np.argsort(distance.mean(axis=1), kind="stable"))


def early_reflections(paths: ImagePaths, early_ms: float) -> ImagePaths:
    """The reflected paths arriving (on average) within early_ms of the direct one."""
    lag_ms = (paths.distance_m - paths.distance_m[:1]).mean(axis=1) / SPEED_OF_SOUND_M_S * 1e3
    return paths.select((paths.order > 0) & (lag_ms < early_ms))


def reflection_filter(
    paths: ImagePaths, direct_m: np.ndarray, times_s: np.ndarray, hrtf: HRTFSet,
    sample_rate: int,
) -> tuple[FilterFn, int]:
    """Binaural filters of the reflected paths relative to the direct path.

    Applied to the direct path's propagated signal: each path adds its HRIR delayed by
    (r_p - r_0) / c and scaled by damping_p r_0 / r_p (fractional delays split linearly
    over two taps, as propagate interpolates). Returns (filter_at, taps).
    """
    n_paths, n_times = paths.distance_m.shape
    lag = (paths.distance_m - direct_m) / SPEED_OF_SOUND_M_S * sample_rate  # (P, T)
    gain = paths.damping[:, None] * direct_m / paths.distance_m
    hrirs = hrtf.interpolate(paths.azimuth_deg.ravel(), paths.elevation_deg.ravel())
    hrirs = hrirs.reshape(n_paths, n_times, 2, hrtf.taps).astype(np.float64)
    taps = int(np.ceil(lag.max(initial=0.0))) + hrtf.taps + 2
    control = np.arange(n_times)

    def filter_at(t: np.ndarray) -> np.ndarray:
        pos = np.interp(t, times_s, control)
        i0 = np.clip(np.floor(pos).astype(int), 0, max(n_times - 2, 0))
        i1 = np.minimum(i0 + 1, n_times - 1)
        w = np.clip(pos - i0, 0.0, 1.0)
        out = np.zeros((len(t), 2, taps))
        n = hrtf.taps
        for p in range(n_paths):
            h = (1 - w)[:, None, None] * hrirs[p, i0] + w[:, None, None] * hrirs[p, i1]
            delay = (1 - w) * lag[p, i0] + w * lag[p, i1]
            g = (1 - w) * gain[p, i0] + w * gain[p, i1]
            k = np.floor(delay).astype(int)
            frac = delay - k
            now, later = ((1 - frac) * g)[:, None, None] * h, (frac * g)[:, None, None] * h
            for f in range(len(t)):  # slices beat fancy indexing here by ~10x
                out[f, :, k[f]:k[f] + n] += now[f]
                out[f, :, k[f] + 1:k[f] + 1 + n] += later[f]
        return out

    return filter_at, taps


def diffuse_field_magnitude(hrtf: HRTFSet, freqs_hz: np.ndarray) -> np.ndarray:
    """Each ear's HRTF magnitude averaged in power over all measured directions, (2, F)."""
    spectrum = np.abs(sfft.rfft(hrtf.ir.astype(np.float64), DIFFUSE_NFFT, axis=-1)) ** 2
    magnitude = np.sqrt(spectrum.mean(axis=0))  # (2, DIFFUSE_NFFT // 2 + 1)
    grid = sfft.rfftfreq(DIFFUSE_NFFT, 1.0 / hrtf.sample_rate)
    return np.stack([np.interp(freqs_hz, grid, m) for m in magnitude])


def diffuse_coherence_mixing(freqs_hz: np.ndarray) -> np.ndarray:
    """Per frequency, M (F, 3, 3) with M M^T the diffuse-field coherence of the receivers
    (microphone at the head centre, left ear, right ear).

    The coherence [[1, a, a], [a, 1, b], [a, b, 1]] is factored in closed form, not by
    LAPACK, whose eigenvectors change in their last bits with the BLAS kernel (a seeded
    dataset came out other bytes under OPENBLAS_CORETYPE=Zen): (0, 1, -1)/sqrt(2) with
    eigenvalue 1 - b, and the block [[1, s], [s, 1 + b]] (s = sqrt(2) a) on (1, 0, 0) and
    (0, 1, 1)/sqrt(2).
    """
    k = 2 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / SPEED_OF_SOUND_M_S
    a = np.sinc(k * HEAD_RADIUS_M / np.pi)  # np.sinc(x) = sin(pi x) / (pi x)
    b = np.sinc(2 * k * HEAD_RADIUS_M / np.pi)
    s = np.sqrt(2.0) * a
    r = np.hypot(0.5 * b, s)
    mixing = np.zeros((k.size, 3, 3))
    for col, shift in enumerate((0.5 * b + r, 0.5 * b - r)):  # eigenvalues 1 + shift
        # Two expressions of the block's eigenvector; the longer one is well conditioned.
        first = np.stack([s, shift])
        second = np.stack([shift - b, s])
        u = np.where(np.hypot(*first) >= np.hypot(*second), first, second)
        norm = np.hypot(*u)
        fallback = np.eye(2)[:, col : col + 1]  # the block is the identity (a = b = 0)
        u = np.where(norm > 0, u / np.where(norm > 0, norm, 1.0), fallback)
        gain = np.sqrt(np.clip(1.0 + shift, 0.0, None))
        mixing[:, 0, col] = gain * u[0]
        mixing[:, 1, col] = mixing[:, 2, col] = gain * u[1] / np.sqrt(2.0)
    gain = np.sqrt(np.clip(1.0 - b, 0.0, None) / 2.0)
    mixing[:, 1, 2], mixing[:, 2, 2] = gain, -gain
    return mixing


def late_tails(
    room: ShoeboxRoom, hrtf: HRTFSet, sample_rate: int, onset_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Late impulse responses (3, L): microphone, left ear, right ear; index 0 is the
    emission, the tail starts at onset_s (with a fade-in of room.late_fade_ms)."""
    t60 = room.rt60_s
    length = int(min(LATE_LENGTH_T60 * t60, MAX_TAIL_S) * sample_rate)
    freqs = sfft.rfftfreq(length, 1.0 / sample_rate)
    spectra = sfft.rfft(rng.standard_normal((3, length)), axis=-1)
    mixed = np.einsum("fij,jf->if", diffuse_coherence_mixing(freqs), spectra)
    mixed[1:] *= diffuse_field_magnitude(hrtf, freqs)
    noise = sfft.irfft(mixed, length, axis=-1)
    since_onset = np.arange(length) / sample_rate
    rate = 4 * np.pi * SPEED_OF_SOUND_M_S / room.volume_m3  # energy per second at t = 0
    envelope = np.sqrt(rate / sample_rate) * 10 ** (
        -DECAY_DB / 20 * (onset_s + since_onset) / t60)
    fade_s = room.late_fade_ms / 1e3
    fade = 0.5 - 0.5 * np.cos(np.pi * np.clip(since_onset / fade_s, 0, 1)) if fade_s > 0 else 1
    onset = np.zeros((3, int(round(onset_s * sample_rate))))
    return np.concatenate([onset, noise * envelope * fade], axis=1)


def render_room(
    dry: np.ndarray, direct: np.ndarray, times_s: np.ndarray, offsets_m: np.ndarray,
    room: ShoeboxRoom, hrtf: HRTFSet, sample_rate: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """What the room adds to one source's direct sound: (mono (N,), binaural (2, N)).

    dry: the source signal; direct: propagate(dry, r_0) (the direct path at the
    microphone, the signal the renderer spatializes); offsets_m (T, 3) the source
    relative to the listener at times_s (T,), at least two control times.
    """
    n = dry.shape[0]
    paths = image_paths(room, offsets_m)
    direct_m = paths.distance_m[0]
    early = early_reflections(paths, room.early_ms)
    mono = np.zeros(n)
    audio_t = np.arange(n) / sample_rate
    for p in range(len(early.order)):
        r = np.interp(audio_t, times_s, early.distance_m[p])
        mono += early.damping[p] * propagate(dry, r, sample_rate)
    binaural = np.zeros((2, n))
    if len(early.order):
        filter_at, taps = reflection_filter(early, direct_m, times_s, hrtf, sample_rate)
        binaural += spatialize(direct, filter_at, taps, sample_rate, REFLECTION_BLOCK)
    onset_s = float(direct_m.mean()) / SPEED_OF_SOUND_M_S + room.early_ms / 1e3
    tails = late_tails(room, hrtf, sample_rate, onset_s, rng)
    late = fftconvolve(dry[None, :].astype(np.float64), tails, axes=-1)[:, :n]
    return mono + late[0], binaural + late[1:]


def control_times(duration_s: float) -> np.ndarray:
    """Times at which image paths are computed: every CONTROL_S, covering the scene."""
    return np.arange(0.0, duration_s + CONTROL_S, CONTROL_S)
