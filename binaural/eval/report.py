"""Aggregation of per-clip metrics and the report of `binaural evaluate` (docs/formats.md:
metrics.json and report.md of EVAL_DIR)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from binaural.eval.groups import group_table, group_table_md
from binaural.eval.suite import (
    FAIRPLAY_METRICS,
    LEADING_METRICS,
    METRICS,
    RICHARD_METRICS,
    ClipResult,
    MetricSpec,
)
from binaural.io.outputs import atomic_path

ALL_GROUP = "all"
UNKNOWN_GROUP = "unknown"  # clips without truth: number of sources not known


def clip_entry(result: ClipResult) -> dict:
    """The clip's entry in metrics.json."""
    entry = {"n_sources": result.n_sources, "systems": result.metrics,
             "reference": result.reference_metrics}
    if result.skipped:
        entry["skipped"] = result.skipped
    if result.group is not None:
        entry["group"] = result.group
    if result.association is not None:
        entry["association"] = result.association
    return entry


def group_of(n_sources: int | None, group: str | None = None) -> str:
    """The truth's named group (real-footage layouts), else the number of sources."""
    if group:
        return group
    return UNKNOWN_GROUP if n_sources is None else str(n_sources)


def _group_order(groups: Iterable[str]) -> list[str]:
    numbered = sorted((g for g in groups if g.isdigit()), key=int)
    named = [g for g in groups if not g.isdigit() and g not in (ALL_GROUP, UNKNOWN_GROUP)]
    return [ALL_GROUP, *numbered, *named, *([UNKNOWN_GROUP] if UNKNOWN_GROUP in groups else [])]


def _means(rows: list[dict], keys: Iterable[str]) -> dict[str, float | None]:
    """Mean of each key over the rows that define it (None where none does)."""
    means = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        means[key] = float(np.mean(values)) if values else None
    return means


def _members(clips: dict[str, dict]) -> dict[str, list[dict]]:
    """Clip entries per group: "all", then by number of sources, then "unknown"."""
    members: dict[str, list[dict]] = {ALL_GROUP: []}
    for entry in clips.values():
        members[ALL_GROUP].append(entry)
        members.setdefault(group_of(entry["n_sources"], entry.get("group")), []).append(entry)
    return {group: members[group] for group in _group_order(members)}


def aggregate(clips: dict[str, dict], systems: Sequence[str]
              ) -> tuple[dict[str, dict[str, dict[str, float | None]]], dict[str, int]]:
    """Mean of each metric over the clips of each group ("all", then by number of sources),
    ignoring clips where it is undefined; and the number of clips per group."""
    table, counts = {}, {}
    keys = [spec.key for spec in METRICS]
    for group, entries in _members(clips).items():
        counts[group] = len(entries)
        table[group] = {}
        for system in systems:
            rows = [e["systems"][system] for e in entries if system in e["systems"]]
            if rows:
                table[group][system] = _means(rows, keys)
    return table, counts


