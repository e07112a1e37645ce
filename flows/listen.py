"""`binaural listen EVAL_DIR`: a blind listening test in a local web page, and its summary.

    binaural listen EVAL_DIR [--port P] [--host H] [--seed S]   serve the test
    binaural listen EVAL_DIR --summary                          print and plot the results

The page (flows/listen_static/) plays each clip's systems under neutral labels; answers go
to EVAL_DIR/listening.sqlite as they are given. Only EVAL_DIR is read and written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from binaural.listening.store import AlreadyAnswered, ListeningStore, SessionInfo, StoredTrial
from binaural.listening.trials import (
    AnswerError,
    EvalClip,
    format_summary,
    load_eval_dir,
    plan_trials,
    plot_summary,
    session_seed,
    summarise,
    validate_responses,
)

STATIC_DIR = Path(__file__).with_name("listen_static")
STORE_NAME = "listening.sqlite"
SUMMARY_JSON = "listening_summary.json"
SUMMARY_PNG = "listening_summary.png"
DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 1024
# What /media/ may serve from EVAL_DIR/clips: pictures only (audio goes by blind label).
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".mp4": "video/mp4"}
_LISTENER_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)


def _json(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=_NO_STORE)


def resolve_inside(root: Path, relative: str) -> Path | None:
    """`root/relative` if it is a file inside `root` (after resolving links), else None."""
    root = root.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _status(info: SessionInfo) -> dict[str, Any]:
    return {"session_id": info.session_id, "listener": info.listener,
            "n_trials": info.n_trials, "n_answered": info.n_answered, "done": info.done}


class ListeningTest:
    """The web app's state: the evaluation's clips and the answer store."""

    def __init__(self, eval_dir: str | Path, seed: int | None = None) -> None:
        self.eval_dir = Path(eval_dir).resolve()
        self.clips: dict[str, EvalClip] = {c.clip_id: c for c in load_eval_dir(self.eval_dir)}
        self.seed = seed
        self.store = ListeningStore(self.eval_dir / STORE_NAME)

    def _media_url(self, path: Path) -> str | None:
        if not path.is_file():
            return None
        return "/media/" + quote(path.relative_to(self.eval_dir).as_posix())

    def trial_payload(self, trial: StoredTrial, info: SessionInfo) -> dict[str, Any]:
        """What the page needs for one trial; system names stay on the server."""
        clip = self.clips.get(trial.clip_id)
        base = f"/api/sessions/{trial.session_id}/trials/{trial.trial_id}/audio"
        return {
            "trial_id": trial.trial_id,
            "position": trial.position,
            "n_trials": info.n_trials,
            "labels": sorted(trial.labels),
            "audio_urls": {label: f"{base}/{label}" for label in sorted(trial.labels)},
            "frame_url": clip and self._media_url(clip.frame_path),
            "video_url": clip and self._media_url(clip.video_path),
        }

    async def start_session(self, request: Request) -> Response:
        """POST {listener, new?}: resume the listener's unfinished session or start one."""
        body = await _read_json(request)
        if isinstance(body, Response):
            return body
        listener = body.get("listener")
        if not isinstance(listener, str) or not _LISTENER_NAME.match(listener.strip()):
            return _error(422, "listener: a name of 1-64 printable characters")
        listener = listener.strip()
        if not body.get("new"):
            info = self.store.open_session_of(listener)
            if info is not None:
                return _json({**_status(info), "resumed": True})
        seed = session_seed(self.seed, listener, self.store.count_sessions(listener))
        info = self.store.create_session(listener, seed, plan_trials(list(self.clips.values()),
                                                                     seed))
        return _json({**_status(info), "resumed": False}, status=201)

    async def session_status(self, request: Request) -> Response:
        info = self.store.session(request.path_params["session_id"])
        if info is None:
            return _error(404, "unknown session")
        return _json(_status(info))

    async def next_trial(self, request: Request) -> Response:
        info = self.store.session(request.path_params["session_id"])
        if info is None:
            return _error(404, "unknown session")
        trial = self.store.next_trial(info.session_id)
        if trial is None:
            return _json({"done": True, "session": _status(info)})
        return _json({"done": False, "session": _status(info),
                      "trial": self.trial_payload(trial, info)})

    async def submit_answer(self, request: Request) -> Response:
        """POST {trial_id, responses: {label: {azimuth_deg, rating}}} for a trial of the session."""
        info = self.store.session(request.path_params["session_id"])
        if info is None:
            return _error(404, "unknown session")
        body = await _read_json(request)
        if isinstance(body, Response):
            return body
        trial_id = body.get("trial_id")
        trial = (self.store.trial(info.session_id, trial_id) if isinstance(trial_id, str)
                 else None)
        if trial is None:
            return _error(404, "unknown trial for this session")
        if set(body) != {"trial_id", "responses"}:
            return _error(422, "expected exactly trial_id and responses")
        try:
            responses = validate_responses(trial.labels, body["responses"])
        except AnswerError as exc:
            return _error(422, str(exc))
        try:
            info = self.store.record_answer(trial, responses)
        except AlreadyAnswered:
            return _error(409, "this trial is answered already")
        return _json(_status(info), status=201)

    async def audio(self, request: Request) -> Response:
        """A stimulus by its blind label; the file name never reaches the page."""
        p = request.path_params
        trial = self.store.trial(p["session_id"], p["trial_id"])
        if trial is None or p["label"] not in trial.labels or trial.clip_id not in self.clips:
            return _error(404, "no such stimulus")
        path = resolve_inside(self.eval_dir,
                              f"clips/{trial.clip_id}/{trial.labels[p['label']]}.wav")
        if path is None:
            return _error(404, "no such stimulus")
        return FileResponse(path, media_type="audio/wav", headers=_NO_STORE)

    async def media(self, request: Request) -> Response:
        """Frames and muted videos of EVAL_DIR/clips; anything else (or outside) is refused."""
        relative = request.path_params["path"]
        prefix = "clips/"
        path = (resolve_inside(self.eval_dir / "clips", relative[len(prefix):])
                if relative.startswith(prefix) else None)
        if path is None or path.suffix.lower() not in MEDIA_TYPES:
            return _error(404, "not found")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix.lower()])


