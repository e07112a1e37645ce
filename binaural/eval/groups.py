"""The per-group table of a set whose truths name a `group` (the real-footage set's layouts:
1 person, distractor static, distractor talking, turn-taking): per group, the median over
clips of the heard-source direction error per system, the association accuracy (pooled
over the group's 0.5 s windows; n/a when the localization gives no per-track sounding
probability) and the means of the leading cue metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HEARD = ("heard_direction_error_deg", "heard dir err deg (median)")
CUE_METRICS: tuple[tuple[str, str], ...] = (
    ("band_ild_error_db", "band ILD err dB"),
    ("band_ipd_error_rad", "band IPD err rad"),
    ("band_coherence_error", "band IC err"),
    ("direction_vs_reference_deg", "dir vs ref ITD deg"),
)


def _values(entries: list[dict], system: str, key: str) -> list[float]:
    return [e["systems"][system][key] for e in entries
            if system in e["systems"] and e["systems"][system].get(key) is not None]


def group_table(clips: dict[str, dict], systems: Sequence[str]) -> dict | None:
    """{group: {"clips", "association_accuracy", "association_windows", "systems": {system:
    {metric: value}}}} in the order groups first appear; None when no clip has a group."""
    members: dict[str, list[dict]] = {}
    for entry in clips.values():
        if entry.get("group"):
            members.setdefault(entry["group"], []).append(entry)
    if not members:
        return None
    table = {}
    for group, entries in members.items():
        scored = [e["association"] for e in entries if e.get("association")]
        windows = sum(a["association_windows"] for a in scored)
        right = sum(a["association_accuracy"] * a["association_windows"] for a in scored
                    if a["association_accuracy"] is not None)
        by_system = {}
        for system in systems:
            heard = _values(entries, system, HEARD[0])
            row = {HEARD[0]: float(np.median(heard)) if heard else None}
            for key, _ in CUE_METRICS:
                values = _values(entries, system, key)
                row[key] = float(np.mean(values)) if values else None
            by_system[system] = row
        table[group] = {"clips": len(entries),
                        "association_accuracy": right / windows if windows else None,
                        "association_windows": windows, "systems": by_system}
    return table


def _cell(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a" if percent else "-"
    return f"{100 * value:.0f} %" if percent else f"{value:.2f}"


def group_rows(table: dict, systems: Sequence[str]) -> list[list[str]]:
    """One row per group and system: group, clips, system, heard direction error,
    association accuracy, cue metrics."""
    rows = []
    for group, row in table.items():
        for system in systems:
            values = row["systems"].get(system, {})
            rows.append([group, str(row["clips"]), system, _cell(values.get(HEARD[0])),
                         _cell(row["association_accuracy"], percent=True),
                         *[_cell(values.get(key)) for key, _ in CUE_METRICS]])
    return rows


HEADER = ["group", "clips", "system", HEARD[1], "association acc",
          *[label for _, label in CUE_METRICS]]


def group_table_md(table: dict, systems: Sequence[str]) -> list[str]:
    """The table as markdown lines."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in group_rows(table, systems)]
    return lines


def group_table_text(table: dict, systems: Sequence[str]) -> str:
    """The table for a terminal (columns padded)."""
    rows = [HEADER, *group_rows(table, systems)]
    widths = [max(len(r[j]) for r in rows) for j in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) if j < 3 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths))) for r in rows)
