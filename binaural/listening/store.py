"""The listening-test answers in SQLite: listeners, sessions, their trial order, answers.

WAL mode, one short connection per operation and every answer committed at once, so a
server stopped mid-session loses nothing and a resumed session continues at its first
unanswered trial (the trial order is stored when the session starts).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from binaural.listening.trials import AnswerRecord, PlannedTrial, Response

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS listeners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    listener_id INTEGER NOT NULL REFERENCES listeners(id),
    seed INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    position INTEGER NOT NULL,
    clip_id TEXT NOT NULL,
    visual_azimuth_deg REAL,
    labels TEXT NOT NULL,  -- JSON {label: system}: the blinding key
    UNIQUE (session_id, position)
);
CREATE TABLE IF NOT EXISTS answers (
    trial_id TEXT NOT NULL REFERENCES trials(id),
    label TEXT NOT NULL,
    system TEXT NOT NULL,
    azimuth_deg REAL NOT NULL,
    rating REAL NOT NULL,
    answered_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, label)
);
"""


class AlreadyAnswered(Exception):
    """The trial has an answer already; answers are never overwritten."""


@dataclass(frozen=True)
class SessionInfo:
    """Where a session stands."""

    session_id: str
    listener: str
    seed: int
    n_trials: int
    n_answered: int

    @property
    def done(self) -> bool:
        return self.n_answered >= self.n_trials


