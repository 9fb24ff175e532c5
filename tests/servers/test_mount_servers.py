"""Mounted Flask and Starlette apps (tests/mountapps.py) under real gunicorn and uvicorn.

The same twinframe app is served as ``app.wsgi`` (gunicorn: Flask called directly,
Starlette on the worker thread's loop) and ``app.asgi`` (uvicorn: Starlette called
directly, Flask in the thread pool).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mountapps import CHUNKS
from process_memory import MiB, peak_rss, reset_peak_rss, worker_pids
from realserver import Server, server_commands
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.servers

SETUPS = server_commands("mountapps:app")
BIG = 50 * 1024 * 1024


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return tmp_path / "mount-events.log"


@pytest.fixture(params=sorted(SETUPS))
def server(request: pytest.FixtureRequest, server_factory, events_file: Path) -> Server:  # type: ignore[no-untyped-def]
    env = {"MOUNT_EVENTS": str(events_file)}
    return server_factory(SETUPS[request.param], env=env)  # type: ignore[no-any-return]


def test_the_mounted_lifespan_starts_and_stops_with_the_server(
    server: Server, events_file: Path
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(4):  # reach every worker of a pre-fork server, most likely
            assert client.get("/star/hello").json()["greeting"] == "hello from the lifespan"
    # uvicorn re-raises the SIGTERM it caught after its graceful shutdown (exit -15).
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    lines = [line.split() for line in events_file.read_text().splitlines()]
    started = {pid for _, event, pid in lines if event == "startup"}
    stopped = {pid for _, event, pid in lines if event == "shutdown"}
    assert started and stopped == started, lines


def test_flask_and_starlette_routing_redirects_url_for(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/").text == "twinframe home"
        assert client.get("/flask/").text == "flask index; hello is at /flask/hello"
        hello = client.get("/flask/hello").json()
        assert hello["script_root"] == "/flask" and hello["path"] == "/hello"
        assert hello["external"] == f"{server.url}/flask/hello"
        r = client.get("/flask/go")
        assert r.status_code == 302 and r.headers["location"] == "/flask/hello"
        star = client.get("/star/hello").json()
        assert star["root_path"] == "/star"
        assert star["url_for"] == f"{server.url}/star/hello"
        assert star["greeting"] == "hello from the lifespan"  # its lifespan ran at startup
        r = client.get("/star/go")
        assert r.status_code == 302 and r.headers["location"] == f"{server.url}/star/hello"
        assert client.get("/flask/moved").text == "twinframe moved"
        assert client.post("/flask/moved").text == "flask moved POST"
        # twinframe's middleware wraps the mounted apps too.
        for path in ("/", "/flask/hello", "/star/hello"):
            assert client.get(path).headers["x-request-id"]


def test_flask_send_file_goes_through_the_servers_file_wrapper(server: Server) -> None:
    import mountapps

    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.get("/flask/source")
        assert r.status_code == 200
        assert r.content == Path(mountapps.__file__).read_bytes()
        assert r.headers["content-length"] == str(len(r.content))


def test_forms_and_cookies(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for mounted, user in (("flask", "ada"), ("star", "grace")):
            r = client.post(f"/{mounted}/form", data={"name": user}, files={"file": ("a", b"xy")})
            assert r.json() == {"name": user, "file": "xy"}
            client.get(f"/{mounted}/login")
            assert client.get(f"/{mounted}/whoami").text == user


def test_streamed_responses_arrive_in_pieces(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for mounted, label in (("flask", "flask"), ("star", "starlette")):
            with client.stream("GET", f"/{mounted}/stream") as r:
                assert r.headers.get("transfer-encoding") == "chunked"
                assert r.headers["x-request-id"]
                body = b"".join(r.iter_bytes())
            assert body == b"".join(f"{label} chunk {i}\n".encode() for i in range(CHUNKS))


def _upload() -> Iterator[bytes]:
    piece = b"u" * 65536
    for _ in range(BIG // len(piece)):
        yield piece


def test_50mb_each_way_with_flat_memory(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for mounted in ("flask", "star"):
            client.get(f"/{mounted}/hello")  # warm: imports, first-request work
        workers = worker_pids(server.proc.pid)
        before = {pid: reset_peak_rss(pid) for pid in workers}
        for mounted in ("flask", "star"):
            r = client.post(f"/{mounted}/count", content=_upload())
            assert r.json() == {"bytes": BIG}
            received = 0
            with client.stream("GET", f"/{mounted}/download/{BIG}") as r:
                for piece in r.iter_bytes():
                    received += len(piece)
            assert received == BIG
        grown = max(peak_rss(pid) - before[pid] for pid in workers)
    assert grown < 25 * MiB, f"peak RSS grew by {grown / MiB:.0f} MiB for 50 MB each way"


def test_starlette_websocket(server: Server, request: pytest.FixtureRequest) -> None:
    url = f"ws://127.0.0.1:{server.port}/star/ws"

    async def talk() -> str:
        async with connect(url) as ws:
            await ws.send("hi")
            answer = str(await ws.recv())
            await ws.send("bye")
            return answer

    if "uvicorn" in request.node.callspec.id:
        assert asyncio.run(asyncio.wait_for(talk(), 30)) == "/star echo: hi"
    else:
        # app.wsgi can't take websockets: 426, as for twinframe's own websocket routes.
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(asyncio.wait_for(talk(), 30))
        assert refused.value.response.status_code == 426
