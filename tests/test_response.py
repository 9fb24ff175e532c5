"""Response: constructors, headers, cookies, Content-Length, header safety (both entrypoints)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

import pytest

from twinframe import App, Response


def serve(make_client, response_factory, method="GET", **request_kwargs):
    """Answer one request on both sync and async handlers; both must agree."""
    app = App()

    @app.route("/sync", methods=[method])
    def sync_handler(req):
        return response_factory()

    @app.route("/async", methods=[method])
    async def async_handler(req):
        return response_factory()

    client = make_client(app)
    sync = client.request(method, "/sync", **request_kwargs)
    other = client.request(method, "/async", **request_kwargs)
    assert (sync.status_code, sync.content) == (other.status_code, other.content)
    assert sorted(sync.headers.multi_items()) == sorted(other.headers.multi_items())
    return sync


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

    html = serve(make_client, lambda: Response.html("<p>é</p>"))
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


def test_redirect_refuses_non_3xx():
    with pytest.raises(ValueError, match="3xx"):
        Response.redirect("/", status=200)


def test_header_in_headers_overrides_content_type(make_client):
    response = serve(
        make_client, lambda: Response("x", headers={"Content-Type": "text/x-custom"})
    )
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


# -- cookies -------------------------------------------------------------------------


def test_set_cookie_defaults(make_client):
    def make():
        response = Response("ok")
        response.set_cookie("session", "abc123")
        return response

    response = serve(make_client, make)
    assert response.headers.get_list("set-cookie") == [
        "session=abc123; Path=/; HttpOnly; SameSite=Lax"
    ]


def test_set_cookie_all_options(make_client):
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def make():
        response = Response("ok")
        response.set_cookie(
            "prefs",
            "dark",
            max_age=3600,
            expires=expires,
            path="/app",
            domain="example.org",
            secure=True,
            httponly=False,
            samesite="strict",
        )
        response.set_cookie("plain", "1", path=None, httponly=False, samesite=None)
        response.set_cookie("cross", "2", secure=True, samesite="None")
        return response

    response = serve(make_client, make)
    assert response.headers.get_list("set-cookie") == [
        "prefs=dark; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; "
        "Domain=example.org; Secure; SameSite=Strict",
        "plain=1",
        "cross=2; Path=/; Secure; HttpOnly; SameSite=None",
    ]


def test_set_cookie_expires_converts_to_gmt():
    response = Response()
    paris = timezone(timedelta(hours=2))
    response.set_cookie("a", "b", expires=datetime(2030, 6, 1, 14, 0, tzinfo=paris))
    response.set_cookie("c", "d", expires=datetime(2030, 6, 1, 14, 0))  # naive: taken as UTC
    assert response.headers.getall("Set-Cookie") == [
        "a=b; Expires=Sat, 01 Jun 2030 12:00:00 GMT; Path=/; HttpOnly; SameSite=Lax",
        "c=d; Expires=Sat, 01 Jun 2030 14:00:00 GMT; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_delete_cookie(make_client):
    def make():
        response = Response("bye")
        response.delete_cookie("session")
        response.delete_cookie("prefs", path="/app", domain="example.org")
        return response

    response = serve(make_client, make)
    assert response.headers.get_list("set-cookie") == [
        "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        "prefs=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; Domain=example.org",
    ]


def test_cookies_round_trip_through_the_client(make_client):
    app = App()

    @app.get("/login")
    def login(req):
        response = Response.redirect("/me")
        response.set_cookie("session", "s3cr3t")
        response.set_cookie("theme", "dark")
        return response

    @app.get("/me")
    def me(req):
        return req.cookies

    @app.get("/logout")
    def logout(req):
        response = Response("bye")
        response.delete_cookie("session")
        return response

    client = make_client(app)
    assert client.get("/login").status_code == 303
    assert client.get("/me").json() == {"session": "s3cr3t", "theme": "dark"}
    client.get("/logout")
    assert client.get("/me").json() == {"theme": "dark"}


@pytest.mark.parametrize(
    ("name", "value", "kwargs"),
    [
        ("bad name", "v", {}),
        ("semi;colon", "v", {}),
        ("", "v", {}),
        ("n", "has space", {}),
        ("n", "semi;colon", {}),
        ("n", 'quote"', {}),
        ("n", "comma,", {}),
        ("n", "é", {}),
        ("n", "v", {"samesite": "sometimes"}),
        ("n", "v", {"path": "/a;b"}),
        ("n", "v", {"domain": "x\r\ny"}),
    ],
)
def test_set_cookie_refuses_unsafe_input(name, value, kwargs):
    with pytest.raises(ValueError):
        Response().set_cookie(name, value, **kwargs)


def test_unsafe_cookie_in_a_handler_is_a_500(make_client, caplog):
    def make():
        response = Response("ok")
        response.set_cookie("n", "two words")
        return response

    response = serve(make_client, make)
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "encode it first" in caplog.text
