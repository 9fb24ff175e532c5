"""twinframe under real servers: gunicorn (sync, gthread, asgi and uvicorn workers), uvicorn,
hypercorn and granian (``--interface wsgi`` and ``asgi``), all over HTTP/1.1.

Each server is started once for the module (tests/serverapp.py, through
``serverapp:app.wsgi`` / ``serverapp:app.asgi``) and stopped by pid afterwards.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from realserver import (
    GRANIAN_BASE_ARGS,
    GUNICORN_BASE_ARGS,
    ROOT,
    UVICORN_BASE_ARGS,
    Server,
    start_server,
)
from serverapp import MAX_BODY

pytestmark = pytest.mark.servers

FILE_SIZE = 300_000  # several of the WSGI adapter's 64 KiB chunks
TIMEOUT = 15


def _gunicorn(target: str, *options: str) -> list[str]:
    return [*GUNICORN_BASE_ARGS, "--workers", "1", *options, target]


@dataclass(frozen=True)
class Kind:
    name: str
    args: list[str]
    protocol: str  # "wsgi" or "asgi": which entrypoint the server calls
    file_wrapper: bool = False  # the WSGI server offers wsgi.file_wrapper


KINDS = [
    Kind("gunicorn-sync", _gunicorn("serverapp:app.wsgi"), "wsgi", file_wrapper=True),
    Kind(
        "gunicorn-gthread",
        _gunicorn("serverapp:app.wsgi", "--worker-class", "gthread", "--threads", "4"),
        "wsgi",
        file_wrapper=True,
    ),
    Kind(
        "uvicorn",
        [*UVICORN_BASE_ARGS, "serverapp:app.asgi"],
        "asgi",
    ),
    Kind("gunicorn-asgi-worker", _gunicorn("serverapp:app.asgi", "--worker-class", "asgi"), "asgi"),
    Kind(
        "gunicorn-uvicorn-worker",
        _gunicorn("serverapp:app.asgi", "--worker-class", "uvicorn_worker.UvicornWorker"),
        "asgi",
    ),
    Kind("hypercorn", ["hypercorn", "--bind", "127.0.0.1:{port}", "serverapp:app.asgi"], "asgi"),
    Kind("granian-wsgi", [*GRANIAN_BASE_ARGS, "--interface", "wsgi", "serverapp:app.wsgi"], "wsgi"),
    Kind("granian-asgi", [*GRANIAN_BASE_ARGS, "--interface", "asgi", "serverapp:app.asgi"], "asgi"),
]


@dataclass
class Running:
    kind: Kind
    server: Server
    client: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TWINFRAME_TEST_DIR of every server: served files and stream release markers."""
    directory = tmp_path_factory.mktemp("serverapp")
    (directory / "blob.bin").write_bytes(os.urandom(FILE_SIZE))
    return directory


