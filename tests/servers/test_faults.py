"""Faults against real servers: clients vanishing mid-request and mid-response,
slow readers, a handler failing every tenth call, a stream breaking mid-way.
After each, the server keeps serving everyone else. Servers: gunicorn sync
(2 workers), gunicorn gthread (1 worker, 8 threads), uvicorn; app:
tests/servers/loadapp.py.

What a client hanging up does to the handler (documented in docs/security.md):
- while the body is being read: the handler is never called (twinframe sees a
  short body / ``http.disconnect`` and answers 400 to nobody, logging nothing
  above DEBUG);
- while the handler runs (body already read): the handler finishes cleanly,
  its work (a committed record) stands, the response is dropped. twinframe
  does not cancel handlers halfway: no half-done work to undo;
- while a streamed response is being sent: the stream is stopped and closed
  (the generator's ``finally`` runs), on both entrypoints.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from realserver import Server, server_commands, start_server

pytestmark = pytest.mark.servers

SERVERS = server_commands("servers.loadapp:app")


class Running:
    """A server plus the directory its app writes markers to."""

    def __init__(self, server: Server, directory: Path, name: str) -> None:
        self.server, self.dir, self.name = server, directory, name
        self.client = httpx.Client(base_url=server.url, timeout=10)

    @property
    def port(self) -> int:
        return self.server.port

    def get(self, path: str, timeout: float = 10) -> httpx.Response:
        return self.client.get(path, timeout=timeout)

    def markers(self, prefix: str) -> list[Path]:
        return sorted(self.dir.glob(f"abandoned-{prefix}-*"))

    def wait_for(self, predicate, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()


@pytest.fixture(scope="module", params=list(SERVERS))
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    name = request.param
    directory = tmp_path_factory.mktemp(name)
    env = {
        "TWINFRAME_LOAD_DB": str(directory / "faults.sqlite3"),
        "TWINFRAME_LOAD_DIR": str(directory),
    }
    server = start_server(SERVERS[name], directory, env=env, ready_path="/ok", timeout=60)
    try:
        running = Running(server, directory, name)
        yield running
        running.client.close()
    finally:
        server.stop()


def raw_connection(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_until_closed(sock: socket.socket, timeout: float = 10) -> tuple[bytes, bool]:
    """Everything the server sends until it closes; (data, closed)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except TimeoutError:
        return data, False


def assert_serving(running: Running) -> None:
    for _ in range(4):
        response = running.get("/ok")
        assert (response.status_code, response.text) == (200, "ok")


def assert_clean_log(running: Running, *allowed: str) -> None:
    """No traceback in the server log except the ones the test provoked on purpose."""
    blocks = running.server.output.split("Traceback (most recent call last)")[1:]
    for block in blocks:
        assert any(marker in block for marker in allowed), block[:2000]


def test_client_gone_mid_request_body(running):
    # Each body is valid JSON cut short of its Content-Length: a handler given what
    # arrived would parse it and store the record, so only the framework's check
    # that the whole body came keeps the record out.
    log = running.dir / "twinframe.log"
    start = log.stat().st_size if log.exists() else 0
    keys = [f"never-{running.name}-{n}" for n in range(3)]
    for key in keys:
        body = json.dumps({"key": key, "value": "x"}).encode()
        with raw_connection(running.port) as sock:
            sock.sendall(
                b"POST /records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body
            )
            time.sleep(0.2)

    def logged() -> list[str]:
        with open(log, "rb") as file:
            file.seek(start)
            return file.read().decode().splitlines()

    disconnects = "DEBUG client disconnected before sending the whole body: POST /records"
    settled = running.wait_for(lambda: logged().count(disconnects) == len(keys))
    assert_serving(running)
    for key in keys:  # the handler never ran
        assert running.get(f"/records/{key}").status_code == 404
    assert settled, logged()
    # Nothing above DEBUG for a client that hung up (docs/security.md).
    assert [line for line in logged() if not line.startswith("DEBUG ")] == []
    assert_clean_log(running)


