"""Server-sent events and after_response under real servers: gunicorn with gthread and
gevent workers and granian (app.wsgi), uvicorn, hypercorn and granian (app.asgi); app:
tests/servers/sseapp.py.

Each event reaches the client while the producer still runs (through GZip), pings keep a silent
stream alive, a client that hangs up stops the producer (its ``finally`` runs)
with nothing logged as an error, Last-Event-ID resumes, and after-response work
runs after the answer with its failure logged.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from realserver import (
    GRANIAN_BASE_ARGS,
    GUNICORN_BASE_ARGS,
    UVICORN_BASE_ARGS,
    Server,
    start_server,
)

from twinframe import Event
from twinframe.sse import parse_events
from twinframe.testing import iter_events

pytestmark = pytest.mark.servers

APP = "servers.sseapp:app"
SERVERS = {
    "gunicorn-gthread": [
        *GUNICORN_BASE_ARGS,
        *("--worker-class", "gthread", "--workers", "1", "--threads", "8"),
        f"{APP}.wsgi",
    ],
    "gunicorn-gevent": [*GUNICORN_BASE_ARGS, "-k", "gevent", f"{APP}.wsgi"],
    "uvicorn": [*UVICORN_BASE_ARGS, f"{APP}.asgi"],
    "hypercorn": ["hypercorn", "--bind", "127.0.0.1:{port}", f"{APP}.asgi"],
    "granian-asgi": [*GRANIAN_BASE_ARGS, "--interface", "asgi", f"{APP}.asgi"],
    "granian-wsgi": [*GRANIAN_BASE_ARGS, "--interface", "wsgi", f"{APP}.wsgi"],
}
WAIT = 15


class Running:
    def __init__(self, server: Server, directory: Path) -> None:
        self.server, self.dir = server, directory

    def marker(self, name: str, timeout: float = WAIT) -> str | None:
        path = self.dir / name
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text():
                return path.read_text()
            time.sleep(0.05)
        return None


@pytest.fixture(scope="module", params=list(SERVERS))
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp(request.param)
    env = {"TWINFRAME_SSE_DIR": str(directory)}
    server = start_server(SERVERS[request.param], directory, env=env, ready_path="/ok", timeout=60)
    try:
        yield Running(server, directory)
    finally:
        server.stop()


def assert_nothing_logged_as_an_error(running: Running) -> None:
    """No traceback and no error line, except those of the after-response failure
    ``test_after_response_work_runs_and_its_failure_is_logged`` provokes on purpose."""
    output = running.server.output
    for block in output.split("Traceback (most recent call last)")[1:]:
        assert "on purpose" in block, block[:3000]
    for line in output.splitlines():
        if "ERROR" in line:
            assert "broken failed after GET /after" in line, output[-3000:]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_events_arrive_as_produced_with_pings_between(running, kind):
    name = f"gated-{kind}"
    url = f"{running.server.url}/events?kind={kind}&name={name}&gate=1&ping=0.2"
    # Through the app's GZip middleware: each event compressed and flushed on its own.
    headers = {"Accept-Encoding": "gzip"}
    with httpx.stream("GET", url, headers=headers, timeout=WAIT) as response:
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        lines = response.iter_lines()
        assert [next(lines), next(lines)] == [": ping", ""]  # at once, before any event
        events = parse_events(lines, comments=True)
        assert next(events) == Event('{"n":1}', event="tick", id="1")
        # The producer waits for the release file: the stream stays alive with pings.
        assert next(events) == Event(comment="ping")
        assert next(events) == Event(comment="ping")
        assert running.marker(f"stopped-{name}", timeout=0) is None
        (running.dir / f"release-{name}").write_text("go")
        rest = [event for event in events if event.data is not None]
    assert [event.id for event in rest] == ["2", "3"]
    assert running.marker(f"stopped-{name}") == "3"
    assert_nothing_logged_as_an_error(running)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_client_that_hangs_up_stops_the_producer(running, kind):
    name = f"gone-{kind}"
    with socket.create_connection(("127.0.0.1", running.server.port), timeout=WAIT) as sock:
        sock.sendall(
            f"GET /events?kind={kind}&name={name}&n=100000&delay=0.02&ping=0.1 HTTP/1.1\r\n"
            "Host: x\r\n\r\n".encode()
        )
        received = b""
        while received.count(b"event: tick") < 5:
            received += sock.recv(65536)
    assert b"HTTP/1.1 200" in received
    produced = running.marker(f"stopped-{name}")
    assert produced is not None, "the producer was still running after the client left"
    assert int(produced) < 1000
    assert httpx.get(running.server.url + "/ok", timeout=WAIT).text == "ok"
    assert_nothing_logged_as_an_error(running)


def test_last_event_id_resumes(running):
    url = f"{running.server.url}/events?name=resume"
    with httpx.stream("GET", url, headers={"Last-Event-ID": "41"}, timeout=WAIT) as response:
        assert [event.id for event in iter_events(response)] == ["42", "43", "44"]


def test_after_response_work_runs_and_its_failure_is_logged(running):
    response = httpx.get(running.server.url + "/after?name=one", timeout=WAIT)
    assert (response.status_code, response.text) == (200, "answered")
    assert running.marker("after-one-sync") == "sync"
    assert running.marker("after-one-async") == "async"
    deadline = time.monotonic() + WAIT
    expected = "after_response function after.<locals>.broken failed after GET /after"
    while expected not in running.server.output and time.monotonic() < deadline:
        time.sleep(0.05)
    assert expected in running.server.output
    assert "after-response work failed on purpose" in running.server.output
