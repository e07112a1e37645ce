"""Delivery settings (params.yaml `delivery`): which deliverables, at which loudness.

Built from params.yaml by flows/params.py; frozen and hashable."""

from __future__ import annotations

from dataclasses import dataclass

OUTPUTS = ("binaural", "foa")


@dataclass(frozen=True)
class DeliveryConfig:
    """What a remaster delivers beside the report.

    outputs: binaural (WAV + MP4) always; foa adds <name>.foa.wav and .foa.mp4 (first-order
    ambisonics, AmbiX: ACN, SN3D, SA3D-tagged). loudness_lufs: None matches the input's
    integrated loudness (ITU-R BS.1770-4; the mono as heard on both ears); a number is a
    target in LUFS (e.g. -23 broadcast, -16 streaming). true_peak_dbtp: the ceiling, kept
    by a look-ahead limiter (lookahead and release in ms), not by clipping.
    """

    outputs: tuple[str, ...] = ("binaural",)
    loudness_lufs: float | None = None
    true_peak_dbtp: float = -1.0
    limiter_lookahead_ms: float = 2.5
    limiter_release_ms: float = 80.0

    def __post_init__(self) -> None:
        if self.loudness_lufs == "":
            object.__setattr__(self, "loudness_lufs", None)
        unknown = sorted(set(self.outputs) - set(OUTPUTS))
        if unknown or "binaural" not in self.outputs:
            raise ValueError(f"delivery.outputs: {list(self.outputs)}; choose from "
                             f"{list(OUTPUTS)}, binaural included")
        if self.loudness_lufs is not None and not -70.0 < float(self.loudness_lufs) < 0.0:
            raise ValueError("delivery.loudness_lufs: a level in (-70, 0) LUFS, or empty")
        if self.true_peak_dbtp > 0.0:
            raise ValueError("delivery.true_peak_dbtp: at most 0 dBTP")
