"""params.yaml -> typed config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from flows.params import Params, load_params, params_from_mapping


def test_project_params_load_into_every_section():
    params = load_params()
    assert isinstance(params, Params)
    assert params.scene.sample_rate == 48000
    assert params.evaluate.itd_band_hz == (150.0, 1500.0)
    assert params.localize.class_map["person"] == "person"
    for f in dataclasses.fields(Params):
        assert dataclasses.is_dataclass(getattr(params, f.name))


def test_unknown_keys_and_sections_are_refused():
    with pytest.raises(ValueError, match="unknown keys"):
        params_from_mapping({"scene": {"fsp": 5}})
    with pytest.raises(ValueError, match="unknown sections"):
        params_from_mapping({"scenes": {}})


def test_configs_are_frozen():
    params = load_params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.scene.fps = 10  # type: ignore[misc]


def test_model_and_data_paths_resolve_against_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # another working directory
    params = load_params()
    for path in (params.detector.weights, params.generator.model, params.train.init,
                 params.render.activity_model):
        assert path.startswith("/") and Path(path).is_file(), path
