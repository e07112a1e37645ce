"""params.yaml -> typed Params. The only place that reads YAML.

Each section's dataclass lives next to its users (binaural.io.config, binaural.spatial.config,
binaural.eval.config, binaural.synth.config, models.config, tasks.config); Params gathers
them, one field per params.yaml section (one per DVC stage or pipeline part).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from binaural.delivery.config import DeliveryConfig
from binaural.eval.config import EvaluateConfig
from binaural.io.config import SceneConfig
from binaural.io.resources import is_package_spec
from binaural.spatial.config import LocalizeConfig, RenderConfig
from binaural.synth.config import (
    DetectorDataConfig,
    GeneratorDataConfig,
    PrepareConfig,
    RealFootageConfig,
    SampleConfig,
    SynthConfig,
)
from flows.environment import PROJECT_ROOT
from models.config import DetectorConfig, GeneratorConfig, TrainConfig, TrainDetectorConfig
from tasks.config import RemasterConfig

DEFAULT_PARAMS = PROJECT_ROOT / "params.yaml"


@dataclass(frozen=True)
class Params:
    """All sections of params.yaml."""

    scene: SceneConfig = field(default_factory=SceneConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    localize: LocalizeConfig = field(default_factory=LocalizeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    detector_data: DetectorDataConfig = field(default_factory=DetectorDataConfig)
    train_detector: TrainDetectorConfig = field(default_factory=TrainDetectorConfig)
    remaster: RemasterConfig = field(default_factory=RemasterConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    generator_data: GeneratorDataConfig = field(default_factory=GeneratorDataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    real_footage: RealFootageConfig = field(default_factory=RealFootageConfig)


def section_from_mapping(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Build a config dataclass from a mapping, refusing unknown keys.

    Lists become tuples where the field's default is a tuple, so configs stay hashable
    and comparable.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        f = known[name]
        default = (f.default if f.default is not dataclasses.MISSING else
                   f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if dataclasses.is_dataclass(default) and isinstance(value, Mapping):  # a subsection
            value = section_from_mapping(type(default), value, f"{where}.{name}")
        if isinstance(default, tuple) and isinstance(value, list):
            if default and dataclasses.is_dataclass(default[0]):  # a list of sections
                value = [section_from_mapping(type(default[0]), v, f"{where}.{name}[{i}]")
                         for i, v in enumerate(value)]
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _legacy_detector(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """`detector.weights: X` (one detector, every label) as `detector.models`."""
    if "weights" not in values:
        return values
    if "models" in values:
        raise ValueError("detector: `weights` and `models` both given; list the weights "
                         "under `models`")
    rest = {k: v for k, v in values.items() if k != "weights"}
    return rest | {"models": [{"weights": values["weights"]}]}


def params_from_mapping(data: Mapping[str, Any], where: str = "params") -> Params:
    """Build Params from a parsed params.yaml mapping."""
    fields = {f.name: f for f in dataclasses.fields(Params)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown}")
    kwargs = {}
    for name in fields:
        section_cls = type(getattr(Params(), name))
        values = data.get(name) or {}
        if name == "detector":
            values = _legacy_detector(values)
        kwargs[name] = section_from_mapping(section_cls, values, f"{where}:{name}")
    return Params(**kwargs)


def load_params(path: str | Path | None = None) -> Params:
    """Read params.yaml (default: the project's); relative model/data paths in it are
    resolved against the project root so commands work from any directory."""
    path = Path(path or DEFAULT_PARAMS)
    data = yaml.safe_load(path.read_text()) or {}
    params = params_from_mapping(data, where=str(path))
    return resolve_paths(params, path.resolve().parent)


def resolve_paths(params: Params, base: Path) -> Params:
    def fix(p: str) -> str:
        if not p:
            return p
        candidate = base / p
        return str(candidate) if not Path(p).is_absolute() and candidate.exists() else p

    def head(p: str) -> str:
        """A head spec: `pkg:<package>/<file>` (as the synthesizer's heads are named) to
        its file; one that does not resolve stays as it is, for with_head's check to name."""
        from binaural.spatial.heads import resolve_hrtf

        if not is_package_spec(p):
            return fix(p)
        try:
            return str(resolve_hrtf(p))
        except FileNotFoundError:
            return p

    return replace(
        params,
        detector=replace(params.detector, models=tuple(
            replace(m, weights=fix(m.weights)) for m in params.detector.models)),
        localize=replace(params.localize, associate=replace(
            params.localize.associate, model=fix(params.localize.associate.model),
            activity_model=fix(params.localize.associate.activity_model))),
        render=replace(params.render, hrtf=head(params.render.hrtf),
                       activity_model=fix(params.render.activity_model),
                       reverb_model=fix(params.render.reverb_model),
                       separation_model=fix(params.render.separation_model)),
        synth=replace(params.synth, hrtf=fix(params.synth.hrtf)),
        train_detector=replace(params.train_detector, model=fix(params.train_detector.model),
                               init=fix(params.train_detector.init)),
        generator=replace(params.generator, model=fix(params.generator.model)),
        detector_data=replace(params.detector_data,
                              mine_weights=fix(params.detector_data.mine_weights)),
        train=replace(params.train, init=fix(params.train.init),
                      share_folds=tuple(fix(p) for p in params.train.share_folds),
                      detected_tracks=fix(params.train.detected_tracks)),
    )


def with_head(params: Params, hrtf: str | None) -> Params:
    """params with render.hrtf set to `hrtf` (when given: a SOFA file, or
    `pkg:<package>/<file>`, a head shipped in a Python package), checked by reading it here
    so a bad file fails with one line before any worker starts (not resampled: that needs
    scipy.signal, ~1 s of imports in the driver; the workers load it).

    Raises:
        FileNotFoundError, ValueError: binaural.hrtf.check_sofa's (or the package
            resolver's), naming the file.
    """
    from binaural.spatial.heads import resolve_hrtf
    from binaural.spatial.hrtf import check_sofa

    if hrtf:
        path = resolve_hrtf(hrtf) if is_package_spec(hrtf) else Path(hrtf).resolve()
        params = replace(params, render=replace(params.render, hrtf=str(path)))
    check_sofa(params.render.hrtf)
    return params


def with_overrides(params: Params, model: str | None, hrtf: str | None) -> Params:
    """params as a remaster runs them: generator.model set to `model` (when given: "dsp",
    a checkpoint or models:/NAME@ALIAS), then with_head(`hrtf`) (which checks the head).
    One derivation for the flow and for whoever starts its actors ahead of it."""
    if model:
        params = replace(params, generator=replace(params.generator, model=model))
    return with_head(params, hrtf)
