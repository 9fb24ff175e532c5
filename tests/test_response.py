"""Response: constructors, headers, cookies, Content-Length, header safety (both entrypoints)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from helpers import serve
from raw_drivers import CALLERS

from twinframe import App, Response


def test_plain_constructor(make_client):
    response = serve(
        make_client,
        lambda: Response("créé", status=201, headers={"X-Thing": "1"}, content_type="text/csv"),
    )
    assert response.status_code == 201
    assert response.content == "créé".encode()
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["x-thing"] == "1"
    assert response.headers["content-length"] == str(len("créé".encode()))


@pytest.mark.parametrize(
    ("body", "content_type", "content"),
    [
        ("hé", "text/plain; charset=utf-8", "hé".encode()),
        (b"\x00\x01", "application/octet-stream", b"\x00\x01"),
        (bytearray(b"ab"), "application/octet-stream", b"ab"),
        (b"", "application/octet-stream", b""),
    ],
)
def test_default_content_types(make_client, body, content_type, content):
    response = serve(make_client, lambda: Response(body))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == content
    assert response.headers["content-length"] == str(len(content))


@pytest.mark.parametrize(
    ("value", "status", "content_type", "content"),
    [
        ("hé", 200, "text/plain; charset=utf-8", "hé".encode()),
        (b"raw", 200, "application/octet-stream", b"raw"),
        ({"a": "é"}, 200, "application/json", '{"a":"é"}'.encode()),
        ([1, 2], 200, "application/json", b"[1,2]"),
        (("made", 201), 201, "text/plain; charset=utf-8", b"made"),
        (({"id": 1}, 202, {"X-A": "b"}), 202, "application/json", b'{"id":1}'),
    ],
)
def test_return_value_defaults(make_client, value, status, content_type, content):
    response = serve(make_client, lambda: value)
    assert response.status_code == status
    assert response.headers["content-type"] == content_type
    assert response.content == content
    assert response.headers["content-length"] == str(len(content))
    if isinstance(value, tuple) and len(value) == 3:
        assert response.headers["x-a"] == "b"


def test_none_is_204_without_body_headers(make_client):
    response = serve(make_client, lambda: None)
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert "content-length" not in response.headers


def test_constructors(make_client):
    text = serve(make_client, lambda: Response.text("hi", status=202))
    assert (text.status_code, text.text) == (202, "hi")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"

    html = serve(
        make_client, lambda: Response.html("<p>é</p>", status=201, headers={"X-Frame": "deny"})
    )
    assert html.status_code == 201
    assert html.headers["x-frame"] == "deny"
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text == "<p>é</p>"
    assert html.headers["content-length"] == str(len("<p>é</p>".encode()))

    data = {"name": "é", "n": [1, None, True]}
    js = serve(make_client, lambda: Response.json(data, status=201, headers={"Location": "/x/1"}))
    assert js.status_code == 201
    assert js.headers["content-type"] == "application/json"
    assert js.headers["location"] == "/x/1"
    assert js.json() == data

    problem = serve(
        make_client, lambda: Response.json({"a": 1}, content_type="application/vnd.api+json")
    )
    assert problem.headers["content-type"] == "application/vnd.api+json"


def test_repr_shows_status_and_content_type():
    # What a debugger, a log line or a failing assertion shows for a response.
    assert repr(Response.text("hi", status=202)) == "<Response 202 text/plain; charset=utf-8>"
    assert repr(Response(status=204)) == "<Response 204 >"  # no body, so no type


@pytest.mark.parametrize("status", [None, 301, 302, 307, 308])
def test_redirect(make_client, status):
    def make():
        if status is None:
            return Response.redirect("/elsewhere?a=1")
        return Response.redirect("/elsewhere?a=1", status=status)

    response = serve(make_client, make)
    assert response.status_code == (status or 303)
    assert response.headers["location"] == "/elsewhere?a=1"
    assert response.content == b""
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "0"


def test_redirect_keeps_its_headers(make_client):
    response = serve(
        make_client,
        lambda: Response.redirect("/login", headers={"Cache-Control": "no-store"}),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/café?q=crème brûlée", "/caf%C3%A9?q=cr%C3%A8me%20br%C3%BBl%C3%A9e"),
        ("https://example.org/日本#part", "https://example.org/%E6%97%A5%E6%9C%AC#part"),
        ("/already%20encoded?a=%2F&b=[1]", "/already%20encoded?a=%2F&b=[1]"),
        ("/next\r\nSet-Cookie: admin=1", "/next%0D%0ASet-Cookie:%20admin=1"),
        ('/q?x="<tag>"', "/q?x=%22%3Ctag%3E%22"),
    ],
)
def test_redirect_encodes_what_a_url_cannot_hold(make_client, url, location):
    response = serve(make_client, lambda: Response.redirect(url))
    assert response.status_code == 303
    assert response.headers["location"] == location
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("status", [300, 399])
def test_redirect_takes_every_3xx(status):
    response = Response.redirect("/next", status=status)
    assert response.status == status
    assert response.headers["Location"] == "/next"


@pytest.mark.parametrize("status", [200, 299, 400])
def test_redirect_refuses_non_3xx(status):
    with pytest.raises(ValueError, match="3xx"):
        Response.redirect("/", status=status)


def test_header_in_headers_overrides_content_type(make_client):
    response = serve(make_client, lambda: Response("x", headers={"Content-Type": "text/x-custom"}))
    assert response.headers.get_list("content-type") == ["text/x-custom"]


def test_headers_are_a_case_insensitive_multidict(make_client):
    def make():
        response = Response("ok", headers=[("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
        response.headers.add("SET-COOKIE", "c=3")
        response.headers["x-one"] = "1"
        response.headers["X-ONE"] = "2"  # replaces, case-insensitively
        assert response.headers.getall("Set-Cookie") == ["a=1", "b=2", "c=3"]
        return response

    response = serve(make_client, make)
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2", "c=3"]
    assert response.headers.get_list("x-one") == ["2"]


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_have_no_length_or_type(make_client, status):
    response = serve(make_client, lambda: Response(status=status))
    assert response.status_code == status
    assert "content-length" not in response.headers
    assert "content-type" not in response.headers


# -- streams --------------------------------------------------------------------------


def sync_chunks():
    yield "é"
    yield b"-bytes-"
    yield b""  # empty chunks are skipped, not taken as the end
    yield "end"


async def async_chunks():
    for chunk in ("é", b"-bytes-", b"", "end"):
        await asyncio.sleep(0)
        yield chunk


@pytest.mark.parametrize("source", [sync_chunks, async_chunks, lambda: ["é", b"-bytes-", "end"]])
def test_stream_sync_and_async_iterables(make_client, source):
    response = serve(
        make_client, lambda: Response.stream(source(), content_type="text/plain; charset=utf-8")
    )
    assert response.status_code == 200
    assert response.content == "é-bytes-end".encode()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-length" not in response.headers


def test_stream_default_type_status_and_headers(make_client):
    response = serve(
        make_client, lambda: Response.stream(iter([b"a", b"b"]), status=206, headers={"X-S": "1"})
    )
    assert response.status_code == 206
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-s"] == "1"
    assert response.content == b"ab"


def test_stream_generator_is_closed_when_done(make_client):
    closed = []

    def chunks():
        try:
            yield b"x"
        finally:
            closed.append(True)

    app = App()

    @app.get("/")
    def handler(req):
        return Response.stream(chunks())

    assert make_client(app).get("/").content == b"x"
    assert closed == [True]


# -- header safety ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Bad": "value\r\nInjected: yes"},
        {"X-Bad": "value\nInjected: yes"},
        {"X-Bad": "value\rInjected: yes"},
        {"X-Bad": "nul\x00byte"},
        {"X-Bad\r\nInjected": "yes"},
        {"X-Bad: Injected": "yes"},
        {"X Bad": "yes"},
        {"X-Bad": "snowman ☃"},
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_unsafe_headers_are_refused(make_client, caplog, headers, streamed):
    def make():
        if streamed:
            return Response.stream(iter([b"secret body"]), headers=headers)
        return Response("secret body", headers=headers)

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = serve(make_client, make)
    assert response.status_code == 500
    assert b"secret body" not in response.content
    sent = " ".join(f"{k}: {v}" for k, v in response.headers.multi_items()).lower()
    assert "x-bad" not in sent and "x bad" not in sent
    assert "injected" not in sent
    assert "snowman" not in sent
    assert "invalid response" in caplog.text
    assert "ValueError" in caplog.text


def test_unsafe_header_from_after_request_hook(make_client, caplog):
    app = App()

    @app.after_request
    def add_header(req, resp):
        resp.headers["X-Trace"] = req.query.get("trace", "")

    @app.get("/")
    def index(req):
        return "ok"

    client = make_client(app)
    assert client.get("/?trace=abc").headers["x-trace"] == "abc"
    response = client.get("/?trace=a%0D%0ASet-Cookie:%20evil=1")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "x-trace" not in response.headers
    assert "invalid response" in caplog.text


# -- unsafe headers, before anything is sent ----------------------------------------


def unsafe_headers_app() -> App:
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
    result = CALLERS[interface](unsafe_headers_app(), "GET", b"/crlf-redirect")
    assert result.status == 303
    location = result.header("location")
    assert location is not None and "\r" not in location and "\n" not in location
    assert location.startswith("/home%0D%0A")


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_headers_are_refused_before_anything_is_sent(interface, path, caplog):
    app = unsafe_headers_app()
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


# -- streams failing mid-way --------------------------------------------------------


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


# -- responses that carry no body (204, 304, HEAD) --------------------------------------


class ClosingChunks:
    """A sync body stream that records being closed (a generator that never started
    skips its ``finally``, so it couldn't tell)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __iter__(self):
        yield b"never sent"

    def close(self) -> None:
        self.log.append("closed")


class AsyncClosingChunks(ClosingChunks):
    """The async twin of ``ClosingChunks``."""

    def __iter__(self):
        raise AssertionError("an async stream is iterated with async for")

    async def __aiter__(self):
        yield b"never sent"

    async def aclose(self) -> None:
        self.log.append("closed")


def closing_chunks(log: list[str], kind: str = "sync") -> ClosingChunks:
    return ClosingChunks(log) if kind == "sync" else AsyncClosingChunks(log)


BODILESS = {
    "tuple-204": lambda log: ("hello", 204),
    "response-304": lambda log: Response("hello", status=304),
    "json-204": lambda log: Response.json({"a": 1}, status=204),
    "stream-204": lambda log: Response.stream(closing_chunks(log), status=204),
    "async-stream-304": lambda log: Response.stream(closing_chunks(log, "async"), status=304),
}


@pytest.mark.parametrize("case", list(BODILESS))
def test_204_and_304_send_no_body_and_no_content_type(interface, case):
    log: list[str] = []
    app = App()

    @app.get("/")
    def handler(req):
        return BODILESS[case](log)

    result = CALLERS[interface](app, "GET", b"/")
    assert result.status in (204, 304)
    assert result.body == b""
    assert result.header("content-type") is None
    assert result.header("content-length") is None
    if "stream" in case:
        assert log == ["closed"]  # the stream was closed, never sent


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_head_sends_no_body_and_closes_the_stream(interface, kind):
    log: list[str] = []
    app = App()

    @app.get("/")
    def handler(req):
        return Response.stream(closing_chunks(log, kind), content_type="text/plain")

    result = CALLERS[interface](app, "HEAD", b"/")
    assert result.status == 200
    assert result.body == b""
    assert result.header("content-type") == "text/plain"
    assert log == ["closed"]


@pytest.mark.parametrize(
    "data",
    [
        {"id": 42},
        [1, 2.5, -0.0, 1e300, None, True, False],
        {"nested": {"list": [{"a": "b"}], "empty": {}, "none": None}},
        'a lone string with "quotes", \\ and \n',
        {"unicode": "é 漢字 \U0001f600", "control": "\x00\x1f\x7f"},
        {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
        float("nan"),
        [float("inf"), float("-inf")],
        (1, 2, 3),
        12345678901234567890,
    ],
)
def test_response_json_bytes_are_json_dumps_compact_unicode(data: Any) -> None:
    # Response.json keeps one C encoder instead of JSONEncoder.encode's one per call:
    # the bytes must be what json.dumps(ensure_ascii=False, compact separators) gives.
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    assert Response.json(data).body == expected


def test_response_json_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        Response.json({"when": object()})
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises((ValueError, RecursionError)):
        Response.json(circular)
    # A failed encoding leaves nothing behind: the same objects encode fine after.
    shared = {"a": [1, 2]}
    assert Response.json([shared, shared]).body == b'[{"a":[1,2]},{"a":[1,2]}]'
