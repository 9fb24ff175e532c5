"""Sessions: req.session in a signed cookie, flash messages; on both entrypoints."""

from __future__ import annotations

import json
import logging
import time

import pytest

from twinframe import App, Forbidden, Response
from twinframe.middleware import Session, Sessions
from twinframe.signing import sign

KEY = "k" * 40
OTHER_KEY = "o" * 40


def session_app(**options) -> App:
    app = App(middleware=[Sessions(KEY, **options)])

    @app.post("/set")
    def set_value(req):
        for name, value in req.query.items():
            req.session[name] = value
        return "set"

    @app.get("/get")
    async def get_value(req):
        return dict(req.session)

    @app.get("/untouched")
    def untouched(req):
        return "no session here"

    @app.post("/clear")
    def clear(req):
        req.session.clear()
        return "cleared"

    @app.post("/login")
    def login(req):
        req.session["user"] = "ada"
        req.session.flash("Welcome back")
        req.session.flash("Your password expires soon", "warning")
        return Response.redirect("/home")

    @app.get("/home")
    def home(req):
        flashes = req.session.pop_flashes()
        return {"user": req.session.get("user"), "flashes": [list(f) for f in flashes]}

    @app.post("/refuse")
    def refuse(req):
        req.session.flash("Not allowed")
        raise Forbidden("no")

    return app


