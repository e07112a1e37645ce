"""Cheap frames for motion analysis: grey, downscaled by the decoder's scaler, as shown.

The association's second pass over a video (binaural.spatial.association) needs only the
frame-to-frame change of small grey pictures; converting and scaling inside the decoder
keeps that pass cheap, and nothing is kept but the current frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from av.video.reformatter import VideoReformatter

from binaural.io.damage import Damage
from binaural.io.video import _display_size, _quarter_turns, sampled_frames


def iter_grey_frames(path: str | Path, fps: float, width: int,
                     damage: Damage | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Frames sampled at about `fps` as (time_s, grey float32 (h, w)) of the picture as
    shown (sample aspect and display rotation applied), the shown width scaled to at most
    `width` pixels. Undecodable packets are skipped (recorded in `damage` when given)."""
    reformatter = VideoReformatter()  # one scaler for the stream, not one per frame
    for t, frame, sar in sampled_frames(path, fps, damage):
        turns = _quarter_turns(frame.rotation)
        shown_w, shown_h = _display_size(frame.width, frame.height, sar, turns * 90)
        scale = min(1.0, width / shown_w)
        w, h = max(2, round(shown_w * scale)), max(2, round(shown_h * scale))
        if turns % 2:  # scale the stored picture, then turn it to the shown one
            w, h = h, w
        grey = reformatter.reformat(frame, width=w, height=h, format="gray").to_ndarray()
        grey = grey.astype(np.float32)
        yield t, np.ascontiguousarray(np.rot90(grey, k=turns)) if turns else grey
