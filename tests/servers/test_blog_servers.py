"""examples/blog.py under real gunicorn, uvicorn and granian, one and several worker processes.

Each server is the command the README and docs/examples.md give (plus a loopback
port), started from the repository root on a fresh SQLite file holding the
author's account (as ``python -m examples.blog create-user`` makes it).
"""

from __future__ import annotations

import re
import signal
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from realserver import GRANIAN_BASE_ARGS, GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server

from examples.blog_db import Database

pytestmark = pytest.mark.servers


COMMANDS = {
    "gunicorn": [*GUNICORN_BASE_ARGS, "examples.blog:app.wsgi"],
    "uvicorn": [*UVICORN_BASE_ARGS, "examples.blog:app.asgi"],
    "gunicorn-w4": [*GUNICORN_BASE_ARGS, "-w", "4", "examples.blog:app.wsgi"],
    "gunicorn-gthread": [
        *GUNICORN_BASE_ARGS,
        *("-w", "2", "--threads", "4"),
        "examples.blog:app.wsgi",
    ],
    "uvicorn-workers4": [*UVICORN_BASE_ARGS, "--workers", "4", "examples.blog:app.asgi"],
    "granian-wsgi": [*GRANIAN_BASE_ARGS, "--interface", "wsgi", "examples.blog:app.wsgi"],
    "granian-asgi": [*GRANIAN_BASE_ARGS, "--interface", "asgi", "examples.blog:app.asgi"],
    "granian-wsgi-workers2": [
        *GRANIAN_BASE_ARGS,
        *("--interface", "wsgi", "--workers", "2"),
        "examples.blog:app.wsgi",
    ],
    "granian-asgi-workers2": [
        *GRANIAN_BASE_ARGS,
        *("--interface", "asgi", "--workers", "2"),
        "examples.blog:app.asgi",
    ],
    # waitress-serve, run as `python -m waitress` (the same program).
    "waitress": ["waitress", "--listen=127.0.0.1:{port}", "examples.blog:app.wsgi"],
}
WRITERS = 8
POSTS_PER_WRITER = 15
AUTHOR, PASSWORD = "ada", "correct horse battery"


def _start(
    server_factory: Callable[..., Server], tmp_path: Path, name: str, database_url: str = ""
) -> tuple[Server, str]:
    """The server, and an API token for the author account made before it started."""
    path = str(tmp_path / "blog.sqlite3")
    db = Database(database_url or path)
    try:
        db.setup()
        token = db.create_token(db.create_user(AUTHOR, PASSWORD))
    finally:
        db.close()
    env = {"BLOG_DB": path, "BLOG_DATABASE_URL": database_url}
    return server_factory(COMMANDS[name], env=env, timeout=60), token


def _log_in(client: httpx.Client) -> None:
    response = client.post("/login", data={"name": AUTHOR, "password": PASSWORD})
    assert response.status_code == 303, response.text
    assert client.cookies.get("session")


def _stop_cleanly(server: Server) -> None:
    # uvicorn re-raises the signal it caught after a graceful shutdown (exit -15).
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in server.output, server.output


