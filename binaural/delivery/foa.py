"""The ambisonic deliverables of one video: <name>.foa.wav and <name>.foa.mp4.

The FOA track is encoded from the mono along the same tracks, with the same shares,
activity gate and direct/diffuse split as the binaural render (binaural.spatial.ambisonics). Its
loudness is that of W (the omni component, which carries the mono's energy) measured as
the input is, one channel on both ears, delivered at the binaural's target under the same
true-peak ceiling (all four channels limited together, so the directions are kept). The
MP4 holds the video stream copied and the 4-channel AAC track tagged with the SA3D box.
"""

from __future__ import annotations

from pathlib import Path

from binaural.delivery.loudness import Limiter, master_wav
from binaural.io.audio import iter_wav, write_wav_stream
from binaural.io.config import SceneConfig
from binaural.io.outputs import atomic_path
from binaural.io.spatial_media import tag_ambisonic
from binaural.io.video import iter_audio, remux
from binaural.spatial.ambisonics import FOA_CHANNELS, build_foa_spatializer
from binaural.spatial.config import RenderConfig
from binaural.spatial.hrtf import HRTFSet
from binaural.spatial.render import drain
from binaural.spatial.tracks import SourceTrack

FOA_TITLE = "ambisonics (AmbiX: ACN, SN3D)"
# W alone, as the mono is measured: one channel heard on both ears (BS.1770 dual mono).
W_AS_DUAL_MONO = (2.0, 0.0, 0.0, 0.0)


def write_foa_outputs(video: str | Path, tracks: list[SourceTrack], hrtf: HRTFSet,
                      dest_dir: str | Path, name: str, scene: SceneConfig,
                      render: RenderConfig, target_lufs: float | None, limiter: Limiter
                      ) -> dict:
    """Encode, master and mux the FOA deliverables; returns their report entry."""
    dest_dir = Path(dest_dir)
    sr, chunk = scene.sample_rate, int(scene.chunk_s * scene.sample_rate)
    raw = dest_dir / f".{name}.unmastered.foa.wav"
    wav, mp4 = dest_dir / f"{name}.foa.wav", dest_dir / f"{name}.foa.mp4"
    encoder = build_foa_spatializer(hrtf, tracks, render, sr)
    try:
        write_wav_stream(raw, drain(encoder, iter_audio(video, sr, scene.chunk_s)), sr,
                         channels=FOA_CHANNELS)
        loud = master_wav(raw, wav, target_lufs, limiter, chunk, W_AS_DUAL_MONO)
    finally:
        raw.unlink(missing_ok=True)
    untagged = dest_dir / f".{name}.untagged.foa.mp4"
    try:
        with atomic_path(untagged) as tmp:
            remux(video, iter_wav(wav, chunk), tmp, sr, channels=FOA_CHANNELS,
                  title=FOA_TITLE, keep_original=False)
        tag_ambisonic(untagged, mp4, channels=FOA_CHANNELS, order=1)
    finally:
        untagged.unlink(missing_ok=True)
    return {"format": "AmbiX (ACN, SN3D), order 1", "wav": wav.name, "mp4": mp4.name,
            "loudness_measured_on": "W as dual mono", "gain_db": loud["gain_db"],
            "w_lufs": loud["output_lufs"], "true_peak_dbtp": loud["output_true_peak_dbtp"],
            "limiter_max_reduction_db": loud["limiter_max_reduction_db"],
            "diffuse": "decorrelated" if render.reverb else "none (reverb off)"}
