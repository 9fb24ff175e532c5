"""Every built-in middleware under real servers: gunicorn (sync worker, app.wsgi) and uvicorn.

The app (tests/middlewareapp.py) stacks them all, as a deployment would; each
server is started once for the module and stopped by pid.
"""

from __future__ import annotations

import gzip
import re
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from middlewareapp import ORIGIN, TEXT
from realserver import GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server, start_server

pytestmark = pytest.mark.servers

TIMEOUT = 15
KINDS = {
    "gunicorn": [*GUNICORN_BASE_ARGS, "--workers", "1", "middlewareapp:app.wsgi"],
    # --no-proxy-headers: uvicorn's own X-Forwarded-* handling off, so ProxyHeaders
    # is what these tests see (the last tests turn it on).
    "uvicorn": [*UVICORN_BASE_ARGS, "--no-proxy-headers", "middlewareapp:app.asgi"],
}


@dataclass
class Running:
    name: str
    server: Server
    client: httpx.Client
    markers: Path


@pytest.fixture(scope="module", params=sorted(KINDS))
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    markers = tmp_path_factory.mktemp("markers")
    logs = tmp_path_factory.mktemp(request.param)
    server = start_server(KINDS[request.param], logs, env={"TWINFRAME_TEST_DIR": str(markers)})
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            yield Running(request.param, server, client, markers)
    finally:
        server.stop()


def test_gzip_compresses_through_the_server(running: Running) -> None:
    with running.client.stream("GET", "/text", headers={"accept-encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-length"] == str(len(raw))
    assert gzip.decompress(raw).decode() == TEXT
    assert len(raw) < len(TEXT) // 10


@pytest.mark.parametrize("route", ["stream", "astream"])
def test_a_compressed_event_stream_arrives_event_by_event(running: Running, route: str) -> None:
    token = uuid.uuid4().hex
    headers = {"accept-encoding": "gzip"}
    with running.client.stream("GET", f"/{route}/{token}", headers=headers) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        decompressor = zlib.decompressobj(31)
        chunks = response.iter_raw()
        received = b""
        while b"\n\n" not in received:
            received += decompressor.decompress(next(chunks))
        # The handler's generator waits for this marker: the first event came unbuffered.
        assert received == b"data: first\n\n"
        (running.markers / token).touch()
        rest = decompressor.decompress(b"".join(chunks)) + decompressor.flush()
    assert rest == b"data: second\n\n"


def test_cors_preflight_and_actual_request(running: Running) -> None:
    preflight = running.client.options(
        "/visit",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    actual = running.client.get("/", headers={"origin": ORIGIN})
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in actual.headers["vary"]
    other = running.client.get("/", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_trusted_host_refuses_other_hosts(running: Running) -> None:
    assert running.client.get("/").status_code == 200
    refused = running.client.get("/", headers={"host": "evil.example"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "host 'evil.example' is not served here"


def test_proxy_headers_from_the_local_proxy(running: Running) -> None:
    forwarded = {"forwarded": 'for="203.0.113.9:4000";proto=https;host=shop.example.com'}
    seen = running.client.get("/where", headers=forwarded).json()
    assert seen == {
        "client": ["203.0.113.9", 4000],
        "scheme": "https",
        "host": "shop.example.com",
        "url": "https://shop.example.com/where",
    }
    plain = running.client.get("/where").json()
    assert plain["client"][0] == "127.0.0.1" and plain["scheme"] == "http"


def test_sessions_keep_state_between_requests(running: Running) -> None:
    with httpx.Client(base_url=running.server.url, timeout=TIMEOUT) as browser:
        assert browser.post("/visit").json() == {"visits": 1}
        assert browser.post("/visit").json() == {"visits": 2}
        assert browser.get("/visits").json() == {"visits": 2}
        cookie = browser.cookies["session"]
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    response = running.client.get("/visits", headers={"cookie": f"session={tampered}"})
    assert response.json() == {"visits": 0}


def test_cross_origin_posts_are_refused(running: Running) -> None:
    refused = running.client.post("/visit", headers={"sec-fetch-site": "cross-site"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert (
        running.client.post("/visit", headers={"sec-fetch-site": "same-origin"}).status_code == 200
    )


def test_request_id_and_access_log(running: Running) -> None:
    response = running.client.get("/", headers={"x-request-id": f"server-test-{running.name}"})
    assert response.headers["x-request-id"] == f"server-test-{running.name}"
    made = running.client.get("/").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # The handler's own log line and the access line, both with the id, in the server's log.
    output = _wait_for(running.server, f"id=server-test-{running.name}")
    assert f"middlewareapp server-test-{running.name} hello handler" in output
    assert re.search(
        rf"twinframe.access server-test-{running.name} GET / 200 13B [0-9.]+ms", output
    )


FORWARDED_BY_PROXY = {
    "x-forwarded-for": "203.0.113.9",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "shop.example.com",
}


def test_gunicorns_forwarded_allow_ips_and_proxy_headers_agree(
    server_factory, tmp_path: Path
) -> None:
    # gunicorn (forwarded_allow_ips, 127.0.0.1 by default) sets only the scheme from
    # X-Forwarded-Proto and leaves REMOTE_ADDR the proxy's: ProxyHeaders does the rest.
    args = [*GUNICORN_BASE_ARGS, "--forwarded-allow-ips", "127.0.0.1", "middlewareapp:app.wsgi"]
    server = server_factory(args, env={"TWINFRAME_TEST_DIR": str(tmp_path)})
    seen = httpx.get(server.url + "/where", headers=FORWARDED_BY_PROXY, timeout=TIMEOUT).json()
    assert seen["client"][0] == "203.0.113.9"
    assert seen["url"] == "https://shop.example.com/where"


def test_uvicorns_proxy_headers_hide_the_proxy_from_proxy_headers(
    server_factory, tmp_path: Path
) -> None:
    # uvicorn's --proxy-headers (its default, for 127.0.0.1) replaces the peer with the
    # forwarded client before the app runs, so ProxyHeaders no longer sees a trusted
    # proxy and leaves X-Forwarded-Host alone: docs/deployment.md says to pass
    # --no-proxy-headers to uvicorn when the app uses ProxyHeaders (as KINDS does).
    args = [*UVICORN_BASE_ARGS, "--proxy-headers", "middlewareapp:app.asgi"]
    server = server_factory(args, env={"TWINFRAME_TEST_DIR": str(tmp_path)})
    seen = httpx.get(server.url + "/where", headers=FORWARDED_BY_PROXY, timeout=TIMEOUT).json()
    assert seen["client"][0] == "203.0.113.9"  # uvicorn's doing
    assert seen["scheme"] == "https"  # uvicorn's doing
    assert seen["host"].startswith("127.0.0.1:")  # not forwarded: the peer is no proxy


def _wait_for(server: Server, text: str, timeout: float = 5) -> str:
    import time

    deadline = time.monotonic() + timeout
    while text not in server.output and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.output
