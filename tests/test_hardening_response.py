"""Broken responses: unsafe headers refused before anything is sent, bad return
values, streams failing mid-way, failing error handlers. Both entrypoints."""

from __future__ import annotations

import logging

import httpx
import pytest
from raw_drivers import CALLERS

from twinframe import App, HTTPError, Response


def build_app() -> App:
    app = App()

    @app.get("/ok")
    def ok(req):
        return "ok"

    @app.get("/crlf-value")
    def crlf_value(req):
        return Response("body", headers={"X-Next": "a\r\nSet-Cookie: stolen=1"})

    @app.get("/lf-value")
    def lf_value(req):
        response = Response("body")
        response.headers["Location"] = "/x\nInjected: yes"
        return response

    @app.get("/crlf-name")
    def crlf_name(req):
        return Response("body", headers={"X-A\r\nB": "v"})

    @app.get("/crlf-redirect")
    def crlf_redirect(req):
        return Response.redirect("/home\r\n\r\n<script>")

    @app.get("/bad-cookie")
    def bad_cookie(req):
        response = Response("body")
        response.set_cookie("session", "a;b\r\nx")
        return response

    @app.get("/non-latin1-header")
    def non_latin1(req):
        return Response("body", headers={"X-Name": "snow ☃"})

    @app.get("/unsupported")
    def unsupported(req):
        return {1, 2, 3}

    @app.get("/bad-tuple")
    def bad_tuple(req):
        return ("body", "200")

    @app.get("/after-bad")
    def after_bad(req):
        return "fine"

    @app.after_request
    def breaks_after(req, response):
        if req.path == "/after-bad":
            return object()
        return None

    return app


UNSAFE = [
    "/crlf-value",
    "/lf-value",
    "/crlf-name",
    "/bad-cookie",
    "/non-latin1-header",
]


def test_redirect_url_with_crlf_is_escaped_not_split(interface):
    # Response.redirect percent-encodes control characters, so it can't split headers.
    result = CALLERS[interface](build_app(), "GET", b"/crlf-redirect")
    assert result.status == 303
    location = result.header("location")
    assert location is not None and "\r" not in location and "\n" not in location
    assert location.startswith("/home%0D%0A")


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_headers_are_refused_before_anything_is_sent(interface, path, caplog):
    app = build_app()
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        result = CALLERS[interface](app, "GET", path.encode())
    # One response, a plain 500: none of the handler's headers or body went out.
    assert result.status == 500
    assert result.header("content-type") == "application/problem+json"
    assert b"body" not in result.body and b"stolen" not in result.body
    assert all(
        name not in ("x-next", "location", "set-cookie", "x-name") for name, _ in result.headers
    )
    assert any(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in caplog.records)
    ok = CALLERS[interface](app, "GET", b"/ok")
    assert (ok.status, ok.body) == (200, b"ok")


def test_header_checks_raise_value_error_directly():
    response = Response("x", headers={"X-A": "1\r\n2"})
    with pytest.raises(ValueError, match="CR, LF"):
        response.header_list()
    with pytest.raises(ValueError, match="cookie"):
        Response().set_cookie("a", "b\nc")


@pytest.mark.parametrize(
    ("path", "label"), [("/unsupported", "unsupported()"), ("/bad-tuple", "bad_tuple()")]
)
def test_unsupported_return_type_is_500_naming_the_handler(make_client, caplog, path, label):
    client = make_client(build_app())
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get(path)
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
    }
    messages = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert any(label in m and "return a Response" in m for m in messages)
    assert client.get("/ok").text == "ok"


def test_unsupported_return_from_a_hook_is_500(make_client, caplog):
    client = make_client(build_app())
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        assert client.get("/after-bad").status_code == 500
    assert client.get("/ok").text == "ok"


def stream_app(log: list[str]) -> App:
    app = App()

    @app.get("/ok")
    def ok(req):
        return "ok"

    @app.get("/sync-fails")
    def sync_fails(req):
        def chunks():
            try:
                yield b"first,"
                yield b"second,"
                raise RuntimeError("disk on fire at /srv/secret/path")
            finally:
                log.append("sync closed")

        return Response.stream(chunks(), content_type="text/plain")

    @app.get("/async-fails")
    async def async_fails(req):
        async def chunks():
            try:
                yield b"first,"
                raise RuntimeError("async disk on fire")
            finally:
                log.append("async closed")

        return Response.stream(chunks(), content_type="text/plain")

    return app


@pytest.mark.parametrize("path", ["/sync-fails", "/async-fails"])
def test_stream_failing_mid_way_is_cut_logged_and_closed(interface, path, caplog):
    log: list[str] = []
    app = stream_app(log)
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        result = CALLERS[interface](app, "GET", path.encode())
    # Headers were out, so the status stays 200; the body is cut short and the
    # error propagates to the server, which closes the connection (see
    # tests/servers/test_faults.py for what real servers do with it).
    assert result.status == 200
    assert result.body.startswith(b"first,")
    assert isinstance(result.stream_error, RuntimeError)
    assert result.header("content-length") is None  # chunked: the cut is detectable
    if interface == "asgi":
        # The spec-checking driver saw no final more_body=False: the response never "completed".
        assert all(m.get("more_body", False) for m in result.messages[1:])
    assert any("stream failed mid-way" in r.getMessage() for r in caplog.records)
    assert log == [("sync" if path.startswith("/sync") else "async") + " closed"]
    ok = CALLERS[interface](app, "GET", b"/ok")
    assert (ok.status, ok.body) == (200, b"ok")


def test_stream_failing_mid_way_through_the_client(make_client, caplog):
    client = make_client(stream_app([]))
    with (
        caplog.at_level(logging.ERROR, logger="twinframe"),
        pytest.raises((RuntimeError, httpx.HTTPError)),
    ):
        client.get("/sync-fails")
    assert client.get("/ok").text == "ok"


def error_handler_app() -> App:
    app = App()

    class Boom(Exception):
        pass

    @app.errorhandler(404)
    def not_found(req, exc):
        raise RuntimeError("the 404 page itself is broken: /etc/secret")

    @app.errorhandler(Boom)
    async def on_boom(req, exc):
        return {"weird": object()}  # not JSON-serialisable

    @app.errorhandler(409)
    def bad_return(req, exc):
        return 12345

    @app.get("/boom")
    def boom(req):
        raise Boom()

    @app.get("/conflict")
    def conflict(req):
        raise HTTPError(409)

    @app.get("/ok")
    def ok(req):
        return "ok"

    return app


@pytest.mark.parametrize("path", ["/missing", "/boom", "/conflict"])
def test_exception_inside_an_error_handler_is_a_plain_500(make_client, caplog, path):
    client = make_client(error_handler_app())
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get(path)
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
    }
    assert "secret" not in response.text
    assert any("error handler" in r.getMessage() for r in caplog.records)
    assert client.get("/ok").text == "ok"
