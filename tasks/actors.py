"""Ray actors that load a model once and serve many videos.

Thin glue: each method forwards paths and small records to binaural.pipeline.stages.
"""

from __future__ import annotations

import ray

from binaural.delivery.config import DeliveryConfig
from binaural.eval.config import EvaluateConfig
from binaural.io.config import SceneConfig
from binaural.spatial.config import LocalizeConfig, RenderConfig
from models.config import DetectorConfig, GeneratorConfig


class DetectorWorker:
    """Holds one Ultralytics detector; localizes the sources of one video per call."""

    def __init__(self, detector: DetectorConfig, scene: SceneConfig, localize: LocalizeConfig):
        from models.builders import build_detector

        self.detector = build_detector(detector)
        self.scene, self.localize_cfg = scene, localize

    def localize(self, path: str, source: str | None = None):
        """`source` (the archive key or URI) names the video in warnings."""
        from binaural.spatial.localization import localize_video
        from tasks.lineage import worker_lineage

        # A fresh tracker state per video: persist=False on the first frame.
        loc = localize_video(path, self.detector, self.scene, self.localize_cfg, source)
        loc.lineage = worker_lineage()
        return loc

    def pid(self) -> int:
        import os

        return os.getpid()


class RendererWorker:
    """Holds the HRTF set and the generator (loaded once); generates, evaluates and
    writes the outputs of one video. `model` is "dsp" (the renderer alone) or a local
    checkpoint path (a registry URI is resolved by the flow: `label` is its "NAME/vN")."""

    def __init__(self, render: RenderConfig, scene: SceneConfig, evaluate: EvaluateConfig,
                 generator: GeneratorConfig | None = None, model: str = "dsp",
                 label: str | None = None, delivery: DeliveryConfig | None = None,
                 progress_every_s: float = 60.0):
        from binaural.spatial.hrtf import load_sofa
        from models.builders import build_generator

        self.progress_every_s = progress_every_s

        self.hrtf = load_sofa(render.hrtf, scene.sample_rate)
        self.render_cfg, self.scene, self.evaluate = render, scene, evaluate
        self.delivery = delivery or DeliveryConfig()

        self.generator = build_generator(model, self.hrtf, render, generator or GeneratorConfig(),
                                         label)

    def render(self, path: str, loc, dest_dir: str, name: str, reference: str | None,
               source: str | None = None, lineage: dict | None = None):
        """`source` (the archive key or URI) names the video in the report; `lineage` (the
        run's code version...) joins the workers' in it."""
        from binaural.pipeline.stages import render_video, write_report
        from tasks.lineage import worker_lineage
        from tasks.scheduling import ProgressLog

        progress = ProgressLog(source or name, loc.info.duration_s, self.progress_every_s)
        lineage = (lineage or {}) | {"detector": loc.lineage, "renderer": worker_lineage()}
        report = render_video(path, loc, self.generator, dest_dir, name, self.scene,
                              self.evaluate, reference, source, delivery=self.delivery,
                              hrtf=self.hrtf, render=self.render_cfg, lineage=lineage,
                              progress=progress)
        write_report(dest_dir, report)
        return report

    def pid(self) -> int:
        import os

        return os.getpid()


def actor_options(cpus: float, gpus: float, max_restarts: int, max_task_retries: int) -> dict:
    """Ray options: restart a dead actor and retry its calls (not on app errors); spread
    the pools over the cluster's nodes (a lost node then takes a share, not all)."""
    options = {"num_cpus": cpus, "max_restarts": max_restarts,
               "max_task_retries": max_task_retries, "scheduling_strategy": "SPREAD"}
    if gpus > 0 and ray.cluster_resources().get("GPU", 0) > 0:
        options["num_gpus"] = gpus
    return options


def start_pools(params, actors: int, model: str = "dsp", label: str | None = None):
    """Create `actors` detector and renderer actors; returns two lists of handles.
    `model`/`label`: the generator the renderers load (flows.registry.resolve_model)."""
    cfg = params.remaster
    retry = (cfg.max_restarts, cfg.max_task_retries)
    # Every actor must fit at once, or a restarted actor waits forever for a CPU that a
    # pending one took: share the cluster's CPUs when the pools would oversubscribe it.
    cpus = min(cfg.cpus_per_actor, ray.cluster_resources().get("CPU", 1.0) / (2 * actors))
    detector_cls = ray.remote(DetectorWorker).options(
        **actor_options(cpus, cfg.gpus_per_actor, *retry))
    # The DSP renderer is CPU only; the diffusion generator takes a GPU share when present.
    renderer_gpus = 0.0 if model == "dsp" else cfg.gpus_per_actor
    renderer_cls = ray.remote(RendererWorker).options(
        **actor_options(cpus, renderer_gpus, *retry))
    detectors = [detector_cls.remote(params.detector, params.scene, params.localize)
                 for _ in range(actors)]
    renderers = [renderer_cls.remote(params.render, params.scene, params.evaluate,
                                     params.generator, model, label, params.delivery,
                                     cfg.progress_every_s)
                 for _ in range(actors)]
    return detectors, renderers
