"""The result store: one SQLite file per run (an evaluate report folder's ``cells.sqlite``, a
portfolio run's store), one row per finished unit of work.

Each row is committed as soon as its work finishes, so a killed run loses only what was in
flight, and a re-run skips every key already stored. A ``meta`` row holds the fingerprint of
the result-changing settings; a store written with other settings is refused. Only the
driver process writes it (workers return results).
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


class Store:
    """One SQLite store. Keys are strings such as ``cell/img=3/eps=0.01/label=2``; each row
    has a ``kind`` (``attack``, ``cell``, ``run``, ...) and a JSON payload."""

    def __init__(
        self,
        path: str | Path,
        fingerprint: str,
        mismatch_hint: str = "Use another --out folder, or --fresh to discard the stored cells.",
    ) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CorruptFileError(
                f"{self.path} is not a readable result store ({exc}); delete it "
                "to start this run afresh."
            ) from exc
        row = self._db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        elif row[0] != fingerprint:
            raise InputError(
                f"{self.path} holds results computed with other settings (model, dataset, "
                "verifier, time limits, steps, seed or mlrobust version differ). " + mismatch_hint
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

    def delete(self, keys: Iterable[str]) -> None:
        """Forget these units (they run again on the next pass)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM cells WHERE key=?", [(k,) for k in keys])

    def close(self) -> None:
        self._db.close()


def read_payloads(path: str | Path, kind: str) -> dict[str, dict[str, Any]] | None:
    """The payloads of one kind in the store at ``path``, opened read-only; None when the file
    is an SQLite database without a result table (e.g. another tool's)."""
    import contextlib

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master")}
            if "cells" not in tables:
                return None
            rows = db.execute("SELECT key, payload FROM cells WHERE kind=?", (kind,))
            return {k: json.loads(p) for k, p in rows}
    except sqlite3.DatabaseError as exc:
        raise CorruptFileError(f"{path} is not a readable result store ({exc}).") from exc
