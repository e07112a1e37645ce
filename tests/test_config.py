"""params.yaml -> typed config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from flows.params import DEFAULT_PARAMS, Params, load_params, params_from_mapping


def test_every_key_of_params_yaml_reaches_its_typed_section():
    """Each value written in params.yaml is the value of its dataclass field (lists as
    tuples), and each section of params.yaml is a field of Params: nothing is dropped or
    read under another name."""
    raw = yaml.safe_load(DEFAULT_PARAMS.read_text())
    params = load_params()
    assert set(raw) == {f.name for f in dataclasses.fields(Params)}
    resolved_paths = {("render", "hrtf"), ("render", "activity_model"),
                      ("render", "reverb_model"), ("render", "separation_model"),
                      ("synth", "hrtf"), ("train_detector", "model"),
                      ("train_detector", "init"), ("generator", "model"), ("train", "init"),
                      ("detector_data", "mine_weights")}
    for section, values in raw.items():
        typed = getattr(params, section)
        for key, value in (values or {}).items():
            got = getattr(typed, key)
            if isinstance(value, list) and value and isinstance(value[0], dict):  # sections
                assert len(got) == len(value)
                for model, raw_model in zip(got, value):
                    for name, v in raw_model.items():
                        got_v = getattr(model, name)
                        assert (str(got_v).endswith(v) if name == "weights" else got_v == v)
            elif dataclasses.is_dataclass(got):  # a subsection (localize.associate)
                for name, v in value.items():
                    got_v = getattr(got, name)
                    assert (str(got_v).endswith(v) if name.endswith("model") else got_v == v)
            elif (section, key) in resolved_paths:
                assert str(got).endswith(str(value)), (section, key)
            elif isinstance(value, list):
                assert got == tuple(tuple(v) if isinstance(v, list) else v for v in value)
            else:
                assert got == value, (section, key)


def test_unknown_keys_and_sections_are_refused():
    with pytest.raises(ValueError, match="unknown keys"):
        params_from_mapping({"scene": {"fsp": 5}})
    with pytest.raises(ValueError, match="unknown sections"):
        params_from_mapping({"scenes": {}})


def test_an_empty_file_gives_the_defaults_and_bad_values_are_refused():
    assert params_from_mapping({}) == Params()
    with pytest.raises(ValueError, match="generator.sampler"):
        params_from_mapping({"generator": {"sampler": "ddpm"}})
    with pytest.raises(ValueError, match="synth.room"):
        params_from_mapping({"synth": {"room": "cathedral"}})


def test_configs_are_frozen_and_hashable():
    params = load_params()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.scene.fps = 10  # type: ignore[misc]
    hash(params.evaluate)  # YAML lists became tuples


def test_model_and_data_paths_resolve_against_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # another working directory
    params = load_params()
    own = [m.weights for m in params.detector.models if not m.weights.startswith("pkg:")]
    for path in (*own, params.generator.model, params.train.init,
                 params.render.activity_model):
        assert path.startswith("/") and Path(path).is_file(), path


def test_detectors_are_a_list_and_the_former_single_weights_key_still_reads():
    params = params_from_mapping({"detector": {"models": [
        {"weights": "a.pt", "classes": {"person": "person"}, "imgsz": 640},
        {"weights": "b.pt", "embed": True}]}})
    models = params.detector.models
    assert [m.weights for m in models] == ["a.pt", "b.pt"]
    assert models[0].classes == {"person": "person"} and models[0].imgsz == 640
    assert params.detector.embed_index == 1
    legacy = params_from_mapping({"detector": {"weights": "yolo11n.pt", "conf": 0.4}}).detector
    assert [(m.weights, dict(m.classes)) for m in legacy.models] == [("yolo11n.pt", {})]
    assert legacy.conf == 0.4 and legacy.embed_index == 0
    with pytest.raises(ValueError, match="unknown keys"):
        params_from_mapping({"detector": {"models": [{"weights": "a.pt", "clases": {}}]}})
    with pytest.raises(ValueError, match="embed"):
        params_from_mapping({"detector": {"models": [{"weights": "a.pt", "embed": True},
                                                     {"weights": "b.pt", "embed": True}]}})
