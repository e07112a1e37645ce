"""Ultralytics YOLO detector with ByteTrack tracking, and training of our own weights.

Any Ultralytics detection model works (`yolo11n.pt` on a connected machine, an Open
Images model, a user's own); the project ships its own small model trained on frames
from the scene synthesizer, so every path here is the real Ultralytics one offline.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from binaural.io.outputs import file_sha256
from binaural.spatial.tracks import Detection
from models.config import DetectorConfig

log = logging.getLogger(__name__)

LETTERBOX_GREY = 114  # Ultralytics' letterbox fill
EMBED_BATCH = 32  # crops embedded per forward pass (bounds the crops held in memory)
MIN_CROP_PX = 4  # boxes narrower or lower than this are not embedded


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


class Detector:
    """A loaded detector as params `detector` configures it (weights, thresholds, tracker,
    threads, crop embedding); `track` runs the tracker over a stream of frames. `device`
    is a resolved one ("cpu", "cuda:0"; models.builders.resolve_device)."""

    def __init__(self, cfg: DetectorConfig, device: str = "cpu") -> None:
        import torch

        self.cfg, self.weights, self.device = cfg, cfg.weights, device
        _quiet_ultralytics()
        from ultralytics import YOLO

        torch.set_num_threads(cfg.threads)  # `import ultralytics` drops torch to 1 thread
        self.model = YOLO(self.weights, task="detect")
        self.names: dict[int, str] = dict(self.model.names)
        self.version = f"{Path(self.weights).name}@{weights_digest(self.weights)}"
        self.net = self.model.model  # the torch DetectionModel
        head = self.net.model[-1]
        if not hasattr(head, "f") or not isinstance(head.f, list):
            raise ValueError(f"{self.weights}: not a multi-level detection model; its crops "
                             "cannot be embedded")
        self._feature_layer = int(head.f[-1])  # the deepest level the Detect head reads
        self.embedding_source = (f"{self.version}/cls+p{self._feature_layer}-mean"
                                 f"@{self.cfg.embed_size}")
        self._embedding_dim: int | None = None

    def crop(self, rgb: np.ndarray, box: Sequence[float]) -> np.ndarray | None:
        """The box's crop letterboxed into embed_size x embed_size (uint8 RGB), or None for
        a box too small or outside the frame."""
        import cv2

        h, w = rgb.shape[:2]
        x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
        if x2 - x1 < MIN_CROP_PX or y2 - y1 < MIN_CROP_PX:
            return None
        piece = rgb[y1:y2, x1:x2]
        size = self.cfg.embed_size
        scale = size / max(piece.shape[:2])
        nw = max(1, round(piece.shape[1] * scale))
        nh = max(1, round(piece.shape[0] * scale))
        resized = cv2.resize(np.ascontiguousarray(piece), (nw, nh), interpolation=cv2.INTER_AREA)
        out = np.full((size, size, 3), LETTERBOX_GREY, np.uint8)
        top, left = (size - nh) // 2, (size - nw) // 2
        out[top:top + nh, left:left + nw] = resized
        return out

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Visual embeddings (n, n_classes + C) of letterboxed RGB crops: per class the
        highest score the detector gives anywhere in the crop, then the crop's mean of the
        deepest feature map its Detect head reads (C channels)."""
        import torch

        if not crops:
            return np.zeros((0, self.embedding_dim), np.float32)
        maps: list = []
        hook = self.net.model[self._feature_layer].register_forward_hook(
            lambda module, inputs, output: maps.append(output))
        try:
            param = next(self.net.parameters())
            x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)
            x = x.to(param.device, param.dtype) / 255.0
            self.net.eval()
            with torch.inference_mode():
                pred = self.net(x)
        finally:
            hook.remove()
        pred = pred[0] if isinstance(pred, (list, tuple)) else pred  # (n, 4 + nc, anchors)
        scores = pred[:, 4:, :].amax(dim=-1)
        pooled = maps[-1].mean(dim=(2, 3))
        return torch.cat([scores, pooled], dim=1).float().cpu().numpy()

    @property
    def embedding_dim(self) -> int:
        """n_classes + C: the length of embed()'s vectors."""
        if self._embedding_dim is None:
            blank = np.full((self.cfg.embed_size, self.cfg.embed_size, 3), LETTERBOX_GREY, np.uint8)
            self._embedding_dim = int(self.embed([blank]).shape[1])
        return self._embedding_dim

    def track(self, frames: Iterable[tuple[float, np.ndarray]]) -> list[Detection]:
        """Detect and track over (time_s, RGB frame) pairs, in time order.

        One detection per track every embed_every_s (at most embed_max per track) gets the
        visual embedding of its crop; crops are embedded in batches as they come, so at
        most EMBED_BATCH are held at a time.
        """
        detections: list[Detection] = []
        pending: list[tuple[int, np.ndarray]] = []  # (index in detections, crop)
        sampled: dict[int, tuple[float, int]] = {}  # track id -> (last sample time, count)

        def flush() -> None:
            if pending:
                vectors = self.embed([c for _, c in pending])
                for (i, _), v in zip(pending, vectors):
                    detections[i] = dataclasses.replace(detections[i], embedding=v)
                pending.clear()

        first = True
        for t, rgb in frames:
            result = self.model.track(
                rgb[..., ::-1],  # Ultralytics takes numpy images as BGR
                persist=not first,
                tracker=self.cfg.tracker,
                conf=self.cfg.conf,
                iou=self.cfg.iou,
                imgsz=self.cfg.imgsz,
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
                last_t, count = sampled.get(int(tid), (-np.inf, 0))
                if count < self.cfg.embed_max and t - last_t >= self.cfg.embed_every_s:
                    crop = self.crop(rgb, xyxy)
                    if crop is not None:
                        pending.append((len(detections) - 1, crop))
                        sampled[int(tid)] = (float(t), count + 1)
            if len(pending) >= EMBED_BATCH:
                flush()
        flush()
        return detections

    def detect(self, rgb: np.ndarray) -> list[tuple[str, float, tuple[float, ...]]]:
        """Plain detection on one RGB frame: (label, confidence, box)."""
        result = self.model.predict(
            rgb[..., ::-1], conf=self.cfg.conf, iou=self.cfg.iou, imgsz=self.cfg.imgsz,
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