@pytest.mark.parametrize(
    ("name", "database"),
    [
        *((name, "sqlite") for name in COMMANDS),
        ("gunicorn", "postgresql"),
        ("uvicorn", "postgresql"),
    ],
)
def test_blog_html_and_json(
    server_factory: Callable[..., Server],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    name: str,
    database: str,
) -> None:
    url = request.getfixturevalue("postgres").new_database() if database == "postgresql" else ""
    server, token = _start(server_factory, tmp_path, name, url)
    api = {"Authorization": f"Bearer {token}"}
    # No keep-alive: with several workers, each request may land on another process,
    # which is what the session cookie (signed with a key every worker shares) must survive.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=server.url, timeout=15, limits=limits) as client:
        assert "No posts yet" in client.get("/").text
        css = client.get("/static/style.css", headers={"Accept-Encoding": "identity"})
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.headers["cache-control"] == "public, max-age=3600"
        cached = client.get("/static/style.css", headers={"If-None-Match": css.headers["etag"]})
        assert cached.status_code == 304
        part = client.get("/static/style.css", headers={"Range": "bytes=0-9"})
        assert (part.status_code, part.content) == (206, css.content[:10])
        head = client.head("/static/style.css", headers={"Accept-Encoding": "identity"})
        assert (head.content, head.headers["content-length"]) == (b"", str(len(css.content)))

        assert client.post("/posts", data={"title": "anonymous", "body": ""}).status_code == 303
        assert client.post("/api/posts", json={"title": "x", "body": ""}).status_code == 401
        forged = client.post(
            "/posts", data={"title": "x", "body": ""}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert forged.status_code == 403
        _log_in(client)
        assert "Logged in as ada" in client.get("/").text

        for i in range(5):  # HTML: create, see the flash once, list, delete
            created = client.post("/posts", data={"title": f"<Post {i}>", "body": "text"})
            assert created.status_code == 303
            location = created.headers["location"]
            page = client.get(location)
            assert page.status_code == 200
            assert "<h1>&lt;Post " in page.text
            assert '<p class="flash" role="status">Post created</p>' in page.text
            assert "Post created" not in client.get(location).text
        assert client.get("/").text.count('<li><a href="/posts/') == 5
        assert client.post(f"{location}/delete").status_code == 303
        assert client.get(location).status_code == 404
        assert client.post("/posts", data={"title": "", "body": "x"}).status_code == 400

        post = client.post("/api/posts", json={"title": "json", "body": "api"}, headers=api)
        assert post.status_code == 201
        url = post.headers["location"]
        assert client.get(url).json() == post.json()
        listing = client.get("/api/posts", params={"limit": 2}).json()
        assert listing["total"] == 5
        assert [p["title"] for p in listing["posts"]] == ["json", "<Post 3>"]
        assert client.get("/api/posts?limit=1000").status_code == 400
        bad = client.post(
            "/api/posts", content=b"{", headers={"content-type": "application/json", **api}
        )
        assert (bad.status_code, bad.headers["content-type"]) == (400, "application/problem+json")
        assert client.delete(url).status_code == 401
        assert client.delete(url, headers=api).status_code == 204
        assert client.delete(url, headers=api).status_code == 404
        assert client.post("/logout").status_code == 303
        assert "Log out" not in client.get("/").text
        assert client.get("/static/%2e%2e/blog.py").status_code in (400, 404)
        assert client.get("/api/posts/99999999999999999999").status_code == 404  # not a 500
        assert client.get("/posts/99999999999999999999").status_code == 404
    _stop_cleanly(server)


@pytest.mark.parametrize(
    "name",
    [
        "gunicorn-w4",
        "gunicorn-gthread",
        "uvicorn-workers4",
        "granian-wsgi-workers2",
        "granian-asgi-workers2",
    ],
)
def test_concurrent_writers_lose_nothing(
    server_factory: Callable[..., Server], tmp_path: Path, name: str
) -> None:
    server, token = _start(server_factory, tmp_path, name)
    api = {"Authorization": f"Bearer {token}"}

    def write(writer: int) -> list[int]:
        ids = []
        limits = httpx.Limits(max_keepalive_connections=0)  # spread over the workers
        with httpx.Client(base_url=server.url, timeout=30, limits=limits) as client:
            _log_in(client)
            for i in range(POSTS_PER_WRITER):
                title = f"w{writer}-{i}"
                if i % 2:
                    response = client.post(
                        "/api/posts", json={"title": title, "body": "b" * 500}, headers=api
                    )
                    assert response.status_code == 201, response.text
                    ids.append(response.json()["id"])
                else:
                    response = client.post("/posts", data={"title": title, "body": "b" * 500})
                    assert response.status_code == 303, response.text
                    ids.append(int(re.fullmatch(r"/posts/(\d+)", response.headers["location"])[1]))
        return ids

    with ThreadPoolExecutor(WRITERS) as pool:
        ids = [i for batch in pool.map(write, range(WRITERS)) for i in batch]
    expected = {f"w{w}-{i}" for w in range(WRITERS) for i in range(POSTS_PER_WRITER)}
    assert len(set(ids)) == len(expected)

    with httpx.Client(base_url=server.url, timeout=15) as client:
        seen = []
        for offset in range(0, len(expected), 100):
            page = client.get("/api/posts", params={"limit": 100, "offset": offset}).json()
            assert page["total"] == len(expected)
            seen += page["posts"]
    assert {p["title"] for p in seen} == expected
    assert {p["id"] for p in seen} == set(ids)
    assert all(p["body"] == "b" * 500 for p in seen)
    _stop_cleanly(server)

    conn = sqlite3.connect(tmp_path / "blog.sqlite3")  # and it is all on disk
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == len(expected)
    finally:
        conn.close()
