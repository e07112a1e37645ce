"""Listening tests: the trial plan, blinding, answer validation and the statistics.

A trial is one clip of an evaluation folder (docs/formats.md). Its stimuli are the clip's
systems plus the binaural reference where there is one (the hidden anchor); each stimulus
is played under a neutral label (A, B, C, ...) assigned at random per trial. The listener
marks where the main source is heard (azimuth, SOFA convention: +90 = listener's LEFT) and
rates naturalness on a MUSHRA-style 0-100 scale. No web framework or database here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REFERENCE_SYSTEM = "reference"
LABELS = string.ascii_uppercase
AZIMUTH_LIMIT_DEG = 90.0  # the semicircle covers the front half only
RATING_MIN, RATING_MAX = 0.0, 100.0
CONFIDENCE = 0.95
# System names become file names (<system>.wav): no separators, no leading dot.
_SYSTEM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class AnswerError(ValueError):
    """An answer that does not fit its trial (wrong labels, values out of range)."""


@dataclass(frozen=True)
class EvalClip:
    """One clip of an evaluation folder, as described by its info.json."""

    clip_id: str
    directory: Path
    n_sources: int | None  # None where the dataset has no truth (FAIR-Play itself)
    systems: tuple[str, ...]
    has_reference: bool
    visual_azimuth_deg: float | None
    duration_s: float

    @property
    def stimuli(self) -> tuple[str, ...]:
        """What a trial plays: every system, then the reference where there is one."""
        return self.systems + ((REFERENCE_SYSTEM,) if self.has_reference else ())

    def audio_path(self, system: str) -> Path:
        """The wav of one stimulus of this clip."""
        if system not in self.stimuli:
            raise KeyError(system)
        return self.directory / f"{system}.wav"

    @property
    def frame_path(self) -> Path:
        return self.directory / "frame.png"

    @property
    def video_path(self) -> Path:
        return self.directory / "video.mp4"


@dataclass(frozen=True)
class PlannedTrial:
    """One trial of a session: a clip and which system hides behind each label."""

    position: int
    clip_id: str
    visual_azimuth_deg: float | None
    labels: Mapping[str, str] = field(hash=False)  # label -> system


@dataclass(frozen=True)
class Response:
    """A listener's judgement of one stimulus of a trial."""

    label: str
    system: str
    azimuth_deg: float
    rating: float


@dataclass(frozen=True)
class AnswerRecord:
    """One stored response with what the statistics need."""

    listener: str
    session_id: str
    clip_id: str
    system: str
    visual_azimuth_deg: float | None
    azimuth_deg: float
    rating: float


@dataclass(frozen=True)
class Estimate:
    """A mean with its two-sided confidence interval (NaN where n < 2)."""

    mean: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 3)

        return {"mean": clean(self.mean), "ci_low": clean(self.ci_low),
                "ci_high": clean(self.ci_high), "n": self.n}


@dataclass(frozen=True)
class SystemSummary:
    """The listening-test result of one system."""

    system: str
    n_answers: int
    direction_error_deg: Estimate
    naturalness: Estimate


def _info_field(info: Mapping, key: str, kinds: type | tuple[type, ...], path: Path):
    """A required field of info.json, type-checked (a JSON true is not a number)."""
    value = info.get(key)
    is_bool_mixup = isinstance(value, bool) and kinds is not bool
    if not isinstance(value, kinds) or is_bool_mixup:
        raise ValueError(f"{path}: field {key!r} missing or of the wrong type")
    return value


