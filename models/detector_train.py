"""Training and validation of our own YOLO weights (Ultralytics), for the DVC stage
train_detector (flows/train_detector.py)."""

from __future__ import annotations

from pathlib import Path

from models.detector import quiet_ultralytics


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
    init: str | Path = "",
    lr0: float = 0.0,
) -> tuple[Path, dict[str, float]]:
    """Train a YOLO from its model yaml, from random weights or fine-tuned from the
    weights `init` (lr0 > 0: AdamW from lr0, the warm-up bias rate too; 0: Ultralytics'
    automatic optimizer); returns the best weights and validation metrics."""
    import torch

    quiet_ultralytics()
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    out_dir = Path(out_dir).resolve()
    model = YOLO(str(model_yaml), task="detect")
    model.train(
        data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed,
        workers=workers, device=device, project=str(out_dir), name="train", exist_ok=True,
        plots=False, verbose=False, amp=False, deterministic=True,
        pretrained=str(init) if init else False,
        mosaic=0.5, close_mosaic=max(1, epochs // 5), patience=max(10, epochs),
        warmup_epochs=1,
        **({"optimizer": "AdamW", "lr0": lr0, "warmup_bias_lr": lr0} if lr0 > 0 else {}),
    )
    best = out_dir / "train" / "weights" / "best.pt"
    metrics = evaluate(best, data_yaml, imgsz, device)
    return best, metrics


def evaluate(weights: str | Path, data_yaml: str | Path, imgsz: int, device: str = "cpu"):
    """mAP50 / mAP50-95 / precision / recall on the dataset's validation split."""
    quiet_ultralytics()
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
