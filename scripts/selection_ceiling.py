"""The ceiling of the generator's hypothesis-selection design on held-out scenes.

For each scene: the hypotheses exactly as the model makes them (models/hypotheses.py, v2 and
v3 slots, along the tracks the model gets: the detector's cached localization of
scripts/evaluate_generators.py --cache, or the true tracks with --tracks truth), the slots
present as the model has them (v2: generator.min_sounding on the tracks' sounding
probability; v3: every tracked slot, the diffuse field per generator.diffuse_slot), then
the ORACLE weights per network cell (models/selection_oracle.py: hard = the slot whose cell
ILD / IPD best matches the truth, hard@24 = the same with one choice per band over 24
network frames (~0.5 s: a control for cells that match by chance), soft = the convex weights
minimising the cell's complex STFT error), expanded to bins as the network expands its own,
and the outputs scored with the evaluation's band cue errors (binaural/eval/bands.py).
`mix` is the mixture slot alone (v3: the renderer's gated mixture, what `dsp` outputs: a
check of the plumbing).

    python scripts/selection_ceiling.py data/generator-v2/test --loc /tmp/wtloss-cue/loc \
        --out /tmp/ceiling   # -> ceiling.json (per clip) and table.md (per group)
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

# hard@24: one choice per band over ~0.5 s (24 network frames of 21 ms): the control
KINDS = ("mix", "hard", "hard@24", "soft")


def ceiling_outputs(mono: np.ndarray, reference: np.ndarray, tracks: Sequence, hrtf, render,
                    cfg, min_sounding: float, diffuse_slot: bool = True,
                    frame_size: tuple[int, int] = (640, 360), kinds: Sequence[str] = KINDS
                    ) -> dict[str, np.ndarray]:
    """(2, N) outputs of the model's hypotheses of `mono` along `tracks` under each kind of
    weights (mix: the mixture slot; hard / soft: the oracles toward `reference` (2, N))."""
    from models.generator_features import (
        band_matrices,
        istft,
        network_frame_times,
        slot_conditions,
        sounding_present,
        stft,
    )
    from models.hypotheses import render_hypotheses
    from models.selection_oracle import expand_weights, oracle_weights

    n = mono.shape[0]
    hyps = render_hypotheses(mono, tracks, hrtf, cfg.max_sources, cfg.sample_rate,
                             render.block, render.neighbours, render, cfg.version)[..., :n]
    times = network_frame_times(n, cfg)
    cond = slot_conditions(tracks, times, frame_size, cfg)
    present = cond.present
    if cfg.version < 3:
        present = sounding_present(tracks, times, present, min_sounding)
    extra = torch.ones(1, cfg.extra_slots, len(times), dtype=torch.bool)
    if cfg.version == 3 and not diffuse_slot:
        extra[:, 0] = False
    present = torch.cat([present, extra], dim=1)
    h = stft(torch.from_numpy(np.ascontiguousarray(hyps, np.float32))[None], cfg)
    y = stft(torch.from_numpy(np.ascontiguousarray(reference, np.float32))[None], cfg)
    pool, expand = band_matrices(cfg)
    if cfg.version == 3:  # the network's nearest-band expansion
        nearest = torch.zeros_like(expand)
        nearest[torch.arange(expand.shape[0]), expand.argmax(dim=1)] = 1.0
        expand = nearest
    out = {}
    for kind in kinds:
        if kind == "mix":
            out[kind] = hyps[-1].astype(np.float32)
            continue
        w = expand_weights(oracle_weights(kind, h, y, present, pool, cfg), expand, cfg,
                           h.shape[-2])
        mixed = (w.unsqueeze(2) * h).sum(dim=1)  # (1, 2, T, F)
        out[kind] = istft(mixed, n, cfg)[0].numpy().astype(np.float32)
    return out


def scene_group(truth: dict) -> tuple[int, bool]:
    """(number of sounding sources, has a silent visible object) of a scene's truth."""
    sources = truth.get("sources", [])
    silent = [bool(s.get("silent")) for s in sources]
    return len(silent) - sum(silent), any(silent)


def table(rows: dict, names: Sequence[str]) -> str:
    groups: dict[str, list[str]] = {"all": sorted(rows)}
    for cid, r in sorted(rows.items()):
        groups.setdefault(f"{r['n_sounding']} sounding", []).append(cid)
        if r["silent"]:
            groups.setdefault("silent distractor", []).append(cid)
    lines = []
    for group, ids in groups.items():
        lines += [f"\n**{group}** ({len(ids)} clips)\n",
                  "| system | band ILD dB | band IPD rad | ILD / mix-v3 | IPD / mix-v3 |",
                  "|---|---|---|---|---|"]
        base = {k: np.nanmean([rows[c]["v3-mix"][k] for c in ids]) if "v3-mix" in
                rows[ids[0]] else np.nan for k in ("band_ild_error_db", "band_ipd_error_rad")}
        for name in names:
            vals = [np.nanmean([rows[c][name][k] for c in ids if name in rows[c]])
                    for k in ("band_ild_error_db", "band_ipd_error_rad")]
            lines.append(f"| {name} | {vals[0]:.2f} | {vals[1]:.3f} | "
                         f"{vals[0] / base['band_ild_error_db']:.2f} | "
                         f"{vals[1] / base['band_ipd_error_rad']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--tracks", choices=("detected", "truth"), default="detected")
    p.add_argument("--loc", default=None, help="the localization cache (detected tracks)")
    p.add_argument("--v2", default="models/weights/generator-small.pt")
    p.add_argument("--v3", default="models/weights/generator-small-v3.pt")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--params", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from binaural.eval.bands import band_cue_errors
    from binaural.eval.datasets import load_dataset
    from binaural.eval.systems import load_clip
    from binaural.spatial.hrtf import load_sofa
    from flows.params import load_params
    from models.generator import load_checkpoint

    params = load_params(args.params)
    sr = params.scene.sample_rate
    hrtf = load_sofa(params.render.hrtf, sr)
    cfgs = {f"v{load_checkpoint(path)[0].cfg.version}": load_checkpoint(path)[0].cfg
            for path in (args.v2, args.v3)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    records = load_dataset(args.dataset, args.split)[: args.limit]
    for i, record in enumerate(records):
        t0 = time.perf_counter()
        clip = load_clip(record, sr, params.scene.chunk_s)
        size = (int(clip.truth.get("width", 640)), int(clip.truth.get("height", 360)))
        if args.tracks == "truth":
            tracks = clip.truth_tracks
        else:
            loc = pickle.loads((Path(args.loc) / f"{record.id}.pkl").read_bytes())
            tracks, size = loc.tracks, loc.info.display_size
        n_sounding, silent = scene_group(clip.truth)
        row: dict = {"n_sounding": n_sounding, "silent": silent, "n_tracks": len(tracks)}
        if tracks:
            for tag, cfg in cfgs.items():
                outs = ceiling_outputs(clip.mono, clip.reference, tracks, hrtf, params.render,
                                       cfg, params.generator.min_sounding,
                                       params.generator.diffuse_slot, size)
                for kind, pred in outs.items():
                    row[f"{tag}-{kind}"] = band_cue_errors(pred, clip.reference, sr,
                                                           params.evaluate)
        rows[record.id] = row
        print(f"{i + 1}/{len(records)} {record.id} {time.perf_counter() - t0:.1f} s", flush=True)
    (out / "ceiling.json").write_text(json.dumps(rows, indent=1))
    names = [f"{t}-{k}" for t in cfgs for k in KINDS]
    (out / "table.md").write_text(table({c: r for c, r in rows.items() if r["n_tracks"]},
                                        names))
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