def test_client_gone_while_the_handler_runs(running):
    """The body is in, the handler takes 0.5 s, the client hangs up: the work completes."""
    key = f"slow-{running.name}"
    body = json.dumps({"key": key, "value": "finished"}).encode()
    with raw_connection(running.port) as sock:
        sock.sendall(
            b"POST /records/slow?delay=0.5 HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.1)
    assert running.wait_for(lambda: running.get(f"/records/{key}").status_code == 200)
    assert running.get(f"/records/{key}").json() == {"key": key, "value": "finished"}
    assert_serving(running)
    assert_clean_log(running)


@pytest.mark.parametrize("route", ["stream", "astream"])
def test_client_gone_mid_response_stops_the_stream(running, route):
    # 2,000 chunks of 16 KiB, 5 ms apart: ~10 s if it ran to the end.
    name = f"{route}-gone"
    with raw_connection(running.port) as sock:
        sock.sendall(
            f"GET /{route}?n=2000&size=16384&delay=0.005&name={name} HTTP/1.1\r\n"
            "Host: x\r\n\r\n".encode()
        )
        received = 0
        while received < 200_000:
            received += len(sock.recv(65536))
    # The generator notices at its next write and is closed, well before its end.
    assert running.wait_for(lambda: running.markers(name), timeout=8), (
        "stream still running after the client left"
    )
    sent = int(running.markers(name)[0].read_text())
    assert sent < 2000
    assert_serving(running)
    assert_clean_log(running)


def test_slow_reader_does_not_block_others(running):
    """One client reads a 20 MiB stream slowly; others are answered meanwhile."""
    done = threading.Event()
    reading = threading.Event()
    got = []

    def slow_reader() -> None:
        with raw_connection(running.port) as sock:
            sock.sendall(b"GET /stream?n=320&size=65536&name=slow HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            total = 0
            while not done.is_set() and total < 5_000_000:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                total += len(chunk)
                reading.set()  # the stream is under way: its worker is busy with it
                time.sleep(0.01)
            got.append(total)

    reader = threading.Thread(target=slow_reader, daemon=True)
    reader.start()
    assert reading.wait(10), "the slow reader got nothing of its stream"
    try:
        # Each request has its own timeout: a server stuck behind the slow reader fails here.
        for _ in range(10):
            assert running.get("/ok", timeout=5).text == "ok"
    finally:
        done.set()
        reader.join(10)
    assert got and got[0] > 0
    assert_serving(running)


def test_handler_failing_every_tenth_call(running):
    statuses = [running.get("/flaky").status_code for _ in range(60)]
    failures = statuses.count(500)
    # One counter per worker process (gunicorn-sync has 2): about 6 failures.
    assert 4 <= failures <= 8, statuses
    assert set(statuses) == {200, 500}
    assert_serving(running)
    body = running.get("/flaky")
    assert "flaky handler failing" not in body.text
    assert_clean_log(running, "flaky handler failing")


def test_stream_breaking_mid_way_cuts_the_connection(running):
    """Chunked response whose generator raises: the connection is closed without the
    terminating chunk, so the client sees a truncated response and nothing of it
    can be mistaken for the next response on a kept-alive connection."""
    with raw_connection(running.port) as sock:
        sock.sendall(
            b"GET /broken-stream HTTP/1.1\r\nHost: x\r\n\r\n"
            + b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        data, closed = read_until_closed(sock)
    assert closed
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"partial-" in body
    assert not body.endswith(b"0\r\n\r\n"), "the broken stream was framed as complete"
    assert b"HTTP/1.1 200 OK" not in body, (
        "the pipelined request was answered on the broken connection"
    )
    with pytest.raises(httpx.RemoteProtocolError):
        running.get("/broken-stream")
    assert_serving(running)
    assert running.wait_for(lambda: "response stream failed mid-way" in running.server.output)
    assert_clean_log(running, "stream broke mid-way", "flaky handler failing")


def test_garbage_and_half_requests_on_the_socket(running):
    """Protocol-level junk (refused by the server itself) never reaches or harms the app."""
    junk = [
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS ClientHello on the plain port
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Bad\xff: \xfe\r\n\r\n",
        b"POST /records HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\r\n\r\n\r\n",
    ]
    for payload in junk:
        with raw_connection(running.port) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            data, _ = read_until_closed(sock, timeout=3)
        assert not data.startswith(b"HTTP/1.1 5"), (payload, data[:200])
    assert_serving(running)
    assert_clean_log(running, "stream broke mid-way", "flaky handler failing")


def test_keepalive_after_errors_stays_in_sync(running):
    """Errors (4xx) on a kept-alive connection: every later response matches its request."""
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        for i in range(20):
            conn.request(
                "POST", "/records", body=b"{oops", headers={"content-type": "application/json"}
            )
            response = conn.getresponse()
            assert response.status == 400
            response.read()
            conn.request("GET", f"/records/missing-{i}")
            response = conn.getresponse()
            assert response.status == 404
            assert f"missing-{i}" in response.read().decode()
    finally:
        conn.close()
