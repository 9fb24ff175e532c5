"""``app.asgi`` under real servers that send no lifespan events.

``uvicorn --lifespan off`` and Granian's ``--interface asginl`` never call the
app with a ``lifespan`` scope, so twinframe runs startup itself before the
first request and shutdown when the server is stopped (tests/wsapp.py's hooks
append ``<event> <pid>`` lines to events.log). The blog (its tables made at
startup) and the chat (its broker opened at startup) must work as under a
server that sends lifespan.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from realserver import GRANIAN_BASE_ARGS, UVICORN_BASE_ARGS, Server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from examples.blog_db import Database

pytestmark = pytest.mark.servers

LAZY_WARNING = "the ASGI server sent no lifespan events"
NO_LIFESPAN = {
    "uvicorn-lifespan-off": [*UVICORN_BASE_ARGS, "--lifespan", "off"],
    "granian-asginl": [*GRANIAN_BASE_ARGS, "--interface", "asginl"],
}
TIMEOUT = 10


def events(directory: Path) -> list[tuple[str, int]]:
    log = directory / "events.log"
    if not log.exists():
        return []
    return [
        (event, int(pid))
        for event, pid in (line.split() for line in log.read_text().split("\n") if line)
    ]


def _stop(server: Server) -> None:
    # uvicorn re-raises the signal it caught after a graceful shutdown (exit -15).
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)


def _wait_for_port(server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.proc.poll() is None, server.output
        try:
            # (Granian's worker may start after its listener: the backlog holds requests.)
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, server.output
            time.sleep(0.05)


@pytest.mark.parametrize("name", list(NO_LIFESPAN))
def test_startup_once_before_the_first_requests_and_shutdown_on_sigterm(
    server_factory: Callable[..., Server], tmp_path: Path, name: str
) -> None:
    env = {"TWINFRAME_LIFESPAN_DIR": str(tmp_path), "TWINFRAME_SLOW_STARTUP": "0.3"}
    # Not the usual readiness probe (an HTTP request would start the app): wait for the
    # port, then send 32 first requests at once, while the 0.3 s startup runs.
    server = server_factory([*NO_LIFESPAN[name], "wsapp:app.asgi"], env=env, wait=False)
    _wait_for_port(server)
    assert events(tmp_path) == []  # nothing started before a request
    with ThreadPoolExecutor(32) as pool:
        url = server.url + "/pid"
        answers = list(pool.map(lambda _: httpx.get(url, timeout=30).json(), range(32)))
    pid = answers[0]["pid"]
    assert all(answer == {"pid": pid, "started_in": pid} for answer in answers)
    assert events(tmp_path) == [("startup", pid)]  # once, however many requests
    output = server.output
    assert output.count(LAZY_WARNING) == 1, output
    _stop(server)
    assert events(tmp_path) == [("startup", pid), ("shutdown", pid)], server.output
    assert "Traceback" not in server.output


@pytest.mark.parametrize("name", list(NO_LIFESPAN))
def test_failed_startup_answers_500_and_closes_websockets_1011(
    server_factory: Callable[..., Server], tmp_path: Path, name: str
) -> None:
    env = {"TWINFRAME_LIFESPAN_DIR": str(tmp_path), "TWINFRAME_FAIL_STARTUP": "1"}
    server = server_factory([*NO_LIFESPAN[name], "wsapp:app.asgi"], env=env)
    for _ in range(3):
        response = httpx.get(server.url + "/pid", timeout=TIMEOUT)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "unreachable" not in response.text
    with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=TIMEOUT) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
        assert ws.close_code == 1011
    _stop(server)
    output = server.output
    assert output.count("startup failed; every request will answer 500") == 1, output
    assert output.count("ConnectionError: database unreachable (wsapp test)") == 1, output
    assert events(tmp_path) == []  # no startup recorded, no shutdown for it


def test_blog_under_uvicorn_lifespan_off(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    path = str(tmp_path / "blog.sqlite3")  # a new file: only the blog's startup makes tables
    server = server_factory(
        [*NO_LIFESPAN["uvicorn-lifespan-off"], "examples.blog:app.asgi"],
        env={"BLOG_DB": path},
        timeout=60,
    )
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert "No posts yet" in client.get("/").text  # the first request started the app
        db = Database(path)  # the schema is there now: the author and a token go in
        try:
            token = db.create_token(db.create_user("ada", "correct horse battery"))
        finally:
            db.close()
        api = {"Authorization": f"Bearer {token}"}
        created = client.post("/api/posts", json={"title": "lazy", "body": "started"}, headers=api)
        assert created.status_code == 201, created.text
        assert client.get(created.headers["location"]).json()["title"] == "lazy"
        assert client.get("/api/posts").json()["total"] == 1
        assert "lazy" in client.get("/").text
    _stop(server)
    assert server.output.count(LAZY_WARNING) == 1, server.output
    assert "Traceback" not in server.output


def test_chat_under_uvicorn_lifespan_off(server_factory: Callable[..., Server]) -> None:
    server = server_factory(
        [*NO_LIFESPAN["uvicorn-lifespan-off"], "examples.chat:app.asgi"], timeout=60
    )
    url = f"ws://127.0.0.1:{server.port}/ws/kitchen"
    # The first request is a websocket: it starts the app (the broker) itself.
    with connect(f"{url}?name=alice", open_timeout=TIMEOUT) as alice:
        assert json.loads(alice.recv(timeout=TIMEOUT))["type"] == "history"
        assert json.loads(alice.recv(timeout=TIMEOUT))["user"] == "alice"
        with connect(f"{url}?name=bob", open_timeout=TIMEOUT) as bob:
            assert json.loads(bob.recv(timeout=TIMEOUT))["type"] == "history"
            assert json.loads(alice.recv(timeout=TIMEOUT))["user"] == "bob"
            alice.send("hello without lifespan")
            for ws in (alice, bob):
                event = json.loads(ws.recv(timeout=TIMEOUT))
                while event["type"] != "message":
                    event = json.loads(ws.recv(timeout=TIMEOUT))
                assert (event["user"], event["text"]) == ("alice", "hello without lifespan")
        rooms = httpx.get(server.url + "/rooms", timeout=TIMEOUT).json()
        assert rooms == {"rooms": [{"room": "kitchen", "members": 1}]}
    history = httpx.get(server.url + "/rooms/kitchen/messages", timeout=TIMEOUT).json()
    assert [m["text"] for m in history] == ["hello without lifespan"]
    deadline = time.monotonic() + 5
    while LAZY_WARNING not in server.output and time.monotonic() < deadline:
        time.sleep(0.05)
    _stop(server)
    output = server.output
    assert output.count(LAZY_WARNING) == 1, output
    assert "Traceback" not in output
    # The broker's close ran at shutdown: nothing was left to complain about.
    assert Counter(line for line in output.splitlines() if "ERROR" in line) == Counter()
