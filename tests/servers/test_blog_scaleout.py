"""The blog scaled out: three servers, as if on three machines, sharing one PostgreSQL.

Two ``gunicorn -w 2`` and one ``uvicorn``, all started at once on a new database
(five processes creating the schema together), then 10 concurrent writers
spread over them, each logged in once (the session cookie then holds on every
server: they share the key through the database) and holding the API token.
Every post created must be readable through every process afterwards, each
exactly once: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from realserver import GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server
from system_programs import PostgresServer

from examples.blog_db import Database

pytestmark = pytest.mark.servers

COMMANDS = [
    [*GUNICORN_BASE_ARGS, "-w", "2", "examples.blog:app.wsgi"],
    [*GUNICORN_BASE_ARGS, "-w", "2", "examples.blog:app.wsgi"],
    [*UVICORN_BASE_ARGS, "examples.blog:app.asgi"],
]
WRITERS = 10
POSTS_PER_WRITER = 12
AUTHOR, PASSWORD = "ada", "correct horse battery"


def _wait_until_serving(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.output}")
        try:
            if httpx.get(server.url + "/api/posts", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not answer within {timeout}s:\n{server.output}")
        time.sleep(0.1)


def test_three_servers_on_one_postgres_lose_and_duplicate_nothing(
    server_factory: Callable[..., Server], postgres: PostgresServer, tmp_path: Path
) -> None:
    unused = tmp_path / "unused.sqlite3"  # the URL wins over BLOG_DB
    url = postgres.new_database()
    env = {"BLOG_DATABASE_URL": url, "BLOG_DB": str(unused)}
    servers = [server_factory(command, env=env, wait=False) for command in COMMANDS]
    for server in servers:
        _wait_until_serving(server)
    db = Database(url)  # the author, once the servers made the schema, as create-user does
    try:
        db.setup()
        api = {"Authorization": f"Bearer {db.create_token(db.create_user(AUTHOR, PASSWORD))}"}
    finally:
        db.close()

    def write(writer: int) -> list[tuple[int, str]]:
        created = []
        limits = httpx.Limits(max_keepalive_connections=0)  # each request: any worker
        clients = [
            httpx.Client(base_url=server.url, timeout=30, limits=limits) for server in servers
        ]
        try:
            login = clients[writer % len(clients)].post(
                "/login", data={"name": AUTHOR, "password": PASSWORD}
            )
            assert login.status_code == 303, login.text
            for client in clients:  # one login, valid on every server
                client.cookies.set("session", login.cookies["session"])
            for i in range(POSTS_PER_WRITER):
                client = clients[(writer + i) % len(clients)]  # every writer uses every server
                title = f"w{writer}-{i}"
                if i % 2:
                    response = client.post(
                        "/api/posts", json={"title": title, "body": title * 20}, headers=api
                    )
                    assert response.status_code == 201, response.text
                    created.append((response.json()["id"], title))
                else:
                    response = client.post("/posts", data={"title": title, "body": title * 20})
                    assert response.status_code == 303, response.text
                    found = re.fullmatch(r"/posts/(\d+)", response.headers["location"])
                    assert found is not None
                    created.append((int(found[1]), title))
        finally:
            for client in clients:
                client.close()
        return created

    with ThreadPoolExecutor(WRITERS) as pool:
        created = [post for batch in pool.map(write, range(WRITERS)) for post in batch]
    expected = {(f"w{w}-{i}") for w in range(WRITERS) for i in range(POSTS_PER_WRITER)}
    assert {title for _, title in created} == expected
    assert len({post_id for post_id, _ in created}) == len(created) == len(expected)

    for server in servers:  # every process sees every post, each once
        with httpx.Client(base_url=server.url, timeout=30) as client:
            seen = []
            for offset in range(0, len(expected), 100):
                page = client.get("/api/posts", params={"limit": 100, "offset": offset}).json()
                assert page["total"] == len(expected), server.url
                seen += page["posts"]
            assert sorted((p["id"], p["title"]) for p in seen) == sorted(created), server.url
            assert all(p["body"] == p["title"] * 20 for p in seen)
            for post_id, title in created[::7]:  # and by id, through the HTML page too
                assert client.get(f"/api/posts/{post_id}").json()["title"] == title
                assert client.get(f"/posts/{post_id}").status_code == 200

    for server in servers:
        assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM
        assert "Traceback" not in server.output, server.output
    assert not unused.exists()
