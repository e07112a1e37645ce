"""Tests of binaural/listening/trials.py and binaural/listening/store.py (no web server)."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fake_eval_dir import CLIPS, SYSTEMS, expected_answers_per_system, make_eval_dir
from scipy import stats

from binaural.listening.store import AlreadyAnswered, ListeningStore
from binaural.listening.trials import (
    REFERENCE_SYSTEM,
    AnswerError,
    AnswerRecord,
    direction_error_deg,
    load_eval_dir,
    mean_ci,
    plan_trials,
    session_seed,
    summarise,
    validate_responses,
)


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_eval_dir(tmp_path_factory.mktemp("listening"))


def _responses(labels: dict[str, str], azimuth: float = 10.0, rating: float = 50.0) -> dict:
    return {label: {"azimuth_deg": azimuth, "rating": rating} for label in labels}


# ---- the evaluation folder -------------------------------------------------------------


def test_load_eval_dir_reads_info_and_adds_the_reference(eval_dir: Path) -> None:
    clips = load_eval_dir(eval_dir)
    assert [c.clip_id for c in clips] == sorted(CLIPS)
    for clip in clips:
        azimuth, has_ref = CLIPS[clip.clip_id]
        assert clip.visual_azimuth_deg == azimuth
        assert clip.stimuli == SYSTEMS + ((REFERENCE_SYSTEM,) if has_ref else ())
        assert all(clip.audio_path(s).is_file() for s in clip.stimuli)


@pytest.mark.parametrize("change, message", [
    ({"systems": []}, "systems"),
    ({"systems": ["../etc"]}, "systems"),
    ({"systems": ["mono", "reference"]}, "reference"),
    ({"has_reference": "yes"}, "has_reference"),
    ({"visual_azimuth_deg": "left"}, "visual_azimuth_deg"),
    ({"systems": ["mono", "missing"]}, "missing.wav"),
])
def test_load_eval_dir_refuses_bad_info(tmp_path: Path, change: dict, message: str) -> None:
    eval_dir = make_eval_dir(tmp_path, duration_s=0.1)
    info_path = eval_dir / "clips" / "clip-a" / "info.json"
    info = json.loads(info_path.read_text()) | change
    info_path.write_text(json.dumps(info))
    with pytest.raises(ValueError, match=message):
        load_eval_dir(eval_dir)


def test_load_eval_dir_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no clips"):
        load_eval_dir(tmp_path)
    with pytest.raises(NotADirectoryError):
        load_eval_dir(tmp_path / "absent")


# ---- plan, blinding, seeds -----------------------------------------------------------


def test_plan_is_reproducible_by_seed_and_covers_every_stimulus(eval_dir: Path) -> None:
    clips = load_eval_dir(eval_dir)
    plan = plan_trials(clips, seed=3)
    assert plan == plan_trials(clips, seed=3)
    assert sorted(t.clip_id for t in plan) == sorted(CLIPS)
    assert [t.position for t in plan] == list(range(len(CLIPS)))
    for trial in plan:
        clip = next(c for c in clips if c.clip_id == trial.clip_id)
        assert sorted(trial.labels.values()) == sorted(clip.stimuli)
        assert sorted(trial.labels) == list("ABCD"[:len(clip.stimuli)])


def test_plan_randomises_order_and_labels_across_seeds(eval_dir: Path) -> None:
    clips = load_eval_dir(eval_dir)
    orders = {tuple(t.clip_id for t in plan_trials(clips, s)) for s in range(40)}
    behind_a = {plan_trials(clips, s)[0].labels["A"] for s in range(40)}
    assert len(orders) > 3  # 6 possible orders
    assert behind_a >= set(SYSTEMS)  # the first label is not always the same system


def test_session_seed() -> None:
    assert session_seed(7, "alice", 0) == session_seed(7, "alice", 0)
    assert session_seed(7, "alice", 0) != session_seed(7, "alice", 1)
    assert session_seed(7, "alice", 0) != session_seed(7, "bob", 0)
    assert 0 <= session_seed(None, "alice", 0) < 2**32


# ---- answer validation -----------------------------------------------------------------

LABELS = {"A": "dsp", "B": "mono", "C": "reference"}


def test_validate_keeps_the_hidden_system_per_label() -> None:
    out = validate_responses(LABELS, {"A": {"azimuth_deg": 90, "rating": 0},
                                      "B": {"azimuth_deg": -90.0, "rating": 100},
                                      "C": {"azimuth_deg": 12.5, "rating": 55.5}})
    assert [(r.label, r.system, r.azimuth_deg, r.rating) for r in out] == [
        ("A", "dsp", 90.0, 0.0), ("B", "mono", -90.0, 100.0), ("C", "reference", 12.5, 55.5)]


@pytest.mark.parametrize("responses", [
    [],
    {"A": {"azimuth_deg": 0, "rating": 1}},  # labels missing
    _responses(LABELS) | {"D": {"azimuth_deg": 0, "rating": 1}},  # a label not in the trial
    _responses(LABELS, azimuth=90.5),
    _responses(LABELS, azimuth=-91),
    _responses(LABELS, rating=100.01),
    _responses(LABELS, rating=-1),
    _responses(LABELS, rating=float("nan")),
    _responses(LABELS, rating=True),
    _responses(LABELS, azimuth="10"),
    {label: {"azimuth_deg": 0} for label in LABELS},
    {label: {"azimuth_deg": 0, "rating": 1, "system": "dsp"} for label in LABELS},
])
def test_validate_refuses(responses: object) -> None:
    with pytest.raises(AnswerError):
        validate_responses(LABELS, responses)


# ---- statistics --------------------------------------------------------------------------


@pytest.mark.parametrize("heard, visual, expected", [
    (30, 30, 0), (60, -30, 90), (-90, 90, 180), (10, -10, 20), (-80, 170, 110)])
def test_direction_error(heard: float, visual: float, expected: float) -> None:
    assert direction_error_deg(heard, visual) == pytest.approx(expected)


def test_mean_ci_uses_student_t() -> None:
    values = [10.0, 12.0, 9.0, 14.0, 11.0]
    est = mean_ci(values)
    x = np.array(values)
    half = stats.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)
    assert (est.mean, est.n) == (pytest.approx(11.2), 5)
    assert est.ci_low == pytest.approx(11.2 - half) and est.ci_high == pytest.approx(11.2 + half)
    # t is wider than the normal interval for small n
    assert est.ci_high - est.mean > 1.96 * x.std(ddof=1) / math.sqrt(5)
    one = mean_ci([3.0])
    assert one.mean == 3.0 and one.n == 1 and math.isnan(one.ci_low)
    assert mean_ci([]).n == 0


def test_summarise_per_system() -> None:
    def rec(system: str, heard: float, rating: float, visual: float | None = 20.0):
        return AnswerRecord("l", "s", "c", system, visual, heard, rating)

    records = [rec("reference", 20, 95), rec("mono", 0, 30), rec("mono", 40, 50),
               rec("reference", 30, 85), rec("mono", 0, 40, visual=None)]
    by_name = {s.system: s for s in summarise(records)}
    assert list(by_name) == ["mono", "reference"]  # the reference last
    assert by_name["mono"].n_answers == 3
    assert by_name["mono"].direction_error_deg.n == 2  # no visual azimuth: no error
    assert by_name["mono"].direction_error_deg.mean == pytest.approx(20.0)
    assert by_name["mono"].naturalness.mean == pytest.approx(40.0)
    assert by_name["reference"].direction_error_deg.mean == pytest.approx(5.0)
    ordered = summarise(records + [rec("dsp", 0, 1), rec("zeta", 0, 1)], order=["dsp", "mono"])
    assert [s.system for s in ordered] == ["dsp", "mono", "zeta", "reference"]


# ---- the store ------------------------------------------------------------------------------


def test_store_resumes_where_the_session_stopped(eval_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "listening.sqlite"
    plan = plan_trials(load_eval_dir(eval_dir), seed=5)
    store = ListeningStore(path)
    info = store.create_session("alice", 5, plan)
    assert (info.n_trials, info.n_answered, info.done) == (3, 0, False)
    first = store.next_trial(info.session_id)
    assert first.position == 0 and first.labels == dict(plan[0].labels)
    store.record_answer(first, validate_responses(first.labels, _responses(first.labels)))
    with pytest.raises(AlreadyAnswered):
        store.record_answer(first, validate_responses(first.labels, _responses(first.labels)))

    # a new process: the same file, the same session, the next trial in the stored order
    reopened = ListeningStore(path)
    assert reopened.open_session_of("alice").session_id == info.session_id
    second = reopened.next_trial(info.session_id)
    assert (second.position, second.clip_id) == (1, plan[1].clip_id)
    assert reopened.trial(info.session_id, "nope") is None
    assert reopened.trial("other", second.trial_id) is None
    while (trial := reopened.next_trial(info.session_id)) is not None:
        last = reopened.record_answer(trial, validate_responses(trial.labels,
                                                                _responses(trial.labels)))
    assert last.done and reopened.open_session_of("alice") is None
    counts = {}
    for record in reopened.answers():
        counts[record.system] = counts.get(record.system, 0) + 1
    assert counts == expected_answers_per_system()
    assert reopened.counts() == {"listeners": 1, "sessions": 1, "sessions_finished": 1,
                                 "trials_answered": 3, "responses": sum(counts.values())}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"listeners", "sessions", "trials", "answers"}


def test_store_answer_is_visible_to_another_connection_at_once(eval_dir: Path,
                                                               tmp_path: Path) -> None:
    """Committed immediately: a reader sees the answer before the store is closed."""
    store = ListeningStore(tmp_path / "listening.sqlite")
    info = store.create_session("bob", 1, plan_trials(load_eval_dir(eval_dir), seed=1))
    trial = store.next_trial(info.session_id)
    store.record_answer(trial, validate_responses(trial.labels, _responses(trial.labels, 45, 70)))
    with sqlite3.connect(tmp_path / "listening.sqlite") as conn:
        rows = conn.execute("SELECT azimuth_deg, rating FROM answers").fetchall()
    assert rows == [(45.0, 70.0)] * len(trial.labels)
