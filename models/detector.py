"""Ultralytics YOLO detector with ByteTrack tracking, and training of our own weights.

Any Ultralytics detection model works (`yolo11n.pt` on a connected machine, an Open
Images model, a user's own); the project ships its own small model trained on frames
from the scene synthesizer, so every path here is the real Ultralytics one offline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binaural.localize import Detection
from binaural.outputs import file_sha256

log = logging.getLogger(__name__)


def _quiet_ultralytics() -> None:
    """Keep Ultralytics from logging to stray MLflow stores or phoning home."""
    from ultralytics import settings

    settings.update(
        {"mlflow": False, "raytune": False, "sync": False, "tensorboard": False,
         "wandb": False, "clearml": False, "comet": False, "dvc": False}
    )


def weights_digest(path: str | Path) -> str:
    """Short content hash of a weights file ('unknown' for a hub name not on disk)."""
    return file_sha256(path)[:16] if Path(path).is_file() else "unknown"


@dataclass
class Detector:
    """A loaded detector; `track` runs the tracker over a stream of frames."""

    weights: str
    conf: float = 0.3
    iou: float = 0.5
    imgsz: int = 320
    tracker: str = "bytetrack.yaml"
    device: str = "cpu"
    threads: int = 2

    def __post_init__(self) -> None:
        import torch

        _quiet_ultralytics()
        from ultralytics import YOLO

        torch.set_num_threads(self.threads)  # `import ultralytics` drops torch to 1 thread
        self.model = YOLO(self.weights, task="detect")
        self.names: dict[int, str] = dict(self.model.names)
        self.version = f"{Path(self.weights).name}@{weights_digest(self.weights)}"

    def track(self, frames: Iterable[tuple[float, np.ndarray]]) -> list[Detection]:
        """Detect and track over (time_s, RGB frame) pairs, in time order."""
        detections: list[Detection] = []
        first = True
        for t, rgb in frames:
            result = self.model.track(
                rgb[..., ::-1],  # Ultralytics takes numpy images as BGR
                persist=not first,
                tracker=self.tracker,
                conf=self.conf,
                iou=self.iou,
                imgsz=self.imgsz,
                device=self.device,
                verbose=False,
            )[0]
            first = False
            boxes = result.boxes
            if boxes is None or boxes.id is None:
                continue
            for xyxy, cls, conf, tid in zip(
                boxes.xyxy.cpu().numpy(), boxes.cls.cpu().numpy(),
                boxes.conf.cpu().numpy(), boxes.id.cpu().numpy(),
            ):
                detections.append(
                    Detection(
                        t=float(t), track_id=int(tid), label=self.names[int(cls)],
                        confidence=float(conf), box=tuple(float(v) for v in xyxy),
                    )
                )
        return detections

    def detect(self, rgb: np.ndarray) -> list[tuple[str, float, tuple[float, ...]]]:
        """Plain detection on one RGB frame: (label, confidence, box)."""
        result = self.model.predict(
            rgb[..., ::-1], conf=self.conf, iou=self.iou, imgsz=self.imgsz,
            device=self.device, verbose=False,
        )[0]
        return [
            (self.names[int(c)], float(p), tuple(float(v) for v in b))
            for b, c, p in zip(
                result.boxes.xyxy.cpu().numpy(), result.boxes.cls.cpu().numpy(),
                result.boxes.conf.cpu().numpy(),
            )
        ]


def train(
    data_yaml: str | Path,
    model_yaml: str | Path,
    out_dir: str | Path,
    epochs: int,
    imgsz: int,
    batch: int,
    seed: int,
    workers: int = 0,
    device: str = "cpu",
    threads: int = 2,
) -> tuple[Path, dict[str, float]]:
    """Train a YOLO from its model yaml; returns the best weights and validation metrics."""
    import torch

    _quiet_ultralytics()
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    out_dir = Path(out_dir).resolve()
    model = YOLO(str(model_yaml), task="detect")
    model.train(
        data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
        workers=workers, device=device, project=str(out_dir), name="train", exist_ok=True,
        plots=False, verbose=False, amp=False, deterministic=True, pretrained=False,
        mosaic=0.5, close_mosaic=max(1, epochs // 5), patience=max(10, epochs),
        warmup_epochs=1,
    )
    best = out_dir / "train" / "weights" / "best.pt"
    metrics = evaluate(best, data_yaml, imgsz, device)
    return best, metrics


def evaluate(weights: str | Path, data_yaml: str | Path, imgsz: int, device: str = "cpu"):
    """mAP50 / mAP50-95 / precision / recall on the dataset's validation split."""
    _quiet_ultralytics()
    from ultralytics import YOLO

    res = YOLO(str(weights), task="detect").val(
        data=str(data_yaml), imgsz=imgsz, device=device, plots=False, verbose=False,
        workers=0, batch=16,
    )
    return {
        "mAP50": float(res.box.map50),
        "mAP50_95": float(res.box.map),
        "precision": float(res.box.mp),
        "recall": float(res.box.mr),
    }
