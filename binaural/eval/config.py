"""Metric settings (params.yaml `evaluate`).

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvaluateConfig:
    """Metrics, in the conventions of shared/research/ANCHORS.md."""

    fairplay_sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 160
    win: int = 400
    window_s: float = 0.25
    hop_s: float = 0.125
    itd_band_hz: tuple[float, float] = (150.0, 1500.0)
    phat_beta: float = 0.75
    max_itd_s: float = 0.001
    energy_floor_db: float = -35.0
    # Richard et al. / BinauralGrad set (48 kHz, STFT 2048, 40 ms window, 10 ms hop); the
    # log-spectral distance and the time-frequency cue errors use the same STFT.
    richard_sample_rate: int = 48000
    richard_n_fft: int = 2048
    richard_win_ms: float = 40.0
    richard_hop_ms: float = 10.0
    phase_energy_threshold: float = 0.2  # phase error over bins above this x mean energy
    # Multi-resolution STFT: (n_fft, hop, win) in samples at richard_sample_rate.
    mrstft_resolutions: tuple[tuple[int, int, int], ...] = (
        (1024, 120, 600),
        (2048, 240, 1200),
        (512, 50, 240),
    )
    tf_ild_min_hz: float = 1500.0
    tf_ipd_band_hz: tuple[float, float] = (100.0, 1500.0)
    # Band-smoothed cue errors (binaural.eval.bands): cells of one fractional-octave band
    # (centres 1 kHz x 2^(k / bands_per_octave) from band_low_hz to band_high_hz) and
    # band_frame_ms of the Richard STFT's frames; ILD in the bands centred at or above
    # band_split_hz, IPD below; cells band_dynamic_range_db or more below the reference's
    # loudest are not scored; ear powers floored band_floor_rel_db below the mean cell power.
    band_low_hz: float = 100.0
    band_high_hz: float = 16000.0
    bands_per_octave: int = 3
    band_frame_ms: float = 40.0
    band_split_hz: float = 1500.0
    band_dynamic_range_db: float = 40.0
    band_floor_rel_db: float = -60.0
    # `binaural evaluate` defaults: systems compared, dataset split, clips whose direction
    # over time is plotted, MLflow experiment.
    systems: tuple[str, ...] = ("mono", "dsp", "dsp-oracle")
    split: str = "test"
    plot_clips: int = 4
    mlflow_experiment: str = "evaluate"

    def __post_init__(self) -> None:
        # YAML gives lists of lists; keep the config hashable.
        object.__setattr__(
            self,
            "mrstft_resolutions",
            tuple(tuple(int(v) for v in r) for r in self.mrstft_resolutions),
        )
