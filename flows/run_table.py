"""A remaster run's figures at archive scale: one row per clip, aggregates for the run.

A run of 10,000 items must not become 40,000 MLflow metric keys: the per-clip figures go
into one table artifact (clip key, status, warnings, error, metrics, loudness), and the
run's metrics are aggregates only (counts, audio hours, wall time, and the median and
90th percentile of each figure over the clips that have it).
"""

from __future__ import annotations

import math

import numpy as np

TABLE_FILE = "clips.json"  # mlflow.log_table artifact
HEADLINE = "agreement_with_detection_deg"  # the heard direction against the detection
PERCENTILES = {"median": 50.0, "p90": 90.0}
# Per-clip figures kept from a report besides its metrics.
LOUDNESS_FIGURES = ("input_lufs", "output_lufs", "output_true_peak_dbtp",
                    "limiter_max_reduction_db")


def clip_rows(items: list[dict]) -> list[dict]:
    """One flat row per processed or failed item (skipped ones were counted before)."""
    rows = []
    for item in items:
        if item["status"] not in ("done", "failed"):
            continue
        report = item.get("report") or {}
        row = {"key": item["key"], "name": item.get("name"), "status": item["status"],
               "error": item.get("error") or "",
               "warnings": " | ".join(report.get("warnings", [])),
               "duration_s": report.get("duration_s"), "seconds": item.get("seconds")}
        for key, value in (report.get("metrics") or {}).items():
            if isinstance(value, bool):
                row[key] = value
            elif isinstance(value, (int, float)):
                row[key] = float(value)
        loudness = report.get("loudness") or {}
        row.update({k: loudness.get(k) for k in LOUDNESS_FIGURES if k in loudness})
        rows.append(row)
    return rows


def figure_names(rows: list[dict]) -> list[str]:
    """The numeric per-clip figures found in the rows, in first-seen order."""
    names: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("key", "name", "status", "error", "warnings") and isinstance(
                    value, (int, float)) and not isinstance(value, bool):
                names.setdefault(key, None)
    return list(names)


def aggregates(rows: list[dict], skipped: int, wall_s: float) -> dict[str, float]:
    """The run's metrics: counts, audio hours, throughput, and per figure its median and
    90th percentile over the clips that have a finite value (`median/<figure>`)."""
    done = [r for r in rows if r["status"] == "done"]
    audio_s = float(sum(r.get("duration_s") or 0.0 for r in done))
    out = {"videos_done": float(len(done)),
           "videos_failed": float(sum(r["status"] == "failed" for r in rows)),
           "videos_skipped": float(skipped), "seconds": float(wall_s),
           "audio_hours": audio_s / 3600.0,
           "audio_s_per_s": audio_s / wall_s if wall_s > 0 else 0.0}
    for name in figure_names(done):
        # agreement with the system's own detection counts only where the detections
        # look reliable (binaural.spatial.reliability): elsewhere nobody can vouch for it
        judged = [r for r in done if name != HEADLINE or r.get("detections_reliable", True)]
        values = np.array([r[name] for r in judged
                           if isinstance(r.get(name), (int, float)) and math.isfinite(r[name])])
        if values.size:
            for label, q in PERCENTILES.items():
                out[f"{label}/{name}"] = float(np.percentile(values, q))
    if f"median/{HEADLINE}" in out:  # the headline figure
        out[HEADLINE] = out[f"median/{HEADLINE}"]
    return out


def as_columns(rows: list[dict]) -> dict[str, list]:
    """Rows -> columns with every figure present (None where a clip lacks it)."""
    names = ["key", "name", "status", "error", "warnings", *figure_names(rows)]
    return {n: [r.get(n) for r in rows] for n in names}
