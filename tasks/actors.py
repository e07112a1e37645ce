"""Ray actors that load their models once and serve many videos.

One kind of actor, `ItemWorker`, holds both the detector and the renderer's models: an
item is localized and rendered in the same process, one call. Two pools (detector and
renderer actors apart) cost a process each per worker: a Ray worker's start and
`import torch` twice (~1.7 s of CPU), and on a machine with as many cores as workers the
detector pool was the bottleneck while the renderers waited. Thin glue: each method
forwards paths and small records to binaural.pipeline.stages.
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


class ItemWorker:
    """A detector and a renderer (DetectorWorker, RendererWorker) in one process: one
    `remaster` call localizes, renders, evaluates and writes one video."""

    def __init__(self, params, model: str = "dsp", label: str | None = None):
        self.detector = DetectorWorker(params.detector, params.scene, params.localize)
        self.renderer = RendererWorker(params.render, params.scene, params.evaluate,
                                       params.generator, model, label, params.delivery,
                                       params.remaster.progress_every_s)

    def localize(self, path: str, source: str | None = None):
        return self.detector.localize(path, source)

    def render(self, path: str, loc, dest_dir: str, name: str, reference: str | None,
               source: str | None = None, lineage: dict | None = None):
        return self.renderer.render(path, loc, dest_dir, name, reference, source, lineage)

    def fetch(self, src_uri: str, key: str, local: str) -> str:
        """Download SRC's `key` into this node's work folder; its SHA-256 back."""
        from tasks.items import fetch

        return fetch(src_uri, key, local)

    def publish(self, stage_dir: str, name: str, dest_uri: str, prefix: str) -> dict:
        """Publish the staged outputs atomically under DEST/<prefix>/; checksums back."""
        from tasks.items import publish_outputs

        return publish_outputs(stage_dir, name, dest_uri, prefix)

    def discard(self, work_dir: str) -> None:
        """Remove an item's work folder on this node."""
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)

    def remaster(self, path: str, dest_dir: str, name: str, reference: str | None,
                 source: str | None = None, lineage: dict | None = None):
        """Localize then render one video (its report back)."""
        loc = self.localize(path, source)
        return self.render(path, loc, dest_dir, name, reference, source, lineage)

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


def start_workers(params, actors: int, model: str = "dsp", label: str | None = None) -> list:
    """Create `actors` ItemWorker actors; returns their handles. `model`/`label`: the
    generator they load (flows.registry.resolve_model)."""
    cfg = params.remaster
    # Every actor must fit at once, or a restarted actor waits forever for a CPU that a
    # pending one took: share the cluster's CPUs when the pool would oversubscribe it.
    cpus = min(cfg.cpus_per_actor, ray.cluster_resources().get("CPU", 1.0) / actors)
    # The detector takes a GPU share when present, and so does the diffusion generator.
    worker_cls = ray.remote(ItemWorker).options(
        **actor_options(cpus, cfg.gpus_per_actor, cfg.max_restarts, cfg.max_task_retries))
    return [worker_cls.remote(params, model, label) for _ in range(actors)]