def reference_aggregate(clips: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Per group, the mean reference-free metrics of the references themselves: the floor
    of the direction estimator on these clips."""
    keys = [spec.key for spec in METRICS if not spec.needs_reference]
    return {group: _means([e["reference"] for e in entries], keys)
            for group, entries in _members(clips).items()}


def metrics_document(systems: Sequence[str], clips: dict[str, dict], failed: dict[str, str],
                     meta: dict) -> dict:
    """metrics.json: systems, aggregate (group -> system -> metric), clips, plus the clip
    counts per group, the references' own reference-free metrics, the failures and the
    run's settings."""
    table, counts = aggregate(clips, systems)
    document = {"systems": list(systems), "aggregate": table, "counts": counts,
                "reference_aggregate": reference_aggregate(clips), "clips": clips,
                "failed": failed, "meta": meta}
    groups = group_table(clips, systems)
    if groups is not None:  # a set whose truths name groups (the real-footage set)
        document["groups"] = groups
    return document


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"


def _table(specs: Sequence[MetricSpec], rows: list[tuple[str, dict]]) -> list[str]:
    head = "| system | " + " | ".join(
        f"{s.label} {'↓' if s.lower_is_better else '↑'}" for s in specs) + " |"
    lines = [head, "|---|" + "---|" * len(specs)]
    for name, values in rows:
        lines.append(f"| {name} | " + " | ".join(_fmt(values.get(s.key)) for s in specs) + " |")
    return lines


def write_report_md(path: str | Path, document: dict, plots: Sequence[str] = ()) -> None:
    """report.md: the aggregate tables per group (leading metrics, then the FAIR-Play and
    Richard et al. sets), the per-clip table, failures and plots."""
    meta, systems = document["meta"], document["systems"]
    lines = [
        f"# Evaluation: {meta.get('dataset', '')}",
        "",
        f"Split `{meta.get('split')}`, {len(document['clips'])} clips "
        f"({len(document['failed'])} failed); systems: "
        + ", ".join(f"`{s}`" for s in systems) + ".",
        "",
        "Spatial claims are judged on the interaural cue errors, band-smoothed (per "
        "third-octave band and ~40 ms: ILD, IPD, interaural coherence; in rooms these "
        "discriminate, as a diffuse tail has random per-bin cues) and per time-frequency "
        "bin, each weighted by the reference's energy, the log-spectral distance and the "
        "direction error; the ITD-ILD mismatch is the median |ITD azimuth - ILD azimuth| of "
        "an output (a blend of two directions makes them disagree); when the reference was "
        "made with another head than the renderer's, complex-STFT MSE and ENV reward "
        "hedged, averaged outputs, so the FAIR-Play and "
        "Richard et al. sets are reported beside them. ↓ lower is better, ↑ higher. "
        "Direction errors: median over windows of |azimuth heard - azimuth of the dominant "
        "visible source| (ITD through the measured table of metrics.py; ILD through a table "
        f"measured from `{meta.get('hrtf')}`); the reference's own direction error is the "
        "estimator's floor on these clips. Values are means over clips.",
    ]
    if document.get("groups"):
        lines += ["", "## Per group", "",
                  "The heard-source direction error is the median over a group's clips of "
                  "each clip's median |azimuth heard (ITD) - azimuth of the source sounding "
                  "then| (windows where exactly one source sounds); the association accuracy "
                  "is the share of 0.5 s windows where the localization's most-sounding "
                  "track is the sounding source (n/a: the tracks carry no sounding "
                  "probability); the cue metrics are means.", ""]
        lines += group_table_md(document["groups"], systems)
    for group, by_system in document["aggregate"].items():
        title = "All clips" if group == ALL_GROUP else (
            "Clips without truth" if group == UNKNOWN_GROUP else
            f"{group}-source clips" if group.isdigit() else f"Group: {group}")
        lines += ["", f"## {title} ({document['counts'][group]})", ""]
        rows = [(s, by_system[s]) for s in systems if s in by_system]
        reference = ("*the reference itself*", document["reference_aggregate"][group])
        lines += _table(LEADING_METRICS, [*rows, reference]) + [""]
        for specs in (FAIRPLAY_METRICS, RICHARD_METRICS):
            lines += _table(specs, rows) + [""]
    lines += ["## Per clip", ""]
    per_clip_specs = LEADING_METRICS + FAIRPLAY_METRICS[:2]
    lines.append("| clip | sources | system | " + " | ".join(s.label for s in per_clip_specs)
                 + " |")
    lines.append("|---|---|---|" + "---|" * len(per_clip_specs))
    for clip_id, entry in document["clips"].items():
        sources = "?" if entry["n_sources"] is None else entry["n_sources"]
        for system, values in entry["systems"].items():
            cells = " | ".join(_fmt(values.get(s.key)) for s in per_clip_specs)
            lines.append(f"| {clip_id} | {sources} | {system} | {cells} |")
    if document["failed"]:
        lines += ["", "## Failed clips", ""]
        lines += [f"- `{clip_id}`: {reason}" for clip_id, reason in document["failed"].items()]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
