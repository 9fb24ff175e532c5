"""The blog's two database backends, one interface: the SQL they run is written once.

``connect(target)`` gives a ``SQLiteBackend`` for a file path and a
``PostgresBackend`` for a ``postgresql://`` URL. Both run the same query text,
written with ``?`` placeholders (the PostgreSQL backend turns them into psycopg's
``%s`` once per query), return rows as dicts, and commit each statement on its
own, so a writer holds locks only for one INSERT/DELETE.

    backend.setup(schema)          # at startup: safe when several processes start at once
    backend.one(sql, params)       # the first row (a dict) or None
    backend.all(sql, params)       # every row
    backend.run(sql, params)       # the number of rows changed
    backend.close()                # at shutdown

A schema statement may contain ``{id}``: the backend's auto-numbered primary key
(the one piece of DDL the two spell differently).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

Row = dict[str, Any]
Params = tuple[Any, ...]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_POOL_SIZE = 10


class Backend(Protocol):
    """What the blog's queries need from a database."""

    def setup(self, schema: tuple[str, ...]) -> None: ...
    def one(self, sql: str, params: Params = ()) -> Row | None: ...
    def all(self, sql: str, params: Params = ()) -> list[Row]: ...
    def run(self, sql: str, params: Params = ()) -> int: ...
    def close(self) -> None: ...


def connect(target: str) -> Backend:
    """The backend for ``target``: a ``postgresql://`` URL or a SQLite file path.

    Nothing is opened yet: ``setup()`` does that, in each process (after a fork).
    """
    if target.startswith(POSTGRES_SCHEMES):
        return PostgresBackend(target)
    return SQLiteBackend(target)


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

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        row = self.connection().execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        return [dict(row) for row in self.connection().execute(sql, params)]

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        return self.connection().execute(sql, params).rowcount

    def close(self) -> None:
        """Close every thread's connection (at shutdown, when no request runs any more)."""
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class PostgresBackend:
    """A psycopg connection pool (autocommit connections, rows as dicts).

    The pool holds ``min_size=1`` connection and grows only while every
    connection is busy, up to ``pool_size`` (``$BLOG_POOL_SIZE``, default 10):
    a sync gunicorn worker runs one request at a time and so keeps one
    connection; gthread workers and the ASGI thread pool (40 threads) share up
    to 10, each held for one statement, and a thread finding all busy waits for
    one (up to 30 s). Keep processes x pool_size below the server's
    ``max_connections`` (100 by default).
    """

    # Never reuses a deleted post's id either (a sequence only moves forward).
    ID_COLUMN = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    SCHEMA_LOCK = 0x626C6F67  # "blog": the advisory lock setup() holds while creating tables

    def __init__(self, url: str, pool_size: int | None = None) -> None:
        try:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise RuntimeError(
                "a postgresql:// database needs psycopg and psycopg_pool: "
                "pip install 'twinframe[postgres]'"
            ) from exc
        self.url = url
        size = pool_size or int(os.environ.get("BLOG_POOL_SIZE") or DEFAULT_POOL_SIZE)
        self._sql: dict[str, str] = {}
        self.pool: ConnectionPool[Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=30,
            open=False,  # opened by setup(), in the worker process
            name="blog",
        )

    def _translate(self, sql: str) -> str:
        # PERF: each query text is translated once, then found in a dict.
        translated = self._sql.get(sql)
        if translated is None:
            if "%" in sql:
                raise ValueError(f"write no '%' in the blog's SQL (psycopg reads it): {sql!r}")
            translated = self._sql[sql] = sql.replace("?", "%s")
        return translated

    def setup(self, schema: tuple[str, ...], wait: float = 30.0) -> None:
        """Create the schema under an advisory lock, then open the pool.

        Concurrent ``CREATE TABLE IF NOT EXISTS`` can still fail on PostgreSQL
        (two creators race on the catalog's unique index): the transaction-level
        advisory lock makes processes starting together create it one at a time;
        the later ones find the tables there.
        """
        import psycopg

        # A direct connection, so a wrong URL or password fails with PostgreSQL's own message.
        with psycopg.connect(self.url, connect_timeout=int(wait)) as conn:  # one transaction
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.SCHEMA_LOCK,))
            for statement in schema:
                conn.execute(statement.format(id=self.ID_COLUMN))
        self.pool.open(wait=True, timeout=wait)

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        with self.pool.connection() as conn:
            return conn.execute(self._translate(sql), params).fetchone()

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        with self.pool.connection() as conn:
            return conn.execute(self._translate(sql), params).fetchall()

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self.pool.connection() as conn:
            return conn.execute(self._translate(sql), params).rowcount

    def close(self) -> None:
        """Close the pool's connections (at shutdown)."""
        self.pool.close()
