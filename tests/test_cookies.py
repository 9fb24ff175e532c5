"""Cookies (twinframe/cookies.py): parsing the Cookie header, setting and deleting cookies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from helpers import recording_app, serve

from twinframe import App, Response
from twinframe.signing import BadSignature, sign, unsign

# -- the Cookie header --------------------------------------------------------------


def test_cookies_browser_style(make_client):
    app = App()

    @app.get("/")
    def cookies(req):
        return req.cookies

    header = (
        'session=abc123; theme=dark; greeting=hello world; quoted="with spaces"; '
        "cart=[1,2,3]; token=a=b==; broken; =novalue; empty=; session=second; "
        "  padded  =  x  "
    )
    data = make_client(app).get("/", headers={"Cookie": header}).json()
    assert data == {
        "session": "abc123",  # first occurrence wins (the most specific path)
        "theme": "dark",
        "greeting": "hello world",
        "quoted": "with spaces",
        "cart": "[1,2,3]",
        "token": "a=b==",
        "empty": "",
        "padded": "x",
    }


def test_no_cookie_header_gives_empty_dict(make_client):
    app = App()

    @app.get("/")
    def cookies(req):
        return {"cookies": req.cookies}

    assert make_client(app).get("/").json() == {"cookies": {}}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; ;;; =x; b; c=3", {"a": "1", "c": "3"}),
        ('a="quoted"; a=second; =; ==; d==e', {"a": "quoted", "d": "=e"}),
        ("\x00\x01=\x02; e=\xff\xfe", {"\x00\x01": "\x02", "e": "\xff\xfe"}),
        (";" * 10_000, {}),
    ],
)
def test_malformed_cookie_headers_never_fail(make_client, header, expected):
    app, _ = recording_app()
    client = make_client(app)
    response = client.get("/cookies", headers={"cookie": header.encode("latin-1")})
    assert response.status_code == 200
    assert response.json() == expected


# -- Set-Cookie ---------------------------------------------------------------------


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


# -- safe defaults and signed cookies -----------------------------------------------


def cookie_app(secret: str) -> App:
    app = App()

    @app.get("/set")
    def set_cookies(req):
        response = Response("set")
        response.set_cookie("plain", "1")
        response.set_cookie("flash", sign("Post created", secret))
        return response

    @app.get("/read")
    def read(req):
        try:
            return {"flash": unsign(req.cookies.get("flash", ""), secret, max_age=60)}
        except BadSignature:
            return {"flash": None}

    return app


def test_cookies_default_to_httponly_samesite_lax(make_client):
    client = make_client(cookie_app("s3cret"))
    cookies = client.get("/set").headers.get_list("set-cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        attributes = [part.strip() for part in cookie.split(";")]
        assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes


def read_flash(client, flash: str) -> object:
    return client.get("/read", headers={"cookie": f"flash={flash}"}).json()["flash"]


def test_signed_cookie_round_trip_and_forgery(make_client):
    client = make_client(cookie_app("s3cret"))
    flash = client.get("/set").cookies["flash"]
    client.cookies.clear()
    assert read_flash(client, flash) == "Post created"
    value, stamp, mac = flash.split(".")
    forged_value = sign("You are admin", "guessed-secret").split(".")[0]
    for forged in [
        f"{forged_value}.{stamp}.{mac}",
        f"{value}.{int(stamp) + 1}.{mac}",
        value,
        "",
        "..",
        flash + "x",
    ]:
        assert read_flash(client, forged) is None, forged
    assert read_flash(make_client(cookie_app("other")), flash) is None


def _cookie_app() -> App:
    app = App()

    @app.get("/")
    def show(req):
        return req.cookies

    return app


def test_cookies_split_over_several_headers_are_all_read_under_asgi():
    # HTTP/2 and 3 may send one cookie per header (RFC 9113 8.2.3).
    import json

    from raw_drivers import call_asgi

    headers = [(b"cookie", b"a=1"), (b"cookie", b"b=2; c=3"), (b"cookie", b"a=ignored")]
    result = call_asgi(_cookie_app(), "GET", b"/", headers)
    assert json.loads(result.body) == {"a": "1", "b": "2", "c": "3"}


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_a_cookie_value_with_comma_and_space_in_one_header(interface):
    import json

    from raw_drivers import CALLERS

    headers = [(b"cookie", b'consent="a=1, b=0"; theme=dark, light; lang=en')]
    result = CALLERS[interface](_cookie_app(), "GET", b"/", headers=headers)
    assert json.loads(result.body) == {"consent": "a=1, b=0", "theme": "dark, light", "lang": "en"}
