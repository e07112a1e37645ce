"""The generator issue's table from an evaluation's metrics.json (scripts/
evaluate_generators.py or `binaural evaluate`): per number of sounding sources and for the
scenes with a silent visible object, each system's mean cue errors (band ILD / IPD,
TF-ILD / IPD, LSD), median direction errors (against the dominant visible source, against
the reference), the heard-source direction (against the source sounding then) and ITD-ILD
mismatch, then the model's ratio to the renderer (`dsp`) and the
share of the renderer-to-oracle (`dsp-separate`) distance it closes. A last row,
`reference (recording)`, gives the direction figures of the binaural recording itself,
read the same way: what the direction estimators make of the truth (in rooms its ITD- and
ILD-based directions disagree too, so a system's mismatch is judged beside it).

    python scripts/generator_table.py EVAL_DIR/metrics.json --dataset data/generator-v2/test \
        [--model model] [--baseline dsp] [--oracle dsp-separate]

Several evaluations merge (systems side by side; clips every system scored):
`A/metrics.json:model=model-v2 B/metrics.json` renames A's `model` to `model-v2`, e.g. the
shipped generator scored with the baselines in one run and a candidate alone in another
(a system name that two files give is refused: rename one). `--paired` adds, per group,
the model against the baseline clip by clip (share of clips better, Wilcoxon p).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

MEANS = ("band_ild_error_db", "band_ipd_error_rad", "tf_ild_error_db", "tf_ipd_error_rad",
         "lsd_db")
# heard: |ITD azimuth - the truth's azimuth of the source sounding then|, in the windows where
# exactly one sounds (the sounding-source direction; dir ITD / ILD are against the dominant
# visible source, which beside a silent object may be that object)
MEDIANS = ("direction_error_itd_deg", "direction_error_ild_deg", "heard_direction_error_deg",
           "direction_vs_reference_deg", "itd_ild_mismatch_deg")
HEADERS = ("band ILD dB", "band IPD rad", "TF-ILD dB", "TF-IPD rad", "LSD dB",
           "dir ITD deg (med)", "dir ILD deg (med)", "heard dir deg (med)",
           "dir vs ref deg (med)", "ITD-ILD mismatch deg (med)")


def groups(clips: dict, dataset: Path | None) -> dict[str, list[str]]:
    """Clip ids per group: all, each number of sounding sources, silent distractor."""
    out: dict[str, list[str]] = {"all": sorted(clips)}
    for cid, entry in sorted(clips.items()):
        out.setdefault(f"{entry['n_sources']} sounding", []).append(cid)
        truth = dataset / "truth" / f"{cid}.json" if dataset else None
        if truth and truth.is_file():
            sources = json.loads(truth.read_text())["sources"]
            if any(s.get("silent") for s in sources):
                out.setdefault("silent distractor", []).append(cid)
    return out


REFERENCE = "reference (recording)"


def value(clips: dict, ids: list[str], system: str, key: str, median: bool) -> float | None:
    """A system's mean (or median) of `key` over the clips `ids`; REFERENCE reads the
    recording's own figures (direction only)."""
    rows = [(clips[c].get("reference", {}) if system == REFERENCE
             else clips[c]["systems"].get(system, {})).get(key) for c in ids]
    rows = [r for r in rows if r is not None and np.isfinite(r)]
    if not rows:
        return None
    return float(np.median(rows) if median else np.mean(rows))


