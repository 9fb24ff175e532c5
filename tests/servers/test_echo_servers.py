"""examples/echo.py through real servers: big uploads echoed back with bounded memory.

The client is a raw socket written and read at the same time (two threads): an
echo answers while the upload is still arriving, so a client that sent the
whole body before reading (as httpx does) would deadlock once the socket
buffers fill. The body comes from a generator, so the client never holds it.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from process_memory import MiB, peak_rss, reset_peak_rss, rss, worker_pids
from realserver import GRANIAN_BASE_ARGS, GUNICORN_BASE_ARGS, Server, start_server

pytestmark = pytest.mark.servers

BODY_SIZE = 50 * MiB
# Peak RSS growth allowed while echoing BODY_SIZE bytes: far below the body size.
MAX_RSS_GROWTH = 16 * MiB

COMMANDS = {
    "gunicorn": [*GUNICORN_BASE_ARGS, "examples.echo:app.wsgi"],
    "uvicorn": ["uvicorn", "--port", "{port}", "examples.echo:app.asgi"],
    "gunicorn-gevent": [
        *GUNICORN_BASE_ARGS,
        *("-k", "gevent", "examples.echo:app.wsgi"),
    ],
    "granian-wsgi": [*GRANIAN_BASE_ARGS, "--interface", "wsgi", "examples.echo:app.wsgi"],
    "granian-asgi": [*GRANIAN_BASE_ARGS, "--interface", "asgi", "examples.echo:app.asgi"],
}


@pytest.fixture(scope="module", params=list(COMMANDS))
def echo_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = start_server(COMMANDS[request.param], tmp_path_factory.mktemp("echo"), timeout=60)
    try:
        yield server
    finally:
        server.stop()


# -- the client -----------------------------------------------------------------------


def body_chunks(size: int, chunk: int = MiB) -> Iterator[bytes]:
    """``size`` pseudo-random bytes, one chunk at a time (never held whole)."""
    rng = random.Random(size)
    for start in range(0, size, chunk):
        yield rng.randbytes(min(chunk, size - start))


class EchoCall:
    """POST a generated body and read the echo at the same time, hashing both sides."""

    def __init__(self, port: int, size: int, path: str = "/echo", chunked: bool = False) -> None:
        self.size = size
        self.chunked = chunked
        upper = path.endswith("/upper")
        self.expect = (lambda chunk: chunk.upper()) if upper else (lambda chunk: chunk)
        self.sent = 0
        self.received = 0
        self.sent_hash = hashlib.sha256()
        self.received_hash = hashlib.sha256()
        self.error: BaseException | None = None
        self.sock = socket.socket()
        # Small buffers on our side, so a pause in reading shows up at the server quickly
        # and little of the upload waits in our kernel when the server stops reading.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/octet-stream\r\n{framing}\r\n\r\n"
        )
        self.sock.sendall(head.encode("ascii"))
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()
        self.response = http.client.HTTPResponse(self.sock)
        self.response.begin()

    def _write(self) -> None:
        try:
            for chunk in body_chunks(self.size):
                self.sent_hash.update(self.expect(chunk))
                if self.chunked:
                    self.sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    self.sock.sendall(chunk)
                self.sent += len(chunk)
            if self.chunked:
                self.sock.sendall(b"0\r\n\r\n")
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def read(self, limit: int | None = None) -> None:
        """Read up to ``limit`` more bytes of the echo (all of it by default)."""
        target = None if limit is None else self.received + limit
        while target is None or self.received < target:
            chunk = self.response.read(64 * 1024)
            if not chunk:
                return
            self.received_hash.update(chunk)
            self.received += len(chunk)

    def finish(self) -> None:
        self.read()
        self._writer.join(30)
        self.response.close()
        self.sock.close()
        assert self.error is None, self.error


# -- the tests ------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_big_upload_is_echoed_byte_identical_with_bounded_memory(echo_server, framing):
    (pid,) = worker_pids(echo_server.proc.pid)
    before = reset_peak_rss(pid)
    started = time.monotonic()
    call = EchoCall(echo_server.port, BODY_SIZE, chunked=framing == "chunked")
    assert call.response.status == 200
    assert call.response.getheader("content-length") is None  # streamed, not buffered
    call.finish()
    elapsed = time.monotonic() - started
    growth = peak_rss(pid) - before
    mib = growth / MiB
    print(f"echoed {BODY_SIZE // MiB} MiB ({framing}) in {elapsed:.2f}s; peak RSS +{mib:.1f} MiB")
    assert call.received == BODY_SIZE
    assert call.received_hash.hexdigest() == call.sent_hash.hexdigest()
    assert growth < MAX_RSS_GROWTH


def test_slow_reader_throttles_the_upload_instead_of_buffering(echo_server):
    (pid,) = worker_pids(echo_server.proc.pid)
    before = reset_peak_rss(pid)
    call = EchoCall(echo_server.port, BODY_SIZE)
    call.read(MiB)
    # Stop reading: the server must stop reading the upload too (back-pressure),
    # so the writer stalls with most of the body still unsent.
    deadline = time.monotonic() + 20
    progress = [-2, -1]
    while progress[-1] != progress[-2] or progress[-2] != call.sent:  # 1 s without progress
        assert time.monotonic() < deadline, "the upload kept flowing while nobody read the echo"
        progress.append(call.sent)
        time.sleep(0.5)
    in_flight = call.sent - call.received
    stalled_rss = rss(pid) - before
    print(
        f"stalled: sent {call.sent / MiB:.1f} MiB, read {call.received / MiB:.1f} MiB, "
        f"worker RSS growth {stalled_rss / MiB:.1f} MiB"
    )
    # The real signal: the server's memory does not take in the body it cannot send.
    assert stalled_rss < MAX_RSS_GROWTH
    # And the upload stopped well before its end. How far it got varies with load:
    # the server's kernel receive buffer alone may autotune to tens of MiB on
    # loopback (net.ipv4.tcp_rmem), so the bound only leaves out a server that
    # read the whole body.
    assert call.sent < BODY_SIZE * 0.9
    assert in_flight < BODY_SIZE * 0.9
    # Then read slowly, in small sips with pauses, to the end.
    while call.received < BODY_SIZE // 4:
        call.read(256 * 1024)
        time.sleep(0.01)
    call.finish()
    growth = peak_rss(pid) - before
    print(f"slow reader done; worker peak RSS growth {growth / MiB:.1f} MiB")
    assert call.received_hash.hexdigest() == call.sent_hash.hexdigest()
    assert growth < MAX_RSS_GROWTH


def test_async_generator_transform_streams_on_both_entrypoints(echo_server):
    # /echo/upper wraps req.stream() in an async generator: under gunicorn it runs
    # on the worker thread's own loop, under uvicorn on the server's loop.
    (pid,) = worker_pids(echo_server.proc.pid)
    before = reset_peak_rss(pid)
    call = EchoCall(echo_server.port, 20 * MiB, path="/echo/upper")
    assert call.response.status == 200
    call.finish()
    growth = peak_rss(pid) - before
    print(f"upper-cased 20 MiB; worker peak RSS growth {growth / MiB:.1f} MiB")
    assert call.received == 20 * MiB
    assert call.received_hash.hexdigest() == call.sent_hash.hexdigest()
    assert growth < MAX_RSS_GROWTH
