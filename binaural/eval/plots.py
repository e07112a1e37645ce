"""Plots of `binaural evaluate`: per-metric box plots over clips, direction over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from binaural.eval.direction import DirectionTrack
from binaural.eval.report import group_of
from binaural.eval.suite import MetricSpec
from binaural.io.outputs import atomic_path
from binaural.spatial.tracks import SourceTrack

SYSTEM_COLOURS = ("tab:gray", "tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown")
TRACK_COLOURS = ("tab:orange", "tab:cyan", "tab:pink", "tab:olive")
DPI = 90


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def box_plots(plot_dir: str | Path, clips: Mapping[str, dict], systems: Sequence[str],
              metrics: Sequence[MetricSpec]) -> list[Path]:
    """One PNG per metric (plots/box_<metric>.png): a box per system over the clips,
    grouped by number of sources. Metrics no clip has are left out."""
    plt = _pyplot()
    plot_dir = Path(plot_dir)
    groups = sorted({group_of(e["n_sources"]) for e in clips.values()},
                    key=lambda g: (not g.isdigit(), int(g) if g.isdigit() else 0, g))
    written = []
    for spec in metrics:
        data = {(g, s): [e["systems"][s][spec.key] for e in clips.values()
                         if group_of(e["n_sources"]) == g and s in e["systems"]
                         and e["systems"][s].get(spec.key) is not None]
                for g in groups for s in systems}
        if not any(data.values()):
            continue
        fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(groups) * len(systems) ** 0.5, 3.6),
                               constrained_layout=True)
        width = 0.8 / len(systems)
        for j, system in enumerate(systems):
            positions, values = [], []
            for i, group in enumerate(groups):
                if data[(group, system)]:
                    positions.append(i + (j - (len(systems) - 1) / 2) * width)
                    values.append(data[(group, system)])
            if not values:
                continue
            colour = SYSTEM_COLOURS[j % len(SYSTEM_COLOURS)]
            ax.boxplot(values, positions=positions, widths=width * 0.9, patch_artist=True,
                       boxprops={"facecolor": colour, "alpha": 0.5},
                       medianprops={"color": "k"}, manage_ticks=False)
            for position, clip_values in zip(positions, values):  # the clips themselves
                ax.plot([position] * len(clip_values), clip_values, ".", color=colour, ms=5)
            ax.plot([], [], "s", color=colour, alpha=0.5, label=system)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{g} src" if g.isdigit() else g for g in groups])
        better = "lower" if spec.lower_is_better else "higher"
        ax.set_title(f"{spec.label} ({better} is better)")
        ax.legend(fontsize=8)
        path = plot_dir / f"box_{spec.key}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
        plt.close(fig)
        written.append(path)
    return written


def direction_plot(path: str | Path, clip_id: str, visual_tracks: Sequence[SourceTrack],
                   directions: Mapping[str, DirectionTrack],
                   reference: DirectionTrack | None = None) -> Path:
    """Azimuth over time: the visible sources' tracks (lines) and the azimuth heard (ITD,
    valid windows) in each system's output and in the reference (markers)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    for k, track in enumerate(visual_tracks):
        ax.plot(track.times_s, track.azimuth_deg, "-", lw=2.5, alpha=0.6,
                color=TRACK_COLOURS[k % len(TRACK_COLOURS)],
                label=f"seen: {track.source_class}" if k < len(TRACK_COLOURS) else None)
    heard = [(name, track, SYSTEM_COLOURS[j % len(SYSTEM_COLOURS)])
             for j, (name, track) in enumerate(directions.items())]
    if reference is not None:
        heard.insert(0, ("reference", reference, "k"))
    markers = "o^sDvP"
    for j, (name, track, colour) in enumerate(heard):
        valid = np.asarray(track.valid, dtype=bool)
        ax.plot(track.times_s[valid], track.azimuth_deg[valid], markers[j % len(markers)],
                ms=4, color=colour, alpha=0.8, label=f"heard: {name}")
    ax.set_ylim(-90, 90)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("azimuth (deg, + = left)")
    ax.set_title(f"{clip_id}: direction over time (ITD of each output)")
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def pick_sample_clips(clips: Mapping[str, dict], count: int) -> list[str]:
    """Up to `count` clip ids, taken in turn from each number-of-sources group."""
    by_group: dict[str, list[str]] = {}
    for clip_id, entry in clips.items():
        by_group.setdefault(group_of(entry["n_sources"]), []).append(clip_id)
    picked: list[str] = []
    queues = [list(ids) for _, ids in sorted(by_group.items())]
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked
