"""ProxyHeaders: client, scheme and host from a trusted proxy's headers; ignored from others."""

from __future__ import annotations

import pytest

from twinframe import App, Response
from twinframe.middleware import ProxyHeaders, TrustedHost
from twinframe.testing import TestClient
from twinframe.testing.scope import CLIENT

PEER = CLIENT[0]  # the address the TestClient's requests come from


def proxied_app(trusted) -> App:
    app = App(middleware=[ProxyHeaders(trusted=trusted)])

    @app.get("/where")
    def where(req):
        return {
            "client": list(req.client or []),
            "scheme": req.scheme,
            "host": req.host,
            "url": req.url,
        }

    @app.get("/go")
    def go(req):
        return Response.redirect(f"{req.scheme}://{req.host}/where")

    @app.websocket("/ws")
    async def ws_handler(ws):
        await ws.accept()
        await ws.send_json({"client": list(ws.client or []), "scheme": ws.scheme, "host": ws.host})
        await ws.close()

    return app


def where(client, headers) -> dict:
    response = client.get("/where?x=1", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


X_FORWARDED = {
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "shop.example.com",
}


def test_x_forwarded_headers_from_a_trusted_peer(make_client):
    seen = where(make_client(proxied_app([PEER])), X_FORWARDED)
    assert seen == {
        "client": ["203.0.113.7", 0],
        "scheme": "https",
        "host": "shop.example.com",
        "url": "https://shop.example.com/where?x=1",
    }


def test_x_forwarded_proto_alone_sets_the_scheme_and_keeps_the_peer(make_client):
    seen = where(make_client(proxied_app([PEER])), {"x-forwarded-proto": "https"})
    assert seen["scheme"] == "https"
    assert seen["client"][0] == PEER
    assert seen["url"] == "https://testserver/where?x=1"


def test_the_headers_of_an_untrusted_peer_are_ignored(make_client):
    seen = where(make_client(proxied_app(["10.0.0.0/8"])), X_FORWARDED)
    assert seen["client"][0] == PEER
    assert seen["scheme"] == "http"
    assert seen["host"] == "testserver"


def test_forwarded_header_wins_over_x_forwarded(make_client):
    headers = {
        **X_FORWARDED,
        "forwarded": 'for="[2001:db8::7]:4711";proto=https;host="api.example.com:8443"',
    }
    seen = where(make_client(proxied_app([PEER])), headers)
    assert seen["client"] == ["2001:db8::7", 4711]
    assert seen["scheme"] == "https"
    assert seen["host"] == "api.example.com:8443"
    assert seen["url"] == "https://api.example.com:8443/where?x=1"


def test_the_client_is_the_rightmost_untrusted_hop(make_client):
    client = make_client(proxied_app([PEER, "10.0.0.0/8"]))
    # A client-forged first entry, then the real client, then a trusted inner proxy.
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.2, 10.1.2.3"}
    assert where(client, headers)["client"] == ["198.51.100.2", 0]
    forwarded = {"forwarded": "for=6.6.6.6, for=198.51.100.2;proto=https, for=10.1.2.3;proto=http"}
    seen = where(client, forwarded)
    assert seen["client"] == ["198.51.100.2", 0]
    assert seen["scheme"] == "https"  # what the proxy that saw the client was asked
    # Every hop trusted: the first is the client.
    assert where(client, {"x-forwarded-for": "10.0.0.1, 10.0.0.2"})["client"] == ["10.0.0.1", 0]


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": "not-an-ip", "x-forwarded-proto": "gopher"},
        {"x-forwarded-host": "evil.com/path"},
        {"forwarded": "for=unknown;proto=ftp"},
        {"forwarded": "garbage without pairs"},
    ],
)
def test_malformed_values_are_ignored(make_client, headers):
    seen = where(make_client(proxied_app([PEER])), headers)
    assert seen["client"][0] == PEER
    assert seen["scheme"] == "http"
    assert seen["host"] == "testserver"


def test_redirects_name_the_public_address(make_client):
    response = make_client(proxied_app([PEER])).get("/go", headers=X_FORWARDED)
    assert response.status_code == 303
    assert response.headers["location"] == "https://shop.example.com/where"


def test_star_trusts_every_peer(make_client):
    assert where(make_client(proxied_app(["*"])), X_FORWARDED)["scheme"] == "https"


def test_trusted_host_checks_the_forwarded_host(make_client):
    app = proxied_app([PEER])
    app.add_middleware(TrustedHost(["shop.example.com"]))
    client = make_client(app)
    assert client.get("/where", headers=X_FORWARDED).status_code == 200
    assert client.get("/where").status_code == 400  # testserver itself is not allowed


def test_websocket_handshakes_are_forwarded_too():
    with TestClient(proxied_app([PEER]), "asgi") as client:  # websockets: ASGI only
        with client.websocket_connect("/ws", headers=X_FORWARDED) as ws:
            assert ws.receive_json() == {
                "client": ["203.0.113.7", 0],
                "scheme": "wss",
                "host": "shop.example.com",
            }


@pytest.mark.parametrize("trusted", [["localhost"], ["10.0.0.0/33"]])
def test_a_bad_trusted_entry_fails_at_startup(trusted):
    with pytest.raises(ValueError, match="not an IP address or network"):
        ProxyHeaders(trusted=trusted)


def test_ipv4_mapped_peers_match_ipv4_networks():
    assert ProxyHeaders(["127.0.0.0/8"]).trusts("::ffff:127.0.0.1")
    assert not ProxyHeaders(["127.0.0.0/8"]).trusts(None)
    assert ProxyHeaders(["*"]).trusts(None)