def set_cookie_headers(response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_values_survive_to_the_next_request(make_client):
    client = make_client(session_app())
    response = client.post("/set?user=ada&theme=dark")
    [cookie] = set_cookie_headers(response)
    assert cookie.startswith("session=")
    assert client.get("/get").json() == {"user": "ada", "theme": "dark"}


def test_cookie_attributes_are_the_safe_defaults(make_client):
    [cookie] = set_cookie_headers(make_client(session_app()).post("/set?a=1"))
    attributes = [part.strip() for part in cookie.split(";")[1:]]
    assert attributes == ["Max-Age=1209600", "Path=/", "HttpOnly", "SameSite=Lax"]

    client = make_client(
        session_app(cookie_name="sid", max_age=60, https_only=True, same_site="strict")
    )
    [cookie] = set_cookie_headers(client.post("/set?a=1"))
    assert cookie.startswith("sid=")
    assert [p.strip() for p in cookie.split(";")[1:]] == [
        "Max-Age=60",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ]


def test_cookie_is_sent_only_when_the_session_changed(make_client):
    client = make_client(session_app())
    client.post("/set?a=1")
    assert set_cookie_headers(client.get("/get")) == []  # read, not changed
    assert set_cookie_headers(client.get("/untouched")) == []
    assert set_cookie_headers(make_client(session_app()).get("/get")) == []  # empty, untouched


def test_the_cookie_is_not_read_unless_the_handler_uses_the_session(make_client, monkeypatch):
    loads: list[str] = []
    original = Sessions.load

    def counting_load(self, req):
        loads.append(req.path)
        return original(self, req)

    monkeypatch.setattr(Sessions, "load", counting_load)
    client = make_client(session_app())
    client.post("/set?a=1")
    client.get("/untouched")
    client.get("/get")
    assert loads == ["/set", "/get"]


def test_clear_ends_the_session_and_deletes_the_cookie(make_client):
    client = make_client(session_app())
    client.post("/set?a=1")
    response = client.post("/clear")
    [cookie] = set_cookie_headers(response)
    assert cookie.startswith("session=;") and "Max-Age=0" in cookie
    assert client.get("/get").json() == {}
    # Clearing a session that was never stored sends nothing.
    assert set_cookie_headers(make_client(session_app()).post("/clear")) == []


@pytest.mark.parametrize(
    "cookie",
    [
        "garbage",
        "a.b.c",
        sign(json.dumps({"user": "root"}), OTHER_KEY),  # another app's key
        sign("[1, 2]", KEY),  # valid, but not a dict
        sign("{not json", KEY),
        "",
    ],
    ids=["garbage", "three-parts", "other-key", "not-a-dict", "not-json", "empty"],
)
def test_a_bad_cookie_gives_an_empty_session_never_an_error(make_client, cookie):
    client = make_client(session_app())
    response = client.get("/get", headers={"cookie": f"session={cookie}"})
    assert (response.status_code, response.json()) == (200, {})


def test_a_tampered_cookie_gives_an_empty_session(make_client):
    client = make_client(session_app())
    [cookie] = set_cookie_headers(client.post("/set?user=ada"))
    value = cookie.split(";")[0].split("=", 1)[1]
    encoded, stamp, mac = value.split(".")
    forged = sign(json.dumps({"user": "root"}), KEY).split(".")[0]
    for tampered in (f"{forged}.{stamp}.{mac}", f"{encoded}.{int(stamp) + 1}.{mac}"):
        response = make_client(session_app()).get("/get", headers={"cookie": f"session={tampered}"})
        assert (response.status_code, response.json()) == (200, {})


def test_an_expired_cookie_gives_an_empty_session(make_client, monkeypatch):
    client = make_client(session_app(max_age=60))
    real_time = time.time
    # Ages well inside and outside max_age: a loaded machine may take seconds per request.
    for age, expected in ((30, {"user": "ada"}), (90, {})):
        monkeypatch.setattr(time, "time", lambda age=age: real_time() - age)
        [cookie] = set_cookie_headers(client.post("/set?user=ada"))  # signed `age` s ago
        monkeypatch.setattr(time, "time", real_time)
        # Sent by hand: the client's own cookie jar would drop an expired cookie itself.
        headers = {"cookie": cookie.split(";")[0]}
        assert make_client(session_app(max_age=60)).get("/get", headers=headers).json() == expected


def test_flash_messages_reach_the_next_page_once(make_client):
    client = make_client(session_app())
    response = client.post("/login")
    assert response.status_code == 303
    home = client.get("/home").json()
    assert home == {
        "user": "ada",
        "flashes": [["info", "Welcome back"], ["warning", "Your password expires soon"]],
    }
    assert client.get("/home").json() == {"user": "ada", "flashes": []}


def test_the_session_is_saved_on_error_responses_too(make_client):
    client = make_client(session_app())
    assert client.post("/refuse").status_code == 403
    assert client.get("/home").json()["flashes"] == [["info", "Not allowed"]]


def test_session_dict_notes_every_change():
    for change in (
        lambda s: s.__setitem__("a", 1),
        lambda s: s.__delitem__("x"),
        lambda s: s.pop("x"),
        lambda s: s.popitem(),
        lambda s: s.setdefault("new", 1),
        lambda s: s.update(a=1),
        lambda s: s.clear(),
        lambda s: s.flash("hi"),
        lambda s: s.pop_flashes(),
    ):
        session = Session({"x": 1, "_flashes": [["info", "hi"]]})
        assert not session.modified
        change(session)
        assert session.modified
    session = Session({"x": 1})
    (
        session.get("x"),
        session.pop("absent", None),
        session.setdefault("x", 2),
        session.peek_flashes(),
    )
    assert not session.modified


def test_a_change_inside_a_value_needs_modified(make_client):
    app = App(middleware=[Sessions(KEY)])

    @app.post("/add")
    def add(req):
        cart = req.session.setdefault("cart", [])
        cart.append(req.query["item"])
        if "mark" in req.query:
            req.session.modified = True
        return "ok"

    @app.get("/cart")
    def cart(req):
        return {"cart": req.session.get("cart")}

    client = make_client(app)
    client.post("/add?item=a")  # setdefault stored the new list
    client.post("/add?item=b")  # appended in place: not noticed
    assert client.get("/cart").json() == {"cart": ["a"]}
    client.post("/add?item=c&mark")
    assert client.get("/cart").json() == {"cart": ["a", "c"]}


def test_values_that_json_cannot_hold_are_a_logged_500(make_client, caplog):
    app = App(middleware=[Sessions(KEY)])

    @app.post("/")
    def handler(req):
        req.session["when"] = object()
        return "ok"

    with caplog.at_level(logging.ERROR, "twinframe"):
        response = make_client(app).post("/")
    assert response.status_code == 500
    assert "session values must be JSON-serialisable" in caplog.text


def test_an_oversized_session_is_logged(make_client, caplog):
    app = App(middleware=[Sessions(KEY)])

    @app.post("/")
    def handler(req):
        req.session["big"] = "x" * 5000
        return "ok"

    with caplog.at_level(logging.WARNING, "twinframe"):
        assert make_client(app).post("/").status_code == 200
    assert "browsers drop cookies over 4 KB" in caplog.text


def test_req_session_without_the_middleware_is_a_clear_error(make_client, caplog):
    app = App()

    @app.get("/")
    def handler(req):
        return dict(req.session)

    with caplog.at_level(logging.ERROR, "twinframe"):
        assert make_client(app).get("/").status_code == 500
    assert "req.session needs the Sessions middleware" in caplog.text


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "Sessions needs a secret_key"),
        ("", "Sessions needs a secret_key"),
        ("short", "secret_key is 5 bytes; use at least 32"),
    ],
)
def test_a_missing_or_short_key_fails_at_startup(key, message):
    with pytest.raises(ValueError, match=message):
        Sessions(key)


def test_bad_cookie_options_fail_at_startup():
    with pytest.raises(ValueError, match="needs https_only"):
        Sessions(KEY, same_site="none")
    with pytest.raises(ValueError, match="samesite"):
        Sessions(KEY, same_site="sometimes")
    with pytest.raises(ValueError, match="invalid cookie name"):
        Sessions(KEY, cookie_name="bad name")
    with pytest.raises(ValueError, match="max_age"):
        Sessions(KEY, max_age=0)


def test_a_websocket_hook_reads_the_session():
    from twinframe.testing import TestClient

    sessions = Sessions(KEY)  # the key of the app's own Sessions
    app = session_app()

    @app.websocket("/ws")
    async def ws_handler(ws):
        await ws.accept()
        await ws.send_json(dict(sessions.load(ws)))
        await ws.close()

    with TestClient(app, "asgi") as client:  # websockets: ASGI only
        client.post("/set?user=ada")
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json() == {"user": "ada"}
