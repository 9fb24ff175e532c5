"""TrustedHost: other Host headers get 400 before the handler; websockets too."""

from __future__ import annotations

import pytest

from twinframe import App
from twinframe.middleware import TrustedHost
from twinframe.testing import TestClient, WebSocketRejected


def host_app(hosts) -> tuple[App, list[str]]:
    app = App(middleware=[TrustedHost(hosts)])
    calls: list[str] = []

    @app.get("/")
    def handler(req):
        calls.append(req.host)
        return req.url

    @app.websocket("/ws")
    async def ws_handler(ws):
        await ws.accept()
        await ws.send_text(ws.host)
        await ws.close()

    return app, calls


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),
        ("EXAMPLE.com", True),
        ("example.com:8443", True),
        ("example.com.", True),
        ("www.example.com", True),
        ("a.b.example.com", True),
        ("api.test", True),
        ("evil.com", False),
        ("example.com.evil.com", False),
        ("notexample.com", False),
        ("test", False),
        ("other.api.test", False),
        ("127.0.0.1", False),
        ("[::1]:8000", True),
    ],
)
def test_only_allowed_hosts_reach_the_handler(make_client, host, allowed):
    app, calls = host_app(["example.com", "*.example.com", "api.test", "[::1]"])
    response = make_client(app).get("/", headers={"host": host})
    if allowed:
        assert response.status_code == 200
        assert calls == [host]
    else:
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == f"host {host!r} is not served here"
        assert calls == []


def test_a_malformed_host_is_a_400(make_client):
    app, calls = host_app(["example.com"])
    response = make_client(app).get("/", headers={"host": "exa mple.com"})
    assert response.status_code == 400
    assert calls == []


def test_star_allows_every_host(make_client):
    app, calls = host_app(["*"])
    assert make_client(app).get("/", headers={"host": "anything.example"}).status_code == 200
    assert calls == ["anything.example"]


def test_websocket_handshakes_are_checked_too():
    app, _ = host_app(["example.com"])
    with TestClient(app, "asgi", base_url="http://example.com") as client:  # websockets: ASGI
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "example.com"
    with TestClient(app, "asgi", base_url="http://evil.com") as client:
        with pytest.raises(WebSocketRejected) as refused:
            with client.websocket_connect("/ws"):
                pass
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "hosts", [["example.com:80"], ["ex*ample.com"], ["*example.com"], [""], []]
)
def test_bad_entries_fail_at_startup(hosts):
    with pytest.raises(ValueError):
        TrustedHost(hosts)


def test_hosts_must_be_a_list():
    with pytest.raises(TypeError):
        TrustedHost("example.com")
