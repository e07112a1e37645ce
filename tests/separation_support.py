"""Hand-made separation models for the tests (binaural.spatial.separation)."""

import numpy as np

from binaural.spatial.gate import N_MELS
from binaural.spatial.scene_render import load_separation_model
from binaural.spatial.separation import SeparationModel, cell_features

CLASSES = ("person", "piano")


def constant_separation_model(bias: np.ndarray) -> SeparationModel:
    """A model over CLASSES whose logits (C, M) are `bias` whatever the audio."""
    d = cell_features(np.zeros((3, N_MELS))).shape[1]
    layers = ((np.zeros((d, 4)), np.zeros(4)), (np.zeros((4, bias.size)), bias.reshape(-1)))
    return SeparationModel(CLASSES, np.zeros(d), np.ones(d), layers)


def saved_separation_model(tmp_path, bias: np.ndarray) -> str:
    """constant_separation_model(bias) saved under tmp_path; the loader's cache cleared."""
    path = tmp_path / f"sep{abs(hash(bias.tobytes()))}.npz"
    constant_separation_model(bias).save(path)
    load_separation_model.cache_clear()
    return str(path)
