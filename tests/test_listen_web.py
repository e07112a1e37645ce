"""Tests of flows/listen.py: the JSON API (a whole session in a browser: test_listen_browser.py)."""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_eval_dir import expected_answers_per_system, make_eval_dir

from flows.listen import SUMMARY_JSON, SUMMARY_PNG, add_listen_parser, build_app, cmd_listen

with warnings.catch_warnings():  # Starlette 1.10 prefers httpx2 over the installed httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient



@pytest.fixture()
def eval_dir(tmp_path: Path) -> Path:
    return make_eval_dir(tmp_path)


@pytest.fixture()
def client(eval_dir: Path) -> Iterator[TestClient]:
    with TestClient(build_app(eval_dir, seed=1), base_url="http://127.0.0.1") as c:
        yield c


def _start(client: TestClient, listener: str = "alice", **extra) -> dict:
    res = client.post("/api/sessions", json={"listener": listener, **extra})
    assert res.status_code in (200, 201), res.text
    return res.json()


def _answer(trial: dict, azimuth: float = 20.0, rating: float = 60.0) -> dict:
    return {"trial_id": trial["trial_id"],
            "responses": {label: {"azimuth_deg": azimuth, "rating": rating}
                          for label in trial["labels"]}}


# ---- the API ---------------------------------------------------------------------------------


def test_session_start_resume_and_blind_trials(client: TestClient) -> None:
    info = _start(client)
    assert (info["n_trials"], info["n_answered"], info["resumed"]) == (3, 0, False)
    sid = info["session_id"]
    nxt = client.get(f"/api/sessions/{sid}/next").json()
    trial = nxt["trial"]
    text = json.dumps(nxt)
    for system in ("mono", "dsp", "model", "reference"):  # blind: no system names, no wavs
        assert system not in text
    assert ".wav" not in text
    audio = client.get(trial["audio_urls"]["A"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF" and "dsp" not in audio.headers.get("etag", "")
    assert client.get(trial["frame_url"]).headers["content-type"] == "image/png"

    assert client.post(f"/api/sessions/{sid}/answers", json=_answer(trial)).status_code == 201
    assert client.post(f"/api/sessions/{sid}/answers", json=_answer(trial)).status_code == 409
    again = _start(client)  # the same listener resumes the unfinished session
    assert (again["session_id"], again["n_answered"], again["resumed"]) == (sid, 1, True)
    assert client.get(f"/api/sessions/{sid}/next").json()["trial"]["position"] == 1
    fresh = _start(client, new=True)
    assert fresh["session_id"] != sid and fresh["n_answered"] == 0


def test_answers_are_validated(client: TestClient) -> None:
    sid = _start(client)["session_id"]
    trial = client.get(f"/api/sessions/{sid}/next").json()["trial"]
    other = _start(client, "bob")["session_id"]
    other_trial = client.get(f"/api/sessions/{other}/next").json()["trial"]
    url = f"/api/sessions/{sid}/answers"
    unknown_label = _answer(trial)
    unknown_label["responses"]["Z"] = {"azimuth_deg": 0, "rating": 0}
    cases = [
        ({"trial_id": "deadbeef", "responses": {}}, 404),  # an unknown trial is refused
        (_answer(other_trial), 404),  # another session's trial
        (unknown_label, 422),
        (_answer(trial, azimuth=95), 422),
        (_answer(trial, rating=101), 422),
        (_answer(trial) | {"extra": 1}, 422),
    ]
    for body, status in cases:
        assert client.post(url, json=body).status_code == status, body
    assert client.post(url, content=b"not json").status_code == 400
    assert client.post(url, content=b"[" * 70000).status_code == 413  # body size limit
    assert client.post("/api/sessions/nope/answers", json=_answer(trial)).status_code == 404
    assert client.post("/api/sessions", json={"listener": "  "}).status_code == 422
    assert client.get(f"/api/sessions/{sid}/trials/{trial['trial_id']}/audio/Z").status_code == 404
    assert client.get(f"/api/sessions/{other}/trials/{trial['trial_id']}/audio/A"
                      ).status_code == 404
    assert client.get(f"/api/sessions/{sid}").json()["n_answered"] == 0  # nothing stored


@pytest.mark.parametrize("path", [
    "/media/clips/../listening.sqlite",
    "/media/clips/%2e%2e/listening.sqlite",
    "/media/clips/..%2f..%2f..%2fetc/passwd",
    "/media/clips/clip-a/../../metrics.json",
    "/media/%2Fetc%2Fpasswd",
    "/media/clips/clip-a/dsp.wav",  # audio only by blind label
    "/media/clips/clip-a/info.json",
    "/static/../listen.py",
])
def test_no_path_traversal(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_muted_video_is_offered_when_present(eval_dir: Path) -> None:
    for clip in ("clip-a", "clip-b", "clip-c"):
        (eval_dir / "clips" / clip / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with TestClient(build_app(eval_dir, seed=1), base_url="http://127.0.0.1") as client:
        sid = _start(client)["session_id"]
        trial = client.get(f"/api/sessions/{sid}/next").json()["trial"]
        assert trial["video_url"].endswith("/video.mp4")
        assert client.get(trial["video_url"]).headers["content-type"] == "video/mp4"


def test_foreign_host_header_is_refused(client: TestClient) -> None:
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_summary_counts_and_files(eval_dir: Path, capsys: pytest.CaptureFixture) -> None:
    with TestClient(build_app(eval_dir, seed=2), base_url="http://127.0.0.1") as client:
        for listener in ("alice", "bob"):
            sid = _start(client, listener)["session_id"]
            while not (nxt := client.get(f"/api/sessions/{sid}/next").json())["done"]:
                res = client.post(f"/api/sessions/{sid}/answers", json=_answer(nxt["trial"]))
                assert res.status_code == 201
    parser = argparse.ArgumentParser()
    add_listen_parser(parser.add_subparsers())
    args = parser.parse_args(["listen", str(eval_dir), "--summary"])
    assert args.port == 8765 and args.host == "127.0.0.1"
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "2 listeners, 2 sessions (2 finished), 6 trials" in out
    rows = [line.split()[:2] for line in out.splitlines()[2:6]]
    assert rows == [["mono", "6"], ["dsp", "6"], ["model", "6"], ["reference", "4"]]
    summary = json.loads((eval_dir / SUMMARY_JSON).read_text())
    expected = {s: 2 * n for s, n in expected_answers_per_system().items()}
    assert {s: v["n_answers"] for s, v in summary["systems"].items()} == expected
    # every answer said 20 deg: the error is |20 - visual| averaged over the clips
    assert summary["systems"]["mono"]["direction_error_deg"]["mean"] == pytest.approx(
        (10 + 65 + 20) / 3, abs=1e-3)
    assert summary["systems"]["mono"]["naturalness"]["mean"] == pytest.approx(60.0)
    assert (eval_dir / SUMMARY_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_without_answers(tmp_path: Path) -> None:
    eval_dir = make_eval_dir(tmp_path)
    args = argparse.Namespace(eval_dir=str(eval_dir), summary=True, port=8765,
                              host="127.0.0.1", seed=None)
    with pytest.raises(FileNotFoundError):
        cmd_listen(args)
    build_app(eval_dir)  # creates the empty store
    assert cmd_listen(args) == 1