async def _read_json(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return body


async def _index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=_NO_STORE)


def build_app(eval_dir: str | Path, seed: int | None = None,
              allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette app of one evaluation's listening test."""
    test = ListeningTest(eval_dir, seed)
    session = "/api/sessions/{session_id:str}"
    routes = [
        Route("/", _index),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/api/sessions", test.start_session, methods=["POST"]),
        Route(session, test.session_status),
        Route(f"{session}/next", test.next_trial),
        Route(f"{session}/answers", test.submit_answer, methods=["POST"]),
        Route(f"{session}/trials/{{trial_id:str}}/audio/{{label:str}}", test.audio),
        Route("/media/{path:path}", test.media),
    ]
    # Refuse other Host headers (DNS rebinding of a page on 127.0.0.1).
    hosts = allowed_hosts or [DEFAULT_HOST, "localhost"]
    app = Starlette(routes=routes, max_body_size=MAX_BODY_BYTES,
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])
    app.state.test = test
    return app


def serve(eval_dir: str | Path, host: str, port: int, seed: int | None) -> None:
    """Run the listening test until interrupted (Ctrl+C)."""
    import uvicorn

    hosts = ["*"] if host in ("0.0.0.0", "::") else [host, DEFAULT_HOST, "localhost"]
    app = build_app(eval_dir, seed, hosts)
    test: ListeningTest = app.state.test
    print(f"listening test of {len(test.clips)} clips on http://{host}:{port}/ "
          f"(answers in {test.store.path}); Ctrl+C to stop", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def _system_order(eval_dir: Path) -> list[str]:
    """The evaluation's systems in the order its clips list them (none if unreadable)."""
    try:
        clips = load_eval_dir(eval_dir)
    except (OSError, ValueError):
        return []
    return list(dict.fromkeys(s for clip in clips for s in clip.systems))


def write_summary(eval_dir: str | Path) -> dict[str, Any] | None:
    """Print the per-system table, write the JSON and the plot; None when nothing is stored."""
    eval_dir = Path(eval_dir)
    path = eval_dir / STORE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no listening test here yet (binaural listen "
                                f"{eval_dir})")
    store = ListeningStore(path)
    records = store.answers()
    if not records:
        return None
    summaries = summarise(records, _system_order(eval_dir))
    result = {
        "eval_dir": str(eval_dir),
        "counts": store.counts(),
        "confidence": 0.95,
        "direction_error": "absolute difference between heard and visual azimuth (deg)",
        "systems": {s.system: {"n_answers": s.n_answers,
                               "direction_error_deg": s.direction_error_deg.as_dict(),
                               "naturalness": s.naturalness.as_dict()} for s in summaries},
    }
    _write_atomic(eval_dir / SUMMARY_JSON,
                  lambda p: p.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n"))
    _write_atomic(eval_dir / SUMMARY_PNG,
                  lambda p: plot_summary(p, summaries, eval_dir.resolve().name))
    counts = result["counts"]
    print(f"{counts['listeners']} listeners, {counts['sessions']} sessions "
          f"({counts['sessions_finished']} finished), {counts['trials_answered']} trials")
    print(format_summary(summaries))
    print(f"written {eval_dir / SUMMARY_JSON} and {eval_dir / SUMMARY_PNG}")
    return result


def cmd_listen(args: argparse.Namespace) -> int:
    """Serve the test, or with --summary print and plot its results."""
    if args.summary:
        if write_summary(args.eval_dir) is None:
            print(f"no answers yet in {Path(args.eval_dir) / STORE_NAME}")
            return 1
        return 0
    if not 0 < args.port < 65536:
        raise ValueError(f"invalid port {args.port}")
    serve(args.eval_dir, args.host, args.port, args.seed)
    return 0


def add_listen_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `listen` on the `binaural` command line."""
    p = subparsers.add_parser("listen", help="blind listening test of an evaluation folder")
    p.add_argument("eval_dir", help="a folder written by `binaural evaluate`")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--summary", action="store_true",
                   help="print per-system results with 95%% CIs and write the plot")
    p.add_argument("--seed", type=int, default=None,
                   help="reproducible trial orders (default: random per session)")
    p.set_defaults(func=cmd_listen)


def main(argv: list[str] | None = None) -> int:
    """`python -m flows.listen ...`: the same as `binaural listen ...`."""
    from flows.commands import module_main

    return module_main(add_listen_parser, "listen", argv)


if __name__ == "__main__":
    from flows.environment import run_as_prepared

    run_as_prepared("flows.listen")
    sys.exit(main())
