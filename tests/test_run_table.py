"""MLflow at archive scale: aggregates as the run's metrics, one table row per clip."""

from __future__ import annotations

import numpy as np
import pytest

from flows.params import load_params
from flows.run_table import aggregates, clip_rows

ITEMS = 200
FAILED = 7


def _items(n: int = ITEMS, failed: int = FAILED) -> list[dict]:
    """Summary lines shaped as tasks.items.process_item returns them."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        key = f"reel_{i // 50:02d}/clip_{i:04d}.mp4"
        if i < failed:
            items.append({"key": key, "name": key[:-4].replace("/", "__"), "status": "failed",
                          "error": f"{key}: no audio stream", "transient": False})
            continue
        metrics = {"collapse_score_db": float(rng.normal(-12, 3)),
                   "agreement_with_detection_deg": float(abs(rng.normal(8, 4))),
                   "agreement_with_detection_deg_mean": float(abs(rng.normal(10, 4))),
                   "agreement_windows": int(rng.integers(10, 100))}
        report = {"name": key, "duration_s": 30.0, "metrics": metrics,
                  "warnings": ["stereo mixed to mono"] if i % 10 == 0 else [],
                  "loudness": {"input_lufs": -20.0, "output_lufs": -20.1,
                               "output_true_peak_dbtp": -1.2, "limiter_max_reduction_db": 0.0}}
        items.append({"key": key, "name": key[:-4].replace("/", "__"), "status": "done",
                      "seconds": 12.0, "report": report})
    items.append({"key": "old.mp4", "name": "old", "status": "skipped",
                  "reason": "done earlier"})
    return items


def test_aggregates_are_medians_and_p90s():
    rows = clip_rows(_items())
    assert len(rows) == ITEMS  # the skipped item was counted in an earlier run
    agg = aggregates(rows, skipped=0, wall_s=600.0)
    done = [r["agreement_with_detection_deg"] for r in rows if r["status"] == "done"]
    assert agg["median/agreement_with_detection_deg"] == pytest.approx(np.median(done))
    assert agg["p90/agreement_with_detection_deg"] == pytest.approx(np.percentile(done, 90))
    assert agg["videos_done"] == ITEMS - FAILED and agg["videos_failed"] == FAILED
    assert agg["audio_hours"] == pytest.approx((ITEMS - FAILED) * 30 / 3600)
    assert agg["audio_s_per_s"] == pytest.approx((ITEMS - FAILED) * 30 / 600)


def test_agreement_counts_only_where_the_detections_look_reliable():
    items = _items()
    unreliable = [i for i in items if i["status"] == "done"][:40]
    for item in unreliable:
        item["report"]["metrics"] |= {"agreement_with_detection_deg": 0.5,
                                      "detections_reliable": False}
    rows = clip_rows(items)
    agg = aggregates(rows, skipped=0, wall_s=600.0)
    vouched = [r["agreement_with_detection_deg"] for r in rows
               if r["status"] == "done" and r.get("detections_reliable", True)]
    assert agg["median/agreement_with_detection_deg"] == pytest.approx(np.median(vouched))
    assert agg["agreement_with_detection_deg"] > 0.5 + 1.0  # the small figures left out
    assert "median/detections_reliable" not in agg  # a flag, not a figure


def test_a_200_item_run_keeps_aggregates_and_one_table(tmp_path):
    import mlflow

    from flows.remaster import log_to_mlflow

    items = _items()
    summary = {"run_id": "test-archive-scale", "src": "s3://archive", "dest": str(tmp_path),
               "version": "dsp-x", "seconds": 600.0, "skipped": [],
               "failed": {i["key"]: i["error"] for i in items if i["status"] == "failed"}}
    run_id = log_to_mlflow("archive-scale", summary, load_params(), items)
    run = mlflow.get_run(run_id)
    keys = set(run.data.metrics)
    assert not [k for k in keys if "clip_" in k or "reel_" in k]
    figures = {"collapse_score_db", "agreement_with_detection_deg",
               "agreement_with_detection_deg_mean", "agreement_windows", "duration_s",
               "seconds", "input_lufs", "output_lufs", "output_true_peak_dbtp",
               "limiter_max_reduction_db"}
    expected = ({"videos_done", "videos_failed", "videos_skipped", "seconds", "audio_hours",
                 "audio_s_per_s", "agreement_with_detection_deg"}
                | {f"{q}/{f}" for q in ("median", "p90") for f in figures})
    assert keys == expected
    table = mlflow.load_table("clips.json", run_ids=[run_id])
    assert len(table) == ITEMS and table["key"].is_unique
    assert (table["status"] == "failed").sum() == FAILED
    failed = table[table["status"] == "failed"].iloc[0]
    assert failed["error"].endswith("no audio stream")
    assert table["warnings"].str.contains("stereo").sum() == 20 - 1  # every 10th, one failed
