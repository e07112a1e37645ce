"""One builder from typed config to loaded objects: the device policy, the detector and
the generator. Ray actors (tasks/actors.py), the evaluation and the retraining flows
all build through here, so they share one device policy and one set of checks.

Registry URIs (models:/NAME@ALIAS) are resolved to a local checkpoint by the flow
(flows.registry.resolve_model) before anything here is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models.config import DetectorConfig, GeneratorConfig

if TYPE_CHECKING:  # the renderer's modules (scipy.signal...) stay out of detector actors
    from binaural.spatial.config import RenderConfig
    from binaural.spatial.generator import Generator
    from binaural.spatial.hrtf import HRTFSet

DSP = "dsp"  # the generator spec that names the DSP renderer alone


def resolve_device(requested: str) -> str:
    """'auto' -> the first GPU torch sees, else the CPU; anything else as given. Inside a
    Ray actor torch sees exactly the GPUs Ray assigned to it (none: the CPU)."""
    if requested != "auto":
        return requested
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def build_detector(cfg: DetectorConfig):
    """The Ultralytics detectors of params `detector` on their resolved device.

    Raises:
        FileNotFoundError: weights named by a path or a package that does not exist (a
            bare hub name such as yolo11n.pt is left to Ultralytics).
    """
    from models.detector import Detector, resolve_weights

    for model in cfg.models:
        try:
            resolve_weights(model.weights)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{exc} (train our own with `binaural train-detector`, "
                                    "install the package, or name other weights in params "
                                    "detector.models)") from exc
    return Detector(cfg, resolve_device(cfg.device))


def build_generator(spec: str, hrtf: HRTFSet, render: RenderConfig,
                    generator: GeneratorConfig, label: str | None = None) -> Generator:
    """The generator a spec names: "dsp" (the renderer alone) or a local checkpoint;
    `label` names the registry version the checkpoint was resolved from ("NAME/v3").

    Raises:
        FileNotFoundError: a checkpoint path that does not exist.
    """
    from binaural.spatial.generator import DSPGenerator

    if spec == DSP:
        return DSPGenerator(hrtf, render)
    if not Path(spec).is_file():
        raise FileNotFoundError(f"{spec}: generator checkpoint not found (or use --model dsp)")
    from models.generator import load_diffusion_generator

    return load_diffusion_generator(spec, resolve_device(generator.device), hrtf, render,
                                    generator, label)
