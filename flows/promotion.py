"""When a new generator replaces the champion: a paired test over held-out clips with a
noise margin (params.yaml train.promote_*).

One aggregate number decided promotion before (a mean 0.013 dB lower won), which is noise
on a few dozen clips. Now the candidate and the champion are compared clip by clip on the
same held-out clips: per metric (lower is better) the improvements d_i = champion_i -
candidate_i must have a mean above the margin (a fraction of the champion's mean on those
clips) AND a one-sided paired test (Wilcoxon signed-rank, or the sign test) must reject
"no improvement" at level alpha; every promotion metric must pass.

Per-clip figures ("clip figures") are what a version keeps of its held-out evaluation:
{"system": name, "clips": {clip_id: {"n_sources": n | None, "metrics": {key: value}}}},
built from an evaluation's metrics.json by clip_figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALL_GROUP = "all"  # the group of every clip, as in binaural.eval.report
TESTS = ("wilcoxon", "sign")


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def clip_figures(clips: dict[str, dict], system: str) -> dict:
    """One system's per-clip metrics (finite values only) from metrics.json's `clips`."""
    out = {}
    for clip_id, entry in clips.items():
        values = (entry.get("systems") or {}).get(system)
        if values is None:
            continue
        out[clip_id] = {"n_sources": entry.get("n_sources"),
                        "metrics": {k: float(v) for k, v in values.items() if _finite(v)}}
    return {"system": system, "clips": out}


def paired_values(candidate: dict, champion: dict, group: str, metric: str
                  ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The clips of `group` (by number of sources; "all": every clip) where both have a
    finite value of `metric`: (clip ids, candidate values, champion values), sorted by id."""
    ids = []
    for clip_id, entry in candidate["clips"].items():
        other = champion["clips"].get(clip_id)
        if other is None or (group != ALL_GROUP and str(entry.get("n_sources")) != group):
            continue
        if _finite(entry["metrics"].get(metric)) and _finite(other["metrics"].get(metric)):
            ids.append(clip_id)
    ids.sort()
    return (ids, np.array([candidate["clips"][i]["metrics"][metric] for i in ids]),
            np.array([champion["clips"][i]["metrics"][metric] for i in ids]))


def one_sided_p(improvement: np.ndarray, test: str) -> float:
    """p-value of "the improvements are not above zero": Wilcoxon signed-rank (zero
    differences dropped) or the sign test (binomial on the signs of the non-zero ones);
    1 when every difference is zero."""
    from scipy.stats import binomtest, wilcoxon

    nonzero = improvement[improvement != 0.0]
    if nonzero.size == 0:
        return 1.0
    if test == "wilcoxon":
        return float(wilcoxon(nonzero, alternative="greater").pvalue)
    if test == "sign":
        return float(binomtest(int((nonzero > 0).sum()), int(nonzero.size), 0.5,
                               alternative="greater").pvalue)
    raise ValueError(f"unknown paired test {test!r}: one of {TESTS}")


@dataclass(frozen=True)
class PromotionRule:
    """Promote when, on the held-out clips of `group`, every metric of `metrics` (lower is
    better) improves clip by clip: mean improvement above `margin` x the champion's mean
    there, and the paired `test` significant at `alpha`."""

    group: str
    metrics: tuple[str, ...]
    margin: float = 0.02
    alpha: float = 0.05
    test: str = "wilcoxon"

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"unknown paired test {self.test!r}: one of {TESTS}")
        if not 0.0 < self.alpha < 1.0 or self.margin < 0.0:
            raise ValueError(f"alpha in (0, 1) and margin >= 0 needed: {self}")

    def first(self, aggregate: dict[str, float]) -> tuple[bool, str]:
        """With no champion yet: promoted when the candidate's evaluation on the group
        (aggregate) has every promotion metric."""
        missing = [m for m in self.metrics if not _finite(aggregate.get(m))]
        if missing:
            return False, f"candidate lacks {missing} on group {self.group}"
        return True, "no champion yet"

    def compare(self, candidate: dict | None, champion: dict | None) -> tuple[bool, str]:
        """Whether the candidate's clip figures beat the champion's; and why, with the
        figures of every metric (paired clips, mean improvement, margin, p-value)."""
        if candidate is None:
            return False, "candidate has no per-clip figures: not compared"
        if champion is None:
            return False, ("champion has no per-clip figures (registered before paired "
                           "promotion): not compared; set the alias by hand to replace it")
        verdicts, passed = [], True
        for metric in self.metrics:
            ok, text = self._one(candidate, champion, metric)
            passed &= ok
            verdicts.append(text)
        head = "beats champion" if passed else "does not beat champion"
        return passed, f"{head} on group {self.group}: " + "; ".join(verdicts)

    def _one(self, candidate: dict, champion: dict, metric: str) -> tuple[bool, str]:
        ids, new, old = paired_values(candidate, champion, self.group, metric)
        if not ids:
            return False, f"{metric}: no paired clips"
        improvement = old - new
        mean = float(improvement.mean())
        needed = self.margin * abs(float(old.mean()))
        p = one_sided_p(improvement, self.test)
        better = int((improvement > 0).sum())
        text = (f"{metric}: {len(ids)} clips, {better} better, mean improvement {mean:.4g} "
                f"(champion {old.mean():.4g} -> {new.mean():.4g}), margin {needed:.4g}, "
                f"{self.test} p={p:.3g} (alpha {self.alpha:g})")
        if mean <= 0.0:
            return False, text + ": worse on average"
        if mean <= needed:
            return False, text + ": within the margin"
        if p >= self.alpha:
            return False, text + ": not significant (noise)"
        return True, text
