"""The cell store: one SQLite file per report folder, one row per finished unit of work.

Each row is committed as soon as its work finishes, so a killed run loses only what was in
flight, and a re-run skips every key already stored. A ``meta`` row holds the fingerprint of
the result-changing settings; a folder written with other settings is refused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlrobust.errors import CorruptFileError, InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, finished_at REAL NOT NULL);
"""


class CellStore:
    """``cells.sqlite`` in a report folder. Keys are strings such as ``prop/img=3/eps=0.01``."""

    def __init__(self, path: str | Path, fingerprint: str) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CorruptFileError(
                f"{self.path} is not a readable cell store ({exc}); delete it "
                "to start this report afresh."
            ) from exc
        row = self._db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        elif row[0] != fingerprint:
            raise InputError(
                f"{self.path} holds results computed with other settings (model, dataset, "
                "verifier, time limits, steps, seed or mlrobust version differ). Use another "
                "--out folder, or --fresh to discard the stored cells."
            )

    def done(self) -> set[str]:
        return {k for (k,) in self._db.execute("SELECT key FROM cells")}

    def put(self, key: str, kind: str, payload: dict[str, Any]) -> None:
        """Store one finished unit (its own transaction: durable once this returns)."""
        self._db.execute(
            "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?)",
            (key, kind, json.dumps(payload), time.time()),
        )

    def put_many(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            for key, kind, payload in rows:
                self.put(key, kind, payload)

    def payloads(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            k: json.loads(p)
            for k, p in self._db.execute("SELECT key, payload FROM cells WHERE kind=?", (kind,))
        }

    def close(self) -> None:
        self._db.close()