@dataclass(frozen=True)
class StoredTrial:
    """A trial as stored for a session."""

    trial_id: str
    session_id: str
    position: int
    clip_id: str
    visual_azimuth_deg: float | None
    labels: dict[str, str]
    answered: bool


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ListeningStore:
    """The SQLite file of one evaluation's listening test."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per operation: commit on success, roll back on error, close."""
        conn = sqlite3.connect(self.path, timeout=10.0)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def _session_info(self, conn: sqlite3.Connection, session_id: str) -> SessionInfo | None:
        row = conn.execute(
            "SELECT s.id, l.name, s.seed,"
            " (SELECT COUNT(*) FROM trials t WHERE t.session_id = s.id) AS n_trials,"
            " (SELECT COUNT(DISTINCT a.trial_id) FROM answers a JOIN trials t"
            "   ON a.trial_id = t.id WHERE t.session_id = s.id) AS n_answered"
            " FROM sessions s JOIN listeners l ON s.listener_id = l.id WHERE s.id = ?",
            (session_id,)).fetchone()
        if row is None:
            return None
        return SessionInfo(row["id"], row["name"], row["seed"], row["n_trials"],
                           row["n_answered"])

    def count_sessions(self, listener: str) -> int:
        """How many sessions a listener has started."""
        with self._connect() as conn:
            return conn.execute(
                "SELECT COUNT(*) FROM sessions s JOIN listeners l ON s.listener_id = l.id"
                " WHERE l.name = ?", (listener,)).fetchone()[0]

    def open_session_of(self, listener: str) -> SessionInfo | None:
        """The listener's latest unfinished session, if any."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT s.id FROM sessions s JOIN listeners l ON s.listener_id = l.id"
                " WHERE l.name = ? AND s.finished_at IS NULL"
                " ORDER BY s.created_at DESC, s.rowid DESC LIMIT 1", (listener,)).fetchone()
            return None if row is None else self._session_info(conn, row["id"])

    def create_session(self, listener: str, seed: int,
                       plan: Sequence[PlannedTrial]) -> SessionInfo:
        """Start a session: the listener (created if new) and the whole trial order."""
        if not plan:
            raise ValueError("a session needs at least one trial")
        session_id = secrets.token_hex(8)
        now = _now()
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO listeners (name, created_at) VALUES (?, ?)",
                         (listener, now))
            listener_id = conn.execute("SELECT id FROM listeners WHERE name = ?",
                                       (listener,)).fetchone()[0]
            conn.execute("INSERT INTO sessions (id, listener_id, seed, created_at)"
                         " VALUES (?, ?, ?, ?)", (session_id, listener_id, seed, now))
            conn.executemany(
                "INSERT INTO trials (id, session_id, position, clip_id, visual_azimuth_deg,"
                " labels) VALUES (?, ?, ?, ?, ?, ?)",
                [(secrets.token_hex(8), session_id, t.position, t.clip_id,
                  t.visual_azimuth_deg, json.dumps(dict(t.labels))) for t in plan])
            return self._session_info(conn, session_id)

    def session(self, session_id: str) -> SessionInfo | None:
        with self._connect() as conn:
            return self._session_info(conn, session_id)

    def _trials(self, conn: sqlite3.Connection, where: str,
                args: tuple) -> list[StoredTrial]:
        rows = conn.execute(
            "SELECT t.*, EXISTS (SELECT 1 FROM answers a WHERE a.trial_id = t.id) AS answered"
            f" FROM trials t WHERE {where} ORDER BY t.position", args).fetchall()
        return [StoredTrial(r["id"], r["session_id"], r["position"], r["clip_id"],
                            r["visual_azimuth_deg"], json.loads(r["labels"]), bool(r["answered"]))
                for r in rows]

    def trial(self, session_id: str, trial_id: str) -> StoredTrial | None:
        """A trial of this session (None for another session's or an unknown id)."""
        with self._connect() as conn:
            found = self._trials(conn, "t.session_id = ? AND t.id = ?", (session_id, trial_id))
            return found[0] if found else None

    def next_trial(self, session_id: str) -> StoredTrial | None:
        """The first unanswered trial of the session in its stored order."""
        with self._connect() as conn:
            found = self._trials(
                conn, "t.session_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM answers a WHERE a.trial_id = t.id)", (session_id,))
            return found[0] if found else None

    def record_answer(self, trial: StoredTrial, responses: Sequence[Response]) -> SessionInfo:
        """Store a trial's responses in one transaction, committed before returning."""
        now = _now()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("SELECT 1 FROM answers WHERE trial_id = ?",
                            (trial.trial_id,)).fetchone():
                raise AlreadyAnswered(trial.trial_id)
            conn.executemany(
                "INSERT INTO answers (trial_id, label, system, azimuth_deg, rating, answered_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(trial.trial_id, r.label, r.system, r.azimuth_deg, r.rating, now)
                 for r in responses])
            info = self._session_info(conn, trial.session_id)
            if info.done:
                conn.execute("UPDATE sessions SET finished_at = ? WHERE id = ?",
                             (now, trial.session_id))
            return info

    def answers(self) -> list[AnswerRecord]:
        """Every stored response, in answer order."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT l.name, s.id AS session_id, t.clip_id, a.system, t.visual_azimuth_deg,"
                " a.azimuth_deg, a.rating FROM answers a"
                " JOIN trials t ON a.trial_id = t.id JOIN sessions s ON t.session_id = s.id"
                " JOIN listeners l ON s.listener_id = l.id"
                " ORDER BY a.answered_at, s.id, t.position, a.label").fetchall()
        return [AnswerRecord(r["name"], r["session_id"], r["clip_id"], r["system"],
                             r["visual_azimuth_deg"], r["azimuth_deg"], r["rating"])
                for r in rows]

    def counts(self) -> dict[str, int]:
        """Listeners, sessions (and finished ones), trials answered, responses."""
        queries = {
            "listeners": "SELECT COUNT(*) FROM listeners",
            "sessions": "SELECT COUNT(*) FROM sessions",
            "sessions_finished": "SELECT COUNT(*) FROM sessions WHERE finished_at IS NOT NULL",
            "trials_answered": "SELECT COUNT(DISTINCT trial_id) FROM answers",
            "responses": "SELECT COUNT(*) FROM answers",
        }
        with self._connect() as conn:
            return {key: conn.execute(sql).fetchone()[0] for key, sql in queries.items()}