def load_clip(directory: str | Path) -> EvalClip:
    """Read one `clips/<clip_id>/` folder; refuse an info.json that does not fit the format."""
    directory = Path(directory)
    path = directory / "info.json"
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise ValueError(f"{path}: not a JSON object")
    systems = _info_field(info, "systems", list, path)
    if not systems or not all(isinstance(s, str) and _SYSTEM_NAME.match(s) for s in systems):
        raise ValueError(f"{path}: 'systems' must be a non-empty list of plain names")
    if REFERENCE_SYSTEM in systems or len(set(systems)) != len(systems):
        raise ValueError(f"{path}: 'systems' repeats a name or lists {REFERENCE_SYSTEM!r}")
    has_reference = _info_field(info, "has_reference", bool, path)
    azimuth = info.get("visual_azimuth_deg")
    if azimuth is not None and (isinstance(azimuth, bool) or not isinstance(azimuth, int | float)
                                or not math.isfinite(azimuth)):
        raise ValueError(f"{path}: 'visual_azimuth_deg' must be a number")
    clip = EvalClip(
        clip_id=directory.name,
        directory=directory,
        n_sources=None if info.get("n_sources") is None
        else int(_info_field(info, "n_sources", int, path)),
        systems=tuple(systems),
        has_reference=has_reference,
        visual_azimuth_deg=None if azimuth is None else float(azimuth),
        duration_s=float(_info_field(info, "duration_s", (int, float), path)),
    )
    for system in clip.stimuli:
        if not clip.audio_path(system).is_file():
            raise ValueError(f"{directory}: {system}.wav is missing")
    return clip


def load_eval_dir(eval_dir: str | Path) -> list[EvalClip]:
    """Every clip of an evaluation folder, sorted by clip id."""
    eval_dir = Path(eval_dir)
    if not eval_dir.is_dir():
        raise NotADirectoryError(f"{eval_dir}: not an evaluation folder")
    clips = [load_clip(info.parent) for info in sorted(eval_dir.glob("clips/*/info.json"))]
    if not clips:
        raise ValueError(f"{eval_dir}: no clips/<clip_id>/info.json (see docs/formats.md)")
    return clips


def session_seed(base_seed: int | None, listener: str, n_previous_sessions: int) -> int:
    """The seed of a new session: random without a base seed, else reproducible per listener."""
    if base_seed is None:
        return secrets.randbits(32)
    digest = hashlib.sha256(f"{base_seed}:{listener}:{n_previous_sessions}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def plan_trials(clips: Sequence[EvalClip], seed: int) -> list[PlannedTrial]:
    """A session's trials: the clips in random order, labels assigned at random per trial."""
    if not clips:
        raise ValueError("no clips to plan trials from")
    rng = np.random.default_rng(seed)
    trials = []
    for position, index in enumerate(rng.permutation(len(clips))):
        clip = clips[int(index)]
        stimuli = clip.stimuli
        if len(stimuli) > len(LABELS):
            raise ValueError(f"{clip.clip_id}: more than {len(LABELS)} stimuli")
        order = rng.permutation(len(stimuli))
        labels = {LABELS[k]: stimuli[int(j)] for k, j in enumerate(order)}
        trials.append(PlannedTrial(position, clip.clip_id, clip.visual_azimuth_deg, labels))
    return trials


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerError(f"{name} must be a number")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise AnswerError(f"{name} must lie in [{low:g}, {high:g}]")
    return value


def validate_responses(labels: Mapping[str, str], responses: object) -> list[Response]:
    """Check a trial's answer: exactly its labels, azimuth in [-90, 90], rating in [0, 100].

    `responses` is the decoded JSON `{label: {"azimuth_deg": x, "rating": y}}`; `labels`
    maps the trial's labels to its systems.
    """
    if not isinstance(responses, dict):
        raise AnswerError("responses must be an object keyed by label")
    if set(responses) != set(labels):
        unknown = sorted(set(responses) - set(labels))
        missing = sorted(set(labels) - set(responses))
        raise AnswerError(f"labels do not match the trial (unknown {unknown}, missing {missing})")
    out = []
    for label in sorted(labels):
        item = responses[label]
        if not isinstance(item, dict) or set(item) != {"azimuth_deg", "rating"}:
            raise AnswerError(f"{label}: expected exactly azimuth_deg and rating")
        azimuth = _number(item["azimuth_deg"], f"{label}.azimuth_deg",
                          -AZIMUTH_LIMIT_DEG, AZIMUTH_LIMIT_DEG)
        rating = _number(item["rating"], f"{label}.rating", RATING_MIN, RATING_MAX)
        out.append(Response(label, labels[label], azimuth, rating))
    return out


def direction_error_deg(heard_deg: float, visual_deg: float) -> float:
    """Absolute angle between the heard and the visual azimuth, wrapped to [0, 180]."""
    return abs((heard_deg - visual_deg + 180.0) % 360.0 - 180.0)


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and two-sided confidence interval from Student's t (sample std, n - 1 dof)."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, x.size - 1) * x.std(ddof=1)
                 / math.sqrt(x.size))
    return Estimate(mean, mean - half, mean + half, int(x.size))


