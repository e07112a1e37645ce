"""Tests of flows/listen.py: a whole listening session driven in headless Chromium."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fake_eval_dir import expected_answers_per_system, make_eval_dir

from binaural.listening.store import ListeningStore
from flows.listen import SUMMARY_JSON, cmd_listen

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


# ---- headless Chromium ---------------------------------------------------------------------


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=None, open_timeout=20)
        self.last_id = 0

    def call(self, method: str, **params) -> dict:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                        returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait(self, expression: str, timeout_s: float = 15.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                value = self.js(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(expression)

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def click_element(self, selector: str) -> None:
        x, y = self.js(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            e.scrollIntoView({{block: "center"}}); const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        self.click(x, y)

    def close(self) -> None:
        self.ws.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as res:
        return res.read()


class Server:
    """`python -m flows.listen EVAL_DIR` in a subprocess, killable like a crash."""

    def __init__(self, eval_dir: Path, port: int, log: Path) -> None:
        self.args = [sys.executable, "-m", "flows.listen", str(eval_dir), "--port", str(port),
                     "--seed", "7"]
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.args, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                _get(self.url + "/")
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(self.log.read_text())

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when the machine loses power."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _launch_chromium(profile: Path) -> tuple[subprocess.Popen, DevTools]:
    """Headless Chromium with its profile (and crash database) under `profile`."""
    port_file = profile / "DevToolsActivePort"
    port_file.unlink(missing_ok=True)  # a reused profile keeps the last run's port
    env = os.environ | {"XDG_CONFIG_HOME": str(profile / "xdg-config"),
                        "XDG_CACHE_HOME": str(profile / "xdg-cache")}
    proc = subprocess.Popen(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = [t for t in json.loads(_get(f"http://127.0.0.1:{port}/json/list"))
                 if t["type"] == "page"]
        return proc, DevTools(pages[0]["webSocketDebuggerUrl"])
    except BaseException:
        proc.terminate()
        proc.wait(10)
        raise


def _stop_chromium(proc: subprocess.Popen, tools: DevTools) -> None:
    try:
        tools.call("Browser.close")
    except Exception:  # the socket may close before the reply
        pass
    tools.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(10)


AZIMUTHS_DEG = (60, -30, 0, 45, -75)  # per label A, B, ...; + = listener's left
SLIDER_AT = (0.9, 0.25, 0.6, 0.75, 0.1)


def _fill_trial(tools: DevTools) -> tuple[str, dict[str, tuple[float, float]]]:
    """Answer the trial on screen with real clicks; return what the page will send."""
    trial_id = tools.js("document.getElementById('trial').dataset.trialId")
    labels = tools.js("[...document.querySelectorAll('#rows .row')].map(r => r.dataset.label)")
    assert tools.js("document.getElementById('submit').disabled") is True
    given = {}
    for k, label in enumerate(labels):
        row = f"#rows .row[data-label={label}]"
        tools.click_element(f"{row} .play")  # selects the label (playing is optional)
        az = AZIMUTHS_DEG[k]
        x, y = tools.js(f"""(() => {{ const s = document.getElementById('arc');
            const cx = +s.dataset.cx, cy = +s.dataset.cy, r = 0.7 * s.dataset.r;
            const p = s.createSVGPoint(), t = {az} * Math.PI / 180;
            p.x = cx - r * Math.sin(t); p.y = cy - r * Math.cos(t);
            const q = p.matrixTransform(s.getScreenCTM()); return [q.x, q.y]; }})()""")
        tools.click(x, y)
        shown = tools.js(f"document.querySelector('{row} .dir').textContent")
        side = "left" if az > 0 else "right" if az < 0 else "straight ahead"
        assert side in shown, (az, shown)
        x, y = tools.js(f"""(() => {{ const e = document.querySelector('{row} input');
            const r = e.getBoundingClientRect();
            return [r.left + {SLIDER_AT[k]} * r.width, r.top + r.height / 2]; }})()""")
        tools.click(x, y)
        heard = float(tools.js(f"document.querySelector('{row}').dataset.azimuth"))
        rating = float(tools.js(f"document.querySelector('{row} output').textContent"))
        assert abs(heard - az) <= 1.0 and abs(rating - 100 * SLIDER_AT[k]) <= 6
        given[label] = (heard, rating)
    assert tools.js("document.getElementById('submit').disabled") is False
    return trial_id, given


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_whole_session_in_headless_chromium(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    eval_dir = make_eval_dir(tmp_path)
    work = tmp_path_factory.mktemp("browser")  # profile and server log, outside tmp_path
    before = _files(tmp_path)
    server = Server(eval_dir, _free_port(), work / "server.log")
    server.start()
    proc, tools = _launch_chromium(work / "profile")
    submitted: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        tools.call("Page.navigate", url=server.url + "/")
        tools.wait("document.body.dataset.state === 'start'")
        tools.click_element("#listener")
        tools.call("Input.insertText", text="alice")
        tools.click_element("#start-btn")
        tools.wait("document.body.dataset.state === 'trial'")
        # the stimuli load and decode (48 kHz float wavs, 0.5 s)
        assert tools.wait("Object.values(state.audios).every(a => a.duration > 0.4) && "
                          "Object.values(state.audios).length") >= 3
        assert tools.js("document.querySelector('#picture img').naturalWidth") == 320

        trial_id, given = _fill_trial(tools)  # trial 1 of 3
        tools.click_element("#submit")
        tools.wait(f"document.getElementById('trial').dataset.trialId !== '{trial_id}'")
        submitted[trial_id] = given

        trial_id, given = _fill_trial(tools)  # trial 2: the server dies before the submit
        server.kill()
        tools.click_element("#submit")
        tools.wait("document.getElementById('trial-msg').textContent.includes('Not saved')")
        server.start()
        tools.click_element("#submit")  # the answers were kept on the page
        tools.wait(f"document.getElementById('trial').dataset.trialId !== '{trial_id}'")
        submitted[trial_id] = given

        trial_id = tools.js("document.getElementById('trial').dataset.trialId")
        server.kill()  # and again, then the listener reloads the page: it resumes
        server.start()
        tools.call("Page.reload", ignoreCache=True)
        tools.wait(f"document.getElementById('trial').dataset.trialId === '{trial_id}'")
        assert tools.js("document.getElementById('progress').textContent") == "Trial 3 of 3"
        trial_id, given = _fill_trial(tools)
        tools.click_element("#submit")
        tools.wait("document.body.dataset.state === 'done'")
        submitted[trial_id] = given
    finally:
        _stop_chromium(proc, tools)
        server.kill()

    store = ListeningStore(eval_dir / "listening.sqlite")
    assert store.counts() == {"listeners": 1, "sessions": 1, "sessions_finished": 1,
                              "trials_answered": 3,
                              "responses": sum(expected_answers_per_system().values())}
    with store._connect() as conn:
        rows = conn.execute("SELECT trial_id, label, azimuth_deg, rating FROM answers").fetchall()
    assert {r[0]: {} for r in rows}.keys() == submitted.keys()
    for trial_id, label, azimuth, rating in rows:
        assert (azimuth, rating) == submitted[trial_id][label]
    assert any(r[2] > 0 for r in rows if r[1] == "A")  # a click left of centre is + (left)

    args = argparse.Namespace(eval_dir=str(eval_dir), summary=True)
    assert cmd_listen(args) == 0
    assert "1 listeners, 1 sessions (1 finished), 3 trials" in capsys.readouterr().out
    summary = json.loads((eval_dir / SUMMARY_JSON).read_text())
    assert {s: v["n_answers"] for s, v in summary["systems"].items()} == \
        expected_answers_per_system()
    new_files = _files(tmp_path) - before
    assert new_files and all(p.is_relative_to(eval_dir) for p in new_files), new_files
