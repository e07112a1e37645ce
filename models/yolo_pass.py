"""One Ultralytics YOLO's detection pass on a frame, without Ultralytics' predictor.

The predictor's own steps, done directly: letterbox (Ultralytics' LetterBox, rectangular
as the predictor makes it for a .pt model), BGR -> RGB, / 255, the fused network, NMS
(Ultralytics' non_max_suppression) and the boxes scaled back to the frame. What is left
out: the predictor's bookkeeping (~2-3 ms a call), its warm-up, which imports torchvision
only for its NMS kernel (and torchvision imports torch._dynamo: ~1.4 s CPU in every
detector process), and a pose model's keypoints (~10 % of its network; only boxes are
used here). Without torchvision Ultralytics runs its own torch NMS, the same algorithm.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Sequence

import numpy as np

MAX_DET = 300  # Ultralytics' predict default


def _float_decode(head, x: dict):
    """A Detect head's box decoding in fp32 outside autocast (bf16 holds only 8 bits, so
    decoded pixel coordinates would snap to 2-4 px steps at 640); a pose head's keypoints,
    when not computed, are left out."""
    import torch
    from ultralytics.nn.modules.head import Detect

    with torch.autocast(x["boxes"].device.type, enabled=False):
        x = {k: v.float() if torch.is_tensor(v) else [f.float() for f in v]
             for k, v in x.items()}
        if "kpts" in x or not hasattr(head, "kpt_shape"):
            return type(head)._inference(head, x)
        return Detect._inference(head, x)


class YoloPass:
    """Boxes of one Ultralytics detection or pose model on BGR frames.

    The network is a private fused copy (the caller's model, whose features may embed
    crops, is left as it is), in channels-last memory; `precision` "bf16" runs it under
    autocast with the boxes decoded in fp32.
    """

    def __init__(self, yolo, imgsz: int, conf: float, iou: float, device: str,
                 precision: str = "fp32", scaleup: bool = True) -> None:
        import torch
        from ultralytics.data.augment import LetterBox
        from ultralytics.utils.checks import check_imgsz

        net = copy.deepcopy(yolo.model).to(device).float().eval()
        for p in net.parameters():
            p.requires_grad = False
        self.net = net.fuse(verbose=False).to(memory_format=torch.channels_last)
        head = self.net.model[-1]
        self.end2end = bool(getattr(head, "end2end", False))
        if hasattr(head, "cv4") and hasattr(head, "kpt_shape") and not self.end2end:
            head.cv4 = None  # keypoints: not computed
        if hasattr(type(head), "_inference"):
            head._inference = types.MethodType(_float_decode, head)
        stride = max(int(self.net.stride.max()), 32)
        size = check_imgsz(imgsz, stride=stride, min_dim=2)
        # scaleup False: a smaller image is padded, not enlarged (the caller sized it)
        self.letterbox = LetterBox(size, auto=True, stride=stride, scaleup=scaleup)
        self.nc = 0 if getattr(yolo, "task", "detect") == "detect" else len(yolo.names)
        self.conf, self.iou, self.device, self.precision = conf, iou, device, precision

    def __call__(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, 4) x1 y1 x2 y2 pixels of the frame, (n,) confidences, (n,) class indices,
        highest confidence first."""
        return self.many([bgr])[0]

    def many(self, bgrs: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """__call__'s result for each frame, the frames of one size passed through the
        network together (a video's frames: one pass)."""
        out: list = [None] * len(bgrs)
        by_shape: dict[tuple, list[int]] = {}
        for i, bgr in enumerate(bgrs):
            by_shape.setdefault(bgr.shape, []).append(i)
        for indices in by_shape.values():
            for i, found in zip(indices, self._same_size([bgrs[i] for i in indices])):
                out[i] = found
        return out

    def _same_size(self, bgrs: Sequence[np.ndarray]) -> list:
        import torch
        from ultralytics.utils import nms, ops

        im = np.stack([self.letterbox(image=bgr) for bgr in bgrs])
        x = torch.from_numpy(im).to(self.device).permute(0, 3, 1, 2)
        x = x.contiguous().flip(1).float().div_(255)  # BGR -> RGB, as the predictor does
        with torch.inference_mode(), torch.autocast(
                torch.device(self.device).type, dtype=torch.bfloat16,
                enabled=self.precision == "bf16"):
            preds = self.net(x)
        dets = nms.non_max_suppression(preds, self.conf, self.iou, max_det=MAX_DET,
                                       nc=self.nc, end2end=self.end2end)
        found = []
        for bgr, det in zip(bgrs, dets):
            boxes = ops.scale_boxes(x.shape[2:], det[:, :4].clone(), bgr.shape)
            found.append((boxes.cpu().numpy(), det[:, 4].cpu().numpy(),
                          det[:, 5].cpu().numpy().astype(int)))
        return found