def summarise(records: Iterable[AnswerRecord], order: Sequence[str] = ()) -> list[SystemSummary]:
    """Per system: direction error against the visual azimuth and naturalness, with 95% CIs.

    Systems come in `order` (e.g. the evaluation's), others after them by name, the
    reference last.
    """
    by_system: dict[str, list[AnswerRecord]] = {}
    for rec in records:
        by_system.setdefault(rec.system, []).append(rec)
    rank = {name: k for k, name in enumerate(order)}
    names = sorted(by_system, key=lambda s: (s == REFERENCE_SYSTEM, rank.get(s, len(rank)), s))
    out = []
    for name in names:
        recs = by_system[name]
        errors = [direction_error_deg(r.azimuth_deg, r.visual_azimuth_deg)
                  for r in recs if r.visual_azimuth_deg is not None]
        out.append(SystemSummary(name, len(recs), mean_ci(errors),
                                 mean_ci(r.rating for r in recs)))
    return out


def format_summary(summaries: Sequence[SystemSummary]) -> str:
    """A plain-text table of the summary."""

    def cells(e: Estimate) -> str:
        mean = "-" if e.n == 0 else f"{e.mean:.1f}"
        ci = "" if math.isnan(e.ci_low) else f"[{e.ci_low:.1f}, {e.ci_high:.1f}]"
        return f"{mean:>8} {ci:<16}"

    lines = [f"{'system':<14} {'n':>4} {'dir.err':>8} {'95% CI (deg)':<16} "
             f"{'natural':>8} {'95% CI (0-100)':<16}"]
    for s in summaries:
        lines.append(f"{s.system:<14} {s.n_answers:>4} {cells(s.direction_error_deg)} "
                     f"{cells(s.naturalness)}")
    return "\n".join(line.rstrip() for line in lines)


def plot_summary(path: str | Path, summaries: Sequence[SystemSummary], title: str) -> None:
    """Two panels: direction error and naturalness per system, means with 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.system for s in summaries]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    panels = ((axes[0], [s.direction_error_deg for s in summaries],
               "direction error (deg, lower is better)", None),
              (axes[1], [s.naturalness for s in summaries],
               "naturalness (MUSHRA 0-100)", (0, 100)))
    for ax, estimates, label, ylim in panels:
        x = np.arange(len(names))
        means = np.array([e.mean for e in estimates], dtype=float)
        low = np.nan_to_num(means - np.array([e.ci_low for e in estimates], dtype=float))
        high = np.nan_to_num(np.array([e.ci_high for e in estimates], dtype=float) - means)
        ax.bar(x, np.nan_to_num(means), color="tab:blue", alpha=0.7)
        ax.errorbar(x, np.nan_to_num(means), yerr=[low, high], fmt="none", ecolor="k",
                    capsize=5)
        ax.set_xticks(x, [f"{n}\n(n={e.n})" for n, e in zip(names, estimates)])
        ax.set_ylabel(label)
        if ylim:
            ax.set_ylim(*ylim)
    fig.suptitle(f"{title}: listening test, means with 95% confidence intervals")
    fig.savefig(path, dpi=100)
    plt.close(fig)
