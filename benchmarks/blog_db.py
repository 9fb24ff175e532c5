"""The blog's database layer against SQLAlchemy Core: time per call, same queries.

    python -m benchmarks.blog_db                                   # SQLite only
    python -m benchmarks.blog_db --postgres postgresql://u@host/db  # and PostgreSQL (emptied!)

Measures ``get_post`` (a primary-key SELECT), ``list_posts`` (20 rows) and
``create_post`` (INSERT ... RETURNING) through ``examples.blog_db.Database`` and
through SQLAlchemy Core (``text()`` queries on a pooled engine: its lightest
form), each on one thread. SQLAlchemy is in the ``bench`` extra, not a
dependency of the blog: this is what chose between the two.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from examples.blog_db import Database

ROUNDS = 2000
SELECT = "SELECT id, title, body, created_at FROM posts WHERE id = :id"
LIST = "SELECT id, title, body, created_at FROM posts ORDER BY id DESC LIMIT 20 OFFSET 0"
INSERT = (
    "INSERT INTO posts (title, body, created_at) VALUES (:t, :b, :c) "
    "RETURNING id, title, body, created_at"
)


def _per_call(fn: Callable[[], Any], rounds: int = ROUNDS) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds * 1e6


def _ours(target: str) -> dict[str, float]:
    db = Database(target)
    db.setup()
    try:
        post_id = db.create_post("t", "b" * 500)["id"]
        for _ in range(30):
            db.create_post("t", "b" * 500)
        return {
            "get_post": _per_call(lambda: db.get_post(post_id)),
            "list_posts": _per_call(lambda: db.list_posts(20, 0), ROUNDS // 4),
            "create_post": _per_call(lambda: db.create_post("t", "b" * 500), ROUNDS // 4),
        }
    finally:
        db.close()


def _sqlalchemy(url: str) -> dict[str, float]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=10)
    select, listing, insert = (sqlalchemy.text(q) for q in (SELECT, LIST, INSERT))

    def get() -> Any:
        with engine.connect() as conn:
            return conn.execute(select, {"id": 1}).mappings().first()

    def list_() -> Any:
        with engine.connect() as conn:
            return list(conn.execute(listing).mappings())

    def create() -> Any:
        with engine.connect() as conn:
            row = {"t": "t", "b": "b" * 500, "c": "2026-01-01T00:00:00+00:00"}
            return conn.execute(insert, row).mappings().first()

    try:
        return {
            "get_post": _per_call(get),
            "list_posts": _per_call(list_, ROUNDS // 4),
            "create_post": _per_call(create, ROUNDS // 4),
        }
    finally:
        engine.dispose()


def _empty_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS api_tokens, users, settings, posts")


def main() -> None:
    """Print microseconds per call for each layer, database and query."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose blog tables may be dropped")
    args = parser.parse_args()
    print(f"{'database':<11} {'layer':<11} {'get_post':>9} {'list_posts':>11} {'create':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name in ("sqlite", "postgresql") if args.postgres else ("sqlite",):
            for layer in ("blog_db", "sqlalchemy"):
                if name == "sqlite":
                    target = str(Path(folder) / f"{layer}.sqlite3")  # a new file per layer
                    sa_url = f"sqlite:///{target}"
                else:
                    target = args.postgres
                    sa_url = target.replace("postgresql://", "postgresql+psycopg://", 1)
                    _empty_postgres(target)
                result = _ours(target)  # on the sqlalchemy run: the same schema and rows
                if layer == "sqlalchemy":
                    result = _sqlalchemy(sa_url)
                print(
                    f"{name:<11} {layer:<11} {result['get_post']:>7.1f}us "
                    f"{result['list_posts']:>9.1f}us {result['create_post']:>6.1f}us"
                )


if __name__ == "__main__":
    main()