@pytest.fixture(scope="module", params=KINDS, ids=lambda kind: kind.name)
def running(
    request: pytest.FixtureRequest, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    kind: Kind = request.param
    logs = tmp_path_factory.mktemp(kind.name)
    server = start_server(kind.args, logs, env={"TWINFRAME_TEST_DIR": str(shared_dir)})
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            yield Running(kind, server, client)
    finally:
        server.stop()


# -- basics -------------------------------------------------------------------------


def test_hello(running: Running) -> None:
    response = running.client.get("/")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"


def test_json_post_echo(running: Running) -> None:
    payload = {"title": "Grüße", "tags": ["a", "b"], "nested": {"n": 1.5, "ok": True, "none": None}}
    response = running.client.post("/echo", json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == payload

    malformed = running.client.post(
        "/echo", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    assert "malformed JSON" in malformed.json()["detail"]


def test_path_params(running: Running) -> None:
    assert running.client.get("/items/42").json() == {"id": 42, "type": "int"}
    assert running.client.get("/users/ada%20lovelace").json() == {"name": "ada lovelace"}
    assert running.client.get("/users/%C3%A9mile").json() == {"name": "émile"}
    assert running.client.get("/items/abc").status_code == 404
    assert running.client.get("/users/a/b").status_code == 404


def test_not_found_and_method_not_allowed(running: Running) -> None:
    missing = running.client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404

    wrong_method = running.client.delete("/")
    assert wrong_method.status_code == 405
    assert set(re.split(r",\s*", wrong_method.headers["allow"])) == {"GET", "HEAD", "OPTIONS"}

    redirect = running.client.get("/users/ada/")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/users/ada"


def test_head(running: Running) -> None:
    response = running.client.head("/")
    assert response.status_code == 200
    assert response.headers["content-length"] == "13"
    assert response.content == b""

    file_head = running.client.head("/files/blob.bin")
    assert file_head.status_code == 200
    assert file_head.headers["content-length"] == str(FILE_SIZE)
    assert file_head.content == b""
    # The connection is still usable after a bodiless response.
    assert running.client.get("/").text == "Hello, World!"


def test_async_handlers_keep_one_loop_per_thread(running: Running) -> None:
    """gthread: each worker thread reuses its own loop; ASGI servers: one loop for all."""

    def fetch(_: int) -> dict[str, int]:
        with httpx.Client(base_url=running.url, timeout=TIMEOUT) as client:
            return dict(client.get("/loop").json())

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fetch, range(16)))
    loops_by_thread: dict[int, set[int]] = {}
    for result in results:
        loops_by_thread.setdefault(result["thread"], set()).add(result["loop"])
    assert all(len(loops) == 1 for loops in loops_by_thread.values()), loops_by_thread
    if running.kind.protocol == "asgi":
        assert len({r["loop"] for r in results}) == 1


# -- streamed and file responses ---------------------------------------------------------


@pytest.mark.parametrize("route", ["stream", "astream"])
def test_streamed_response_arrives_in_chunks(
    running: Running, shared_dir: Path, route: str
) -> None:
    """The first chunk reaches the client while the handler's generator is still blocked."""
    token = uuid.uuid4().hex
    with running.client.stream("GET", f"/{route}/{token}") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = response.iter_bytes()
        received = b""
        while len(received) < len(b"first;"):
            received += next(chunks)
        # The generator waits for this marker before producing anything else.
        assert received == b"first;"
        (shared_dir / token).touch()
        rest = b"".join(chunks)
    assert received + rest == b"first;second;last"


def _file_wrapper_calls(running: Running) -> int:
    return int(running.client.get("/file-wrapper-calls").json()["calls"])


def test_file_response_with_range(running: Running, shared_dir: Path) -> None:
    data = (shared_dir / "blob.bin").read_bytes()
    wsgi = running.kind.file_wrapper
    calls = _file_wrapper_calls(running)

    whole = running.client.get("/files/blob.bin")
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(FILE_SIZE)
    assert whole.headers["content-type"] == "application/octet-stream"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content == data
    # Where the WSGI server has wsgi.file_wrapper, a whole file goes through it (sendfile).
    assert _file_wrapper_calls(running) == calls + (1 if wsgi else 0)

    middle = running.client.get("/files/blob.bin", headers={"range": "bytes=100-70099"})
    assert middle.status_code == 206
    assert middle.headers["content-range"] == f"bytes 100-70099/{FILE_SIZE}"
    assert middle.headers["content-length"] == "70000"
    assert middle.content == data[100:70100]
    # A range that stops before the end is sent by twinframe itself.
    assert _file_wrapper_calls(running) == calls + (1 if wsgi else 0)

    tail = running.client.get("/files/blob.bin", headers={"range": "bytes=1000-"})
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes 1000-{FILE_SIZE - 1}/{FILE_SIZE}"
    assert tail.content == data[1000:]
    assert _file_wrapper_calls(running) == calls + (2 if wsgi else 0)

    suffix = running.client.get("/files/blob.bin", headers={"range": "bytes=-10"})
    assert suffix.status_code == 206
    assert suffix.content == data[-10:]

    unsatisfiable = running.client.get("/files/blob.bin", headers={"range": f"bytes={FILE_SIZE}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{FILE_SIZE}"

    not_modified = running.client.get(
        "/files/blob.bin", headers={"if-none-match": whole.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""

    assert running.client.get("/files/missing.bin").status_code == 404
    escape = running.client.get("/files/..%2Fserverapp.py")
    assert escape.status_code in (400, 404)  # refused by the server or by safe_path


# -- request bodies ---------------------------------------------------------------------


def _chunked(data: bytes, size: int = 4096) -> Callable[[], Iterator[bytes]]:
    """A body httpx sends with Transfer-Encoding: chunked (it has no length)."""

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return chunks


def test_chunked_request_body_on_a_pre_read_route(running: Running) -> None:
    data = os.urandom(MAX_BODY - 1000)
    response = running.client.post("/upload", content=_chunked(data)())
    assert response.status_code == 200
    assert response.json() == {
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_length": None,  # it really arrived chunked
    }


@pytest.mark.parametrize("framing", ["none", "content-length", "chunked"])
def test_get_reads_a_body_only_when_framed(running: Running, framing: str) -> None:
    # Without Content-Length or Transfer-Encoding an HTTP/1.1 GET has no body, and
    # twinframe doesn't ask the server for one; a framed body is still read.
    content = {"none": None, "content-length": b"hello", "chunked": _chunked(b"hello")()}
    for _ in range(2):  # and the kept-alive connection serves the next request
        response = running.client.request("GET", "/get-body", content=content[framing])
        assert response.status_code == 200, response.text
        body = "" if framing == "none" else "hello"
        length = 5 if framing == "content-length" else None
        assert response.json() == {"body": body, "content_length": length}
        if framing == "chunked":
            content["chunked"] = _chunked(b"hello")()


def test_chunked_request_body_on_a_streaming_route_has_no_size_limit(running: Running) -> None:
    data = os.urandom(3 * MAX_BODY)
    response = running.client.post("/upload-stream", content=_chunked(data)())
    assert response.status_code == 200
    assert response.json() == {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_body_over_max_body_size_is_413(running: Running) -> None:
    too_big = os.urandom(MAX_BODY + 1)
    # Each on a fresh connection: a server may close one whose body it never read
    # (gunicorn's gthread drains at most 64 KiB, after announcing keep-alive).
    declared = httpx.post(running.url + "/upload", content=too_big, timeout=TIMEOUT)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"

    chunked = httpx.post(running.url + "/upload", content=_chunked(too_big)(), timeout=TIMEOUT)
    assert chunked.status_code == 413
    assert chunked.headers["content-type"] == "application/problem+json"

    exactly = os.urandom(MAX_BODY)
    assert running.client.post("/upload", content=exactly).json()["length"] == MAX_BODY
    assert running.client.get("/").text == "Hello, World!"


def test_no_tracebacks_in_the_server_log(running: Running) -> None:
    """Runs last for each server: nothing above made it log an error."""
    output = running.server.output
    assert "Traceback" not in output, output
    assert "[ERROR]" not in output, output


# -- gunicorn.conf.py and the plain alternative ---------------------------------------------


def test_stock_gunicorn_refuses_a_dotted_app_path_without_our_config(tmp_path: Path) -> None:
    """The reason for ./gunicorn.conf.py (benoitc/gunicorn#2213). If this starts failing,
    gunicorn learned dotted paths: update docs/deployment.md."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    args = _gunicorn("serverapp:app.wsgi", "--check-config")
    command = [sys.executable, "-m", *[a.format(port=0) for a in args]]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert (
        "Failed to parse 'app.wsgi' as an attribute name or function call"
        in result.stdout + result.stderr
    )


def test_plain_module_level_wsgi_needs_no_config(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    """``wsgi = app.wsgi`` in the module: ``gunicorn serverapp:wsgi`` from anywhere."""
    server = server_factory(_gunicorn("serverapp:wsgi"), cwd=tmp_path)
    response = httpx.get(server.url + "/items/7", timeout=TIMEOUT)
    assert response.json() == {"id": 7, "type": "int"}


def test_config_file_can_be_named_explicitly(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    """From another directory: ``gunicorn -c /path/to/gunicorn.conf.py module:app.wsgi``."""
    config = ROOT / "gunicorn.conf.py"
    server = server_factory(
        [*_gunicorn("serverapp:app.wsgi"), "--config", str(config)], cwd=tmp_path
    )
    assert httpx.get(server.url + "/", timeout=TIMEOUT).text == "Hello, World!"
