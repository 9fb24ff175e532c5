"""The blog's storage: posts and settings, behind a small API the web layer calls.

    db = Database("blog.db")              # a SQLite file
    db.setup()                            # at startup, in every process (many at once is safe)
    post = db.create_post("Title", "Body")  # {"id", "title", "body", "created_at"}
    db.get_post(post["id"]), db.list_posts(limit=20, offset=0), db.count_posts()
    db.delete_post(post["id"])            # True if it existed
    db.close()                            # at shutdown

Every query is written once, with ``?`` placeholders, and run by a backend that
owns the connections. Each statement commits on its own (autocommit), so a
writer holds a lock only for one INSERT/DELETE.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Any

Row = dict[str, Any]

# {id} is the one thing the dialects spell differently: an auto-numbered primary key.
SCHEMA = (
    # The ids of deleted posts are never handed out again.
    """CREATE TABLE IF NOT EXISTS posts (
        id          {id},
        title       TEXT NOT NULL,
        body        TEXT NOT NULL,
        created_at  TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS settings (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    )""",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SQLiteBackend:
    """One SQLite connection per thread (sqlite3 connections must not be shared between threads)."""

    # AUTOINCREMENT: never reuse the id of a deleted row (plain rowids may be reused).
    ID_COLUMN = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: each statement commits on its own, so a writer holds
            # the lock only for one INSERT/DELETE; timeout: wait for other writers, don't fail.
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def setup(self, schema: tuple[str, ...], wait: float = 30.0) -> None:
        """Switch the file to WAL, then create the schema (both are no-ops once done).

        When several processes switch a new file to WAL at the same moment, SQLite
        answers "database is locked" at once rather than waiting for the busy
        timeout: retry until the first one is done. ``CREATE TABLE IF NOT EXISTS``
        runs under SQLite's write lock, so concurrent creators simply wait.
        """
        conn = self.connection()
        deadline = time.monotonic() + wait
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        for statement in schema:
            conn.execute(statement.format(id=self.ID_COLUMN))

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        """The first row of a query, or None."""
        row = self.connection().execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Every row of a query."""
        return [dict(row) for row in self.connection().execute(sql, params)]

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        return self.connection().execute(sql, params).rowcount

    def close(self) -> None:
        """Close every thread's connection (at shutdown, when no request runs any more)."""
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class Database:
    """The blog's data (posts, settings) in the SQLite file ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.backend = SQLiteBackend(target)

    def setup(self) -> None:
        """Create the schema if needed; every process calls it at startup."""
        self.backend.setup(SCHEMA)

    def close(self) -> None:
        """Close the connections (at shutdown)."""
        self.backend.close()

    # -- posts --------------------------------------------------------------------------

    def create_post(self, title: str, body: str) -> Row:
        """Store a new post; the stored row (``id``, ``title``, ``body``, ``created_at``)."""
        row = self.backend.one(
            "INSERT INTO posts (title, body, created_at) VALUES (?, ?, ?) "
            "RETURNING id, title, body, created_at",
            (title, body, _now()),
        )
        assert row is not None  # RETURNING always gives the inserted row
        return row

    def get_post(self, post_id: int) -> Row | None:
        """The post ``post_id``, or None."""
        return self.backend.one(
            "SELECT id, title, body, created_at FROM posts WHERE id = ?", (post_id,)
        )

    def list_posts(self, limit: int, offset: int) -> list[Row]:
        """Up to ``limit`` posts, newest first, skipping the ``offset`` newest."""
        return self.backend.all(
            "SELECT id, title, body, created_at FROM posts ORDER BY id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )

    def count_posts(self) -> int:
        """How many posts there are."""
        row = self.backend.one("SELECT count(*) AS n FROM posts")
        assert row is not None
        return int(row["n"])

    def delete_post(self, post_id: int) -> bool:
        """Delete the post ``post_id``; False if there was none."""
        return self.backend.run("DELETE FROM posts WHERE id = ?", (post_id,)) > 0

    # -- settings -----------------------------------------------------------------------

    def stored_secret(self, key: str = "flash_secret") -> str:
        """A random key created once and kept in the database, the same for every process."""
        # ON CONFLICT DO NOTHING: when several processes start at once, the first one's key wins.
        self.backend.run(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, secrets.token_urlsafe(32)),
        )
        row = self.backend.one("SELECT value FROM settings WHERE key = ?", (key,))
        assert row is not None
        return str(row["value"])