def table(document: dict, dataset: Path | None, model: str, baseline: str, oracle: str
          ) -> str:
    clips = document["clips"]
    systems = document["systems"]
    lines = []
    for group, ids in groups(clips, dataset).items():
        lines += [f"\n**{group}** ({len(ids)} clips)\n",
                  "| system | " + " | ".join(HEADERS) + " |",
                  "|---" * (len(HEADERS) + 1) + "|"]
        figures = {s: [value(clips, ids, s, k, k in MEDIANS) for k in MEANS + MEDIANS]
                   for s in [*systems, REFERENCE]}  # the recording has direction figures only
        for s, row in figures.items():
            if s == REFERENCE and all(v is None for v in row):
                continue
            lines.append(f"| {s} | " + " | ".join("-" if v is None else f"{v:.3g}"
                                                  for v in row) + " |")
        if model in figures and baseline in figures:
            ratio = [None if m is None or b in (None, 0) else m / b
                     for m, b in zip(figures[model], figures[baseline])]
            lines.append(f"| {model}/{baseline} | " + " | ".join(
                "-" if r is None else f"{r:.2f}" for r in ratio) + " |")
        if model in figures and baseline in figures and oracle in figures:
            closed = [None if None in (m, b, o) or b == o else (b - m) / (b - o)
                      for m, b, o in zip(figures[model], figures[baseline], figures[oracle])]
            lines.append(f"| closed {baseline}->{oracle} | " + " | ".join(
                "-" if c is None else f"{100 * c:.0f}%" for c in closed) + " |")
    return "\n".join(lines)


def merged(specs: list[str]) -> dict:
    """One document of several metrics.json (PATH[:OLD=NEW,...]): every clip with every
    run's systems (renamed); only the clips that all the systems scored are kept."""
    systems: list[str] = []
    clips: dict[str, dict] = {}
    for spec in specs:
        path, _, renames = spec.partition(":")
        rename = dict(r.split("=", 1) for r in renames.split(",") if r)
        document = json.loads(Path(path).read_text())
        named = [rename.get(s, s) for s in document["systems"]]
        if twice := sorted(set(named) & set(systems)):
            raise SystemExit(f"{path}: system(s) {twice} already come from an earlier file; "
                             f"rename them ({path}:{twice[0]}=NEW)")
        systems += named
        for cid, entry in document["clips"].items():
            into = clips.setdefault(cid, {"n_sources": entry["n_sources"], "systems": {}})
            if "reference" in entry:  # the recording's own figures (the same in every run)
                into.setdefault("reference", entry["reference"])
            into["systems"].update({rename.get(s, s): v for s, v in entry["systems"].items()})
    complete = {c: e for c, e in clips.items() if all(s in e["systems"] for s in systems)}
    return {"systems": systems, "clips": complete}


def paired(document: dict, dataset: Path | None, model: str, baseline: str) -> str:
    """Per group and mean figure: `model` against `baseline` clip by clip (the share of
    clips where it is lower, i.e. better, and the Wilcoxon signed-rank p)."""
    from scipy.stats import wilcoxon

    clips, lines = document["clips"], []
    for group, ids in groups(clips, dataset).items():
        lines.append(f"\n**{group}**: {model} against {baseline}, clip by clip\n")
        for key in MEANS:
            pairs = np.array([(clips[c]["systems"][baseline].get(key),
                               clips[c]["systems"][model].get(key)) for c in ids], dtype=float)
            pairs = pairs[np.all(np.isfinite(pairs), axis=1)]
            if not len(pairs):
                continue
            base, ours = pairs[:, 0], pairs[:, 1]
            p = wilcoxon(base, ours).pvalue if np.any(base != ours) else 1.0
            lines.append(f"- {key}: {base.mean():.3f} -> {ours.mean():.3f}; better on "
                         f"{100 * np.mean(ours < base):.0f} %, worse on "
                         f"{100 * np.mean(ours > base):.0f} % of {len(pairs)} clips "
                         f"(p = {p:.2g})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("metrics", nargs="+", help="metrics.json[:OLD=NEW,...]")
    p.add_argument("--dataset", default=None, help="the evaluated folder (its truth)")
    p.add_argument("--model", default="model")
    p.add_argument("--baseline", default="dsp")
    p.add_argument("--oracle", default="dsp-separate")
    p.add_argument("--paired", action="store_true",
                   help="also the model against the baseline clip by clip (Wilcoxon)")
    args = p.parse_args(argv)
    document = merged(args.metrics)
    dataset = Path(args.dataset) if args.dataset else None
    print(table(document, dataset, args.model, args.baseline, args.oracle))
    if args.paired:
        print(paired(document, dataset, args.model, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
