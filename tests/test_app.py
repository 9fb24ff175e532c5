"""The App pipeline: return values, sync/async under both entrypoints, hooks, error handling,
and nothing internal in a 500 unless debug is on."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from http import HTTPStatus

import pytest
from raw_drivers import CALLERS

from twinframe import App, HTTPError, NotFound, Response

GENERIC_500 = {"type": "about:blank", "title": "Internal Server Error", "status": 500}

# -- handler return values --------------------------------------------------------------------


def _returns_app() -> App:
    app = App()

    @app.get("/str")
    def text(req):
        return "héllo"

    @app.get("/bytes")
    def raw(req):
        return b"\x00\x01"

    @app.get("/dict")
    def mapping(req):
        return {"a": 1, "é": [True, None]}

    @app.get("/ordered")
    def ordered(req):
        return OrderedDict([("b", 2), ("a", 1)])

    @app.get("/list")
    def sequence(req):
        return [1, "two"]

    @app.get("/none")
    def nothing(req):
        return None

    @app.get("/tuple2")
    def created(req):
        return {"id": 1}, 201

    @app.get("/tuple3")
    def with_headers(req):
        return "made", 201, {"Location": "/things/1", "X-Extra": "yes"}

    @app.get("/tuple-list-headers")
    def list_headers(req):
        return "two cookies", 200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]

    @app.get("/tuple-enum")
    def enum_status(req):
        return "accepted", HTTPStatus.ACCEPTED

    @app.get("/tuple-none")
    def none_body(req):
        return None, 201

    @app.get("/tuple-204")
    def no_content(req):
        return "", 204

    @app.get("/tuple-response")
    def response_in_tuple(req):
        return Response.html("<p>hi</p>"), 418, {"X-Teapot": "1"}

    @app.get("/response")
    def response(req):
        return Response("custom", status=202, headers={"X-A": "b"}, content_type="text/x-custom")

    @app.get("/async-dict")
    async def async_mapping(req):
        await asyncio.sleep(0)
        return {"async": True}

    @app.get("/async-tuple")
    async def async_tuple(req):
        return "gone", 410

    return app


def test_str_is_utf8_text(make_client):
    response = make_client(_returns_app()).get("/str")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == "héllo".encode()
    assert response.headers["content-length"] == str(len("héllo".encode()))


def test_bytes_is_octet_stream(make_client):
    response = make_client(_returns_app()).get("/bytes")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01"


def test_dict_and_list_are_json(make_client):
    client = make_client(_returns_app())
    response = client.get("/dict")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"a": 1, "é": [True, None]}
    assert client.get("/ordered").json() == {"b": 2, "a": 1}
    assert client.get("/list").json() == [1, "two"]
    assert client.get("/async-dict").json() == {"async": True}


def test_none_is_204_without_body_or_content_type(make_client):
    response = make_client(_returns_app()).get("/none")
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers
    assert "content-length" not in response.headers


def test_tuples(make_client):
    client = make_client(_returns_app())
    response = client.get("/tuple2")
    assert (response.status_code, response.json()) == (201, {"id": 1})
    assert response.headers["content-type"] == "application/json"
    response = client.get("/tuple3")
    assert (response.status_code, response.text) == (201, "made")
    assert response.headers["location"] == "/things/1"
    assert response.headers["x-extra"] == "yes"
    response = client.get("/tuple-list-headers")
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    response = client.get("/tuple-enum")
    assert (response.status_code, response.text) == (202, "accepted")
    response = client.get("/tuple-none")
    assert (response.status_code, response.content) == (201, b"")
    assert response.headers["content-length"] == "0"
    response = client.get("/tuple-204")
    assert response.status_code == 204
    assert "content-type" not in response.headers and "content-length" not in response.headers
    response = client.get("/tuple-response")
    assert response.status_code == 418
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-teapot"] == "1"
    response = client.get("/async-tuple")
    assert (response.status_code, response.text) == (410, "gone")


def test_response_is_sent_as_is(make_client):
    response = make_client(_returns_app()).get("/response")
    assert response.status_code == 202
    assert response.headers["content-type"] == "text/x-custom"
    assert response.headers["x-a"] == "b"
    assert response.text == "custom"


@pytest.mark.parametrize(
    "value",
    [42, 1.5, {1, 2}, object(), ("body",), ("body", "200"), ("b", 200, {}, "extra"), ("b", True)],
    ids=["int", "float", "set", "object", "1-tuple", "str-status", "4-tuple", "bool-status"],
)
def test_unsupported_return_is_500_and_a_logged_type_error(make_client, caplog, value):
    app = App()

    @app.get("/bad")
    def returns_something_odd(req):
        return value

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = make_client(app).get("/bad")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == GENERIC_500
    errors = [r for r in caplog.records if r.name == "twinframe" and r.exc_info]
    assert errors, caplog.text
    exc = errors[-1].exc_info[1]  # type: ignore[index]
    assert isinstance(exc, TypeError)
    assert "returns_something_odd" in str(exc)
    assert type(value).__name__ in str(exc)


@pytest.mark.parametrize("status", [99, 101, 600, 1000, -1])
def test_out_of_range_status_is_a_500(make_client, caplog, status):
    app = App()

    @app.get("/tuple")
    def bad_status(req):
        return "x", status

    @app.get("/response")
    def bad_response(req):
        return Response("x", status=status)

    client = make_client(app)
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        assert client.get("/tuple").status_code == 500
        assert "bad_status() returned status" in caplog.text
        assert client.get("/response").status_code == 500
        assert f"response status {status} is not a final HTTP status" in caplog.text


# -- sync and async handlers under both entrypoints --------------------------------------------


def test_sync_and_async_handlers_see_the_same_request(make_client):
    app = App()

    def describe(req, id):
        return {
            "method": req.method,
            "path": req.path,
            "id": id,
            "q": req.query.get("q"),
            "json": req.json,
            "header": req.headers.get("x-test"),
        }

    @app.post("/sync/{id:d}")
    def sync_handler(req, id):
        return describe(req, id)

    @app.post("/async/{id:d}")
    async def async_handler(req, id):
        await asyncio.sleep(0)
        return describe(req, id)

    client = make_client(app)
    kwargs = {"params": {"q": "x"}, "json": {"n": 1}, "headers": {"X-Test": "t"}}
    sync = client.post("/sync/5", **kwargs).json()
    async_ = client.post("/async/5", **kwargs).json()
    assert sync.pop("path") == "/sync/5"
    assert async_.pop("path") == "/async/5"
    assert sync == async_ == {"method": "POST", "id": 5, "q": "x", "json": {"n": 1}, "header": "t"}


# -- before_request / after_request ---------------------------------------------------------


def test_before_request_runs_in_order_and_shares_state(make_client):
    app = App()
    calls: list[str] = []

    @app.before_request
    def first(req):
        calls.append("first")
        req.state.user = req.headers.get("x-user")

    @app.before_request
    async def second(req):
        calls.append("second")
        req.state.greeting = f"hi {req.state.user}"

    @app.get("/me")
    def me(req):
        calls.append("handler")
        return req.state.greeting

    client = make_client(app)
    assert client.get("/me", headers={"X-User": "ann"}).text == "hi ann"
    assert calls == ["first", "second", "handler"]


@pytest.mark.parametrize("hook_is_async", [False, True])
def test_before_request_may_short_circuit(make_client, hook_is_async):
    app = App()
    handled: list[str] = []

    def decide(req):
        if req.headers.get("authorization") != "Bearer good":
            challenge = {"WWW-Authenticate": "Bearer"}
            return Response.json({"error": "login"}, status=401, headers=challenge)
        return None

    if hook_is_async:

        @app.before_request
        async def auth(req):
            await asyncio.sleep(0)
            return decide(req)

    else:
        app.before_request(decide)

    @app.before_request
    def never_after_short_circuit(req):
        handled.append("second hook")

    @app.get("/secret")
    def secret(req):
        handled.append("handler")
        return "secret"

    client = make_client(app)
    response = client.get("/secret")
    assert response.status_code == 401
    assert response.json() == {"error": "login"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert handled == []
    assert client.get("/secret", headers={"Authorization": "Bearer good"}).text == "secret"
    assert handled == ["second hook", "handler"]


def test_before_request_return_values_are_converted_and_errors_render(make_client):
    app = App()

    @app.before_request
    def gate(req):
        mode = req.query.get("mode")
        if mode == "tuple":
            return {"blocked": True}, 403
        if mode == "raise":
            raise HTTPError(429, "slow down", {"Retry-After": "5"})
        return None

    @app.get("/")
    def index(req):
        return "index"

    client = make_client(app)
    assert client.get("/").text == "index"
    response = client.get("/?mode=tuple")
    assert (response.status_code, response.json()) == (403, {"blocked": True})
    response = client.get("/?mode=raise")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "slow down"


@pytest.mark.parametrize("hook_is_async", [False, True])
def test_after_request_may_modify_or_replace(make_client, hook_is_async):
    app = App()

    def tag(req, resp):
        resp.headers["X-Served-By"] = "twinframe"

    def replace(req, resp):
        if req.query.get("replace"):
            return Response.text(f"replaced {resp.status}", status=200)
        return None

    if hook_is_async:

        @app.after_request
        async def tag_async(req, resp):
            return tag(req, resp)

        @app.after_request
        async def replace_async(req, resp):
            await asyncio.sleep(0)
            return replace(req, resp)

    else:
        app.after_request(tag)
        app.after_request(replace)

    @app.get("/")
    def index(req):
        return "index"

    client = make_client(app)
    response = client.get("/")
    assert response.text == "index"
    assert response.headers["x-served-by"] == "twinframe"
    response = client.get("/?replace=1")
    assert response.text == "replaced 200"
    assert "x-served-by" not in response.headers  # a new response, made after the tag
    # After-hooks see error responses too (here a 404 from routing).
    response = client.get("/missing")
    assert response.status_code == 404
    assert response.headers["x-served-by"] == "twinframe"
    assert client.get("/missing?replace=1").text == "replaced 404"


def test_after_request_sees_the_short_circuit_response(make_client):
    app = App()

    @app.before_request
    def stop(req):
        return "stopped", 503

    @app.after_request
    def stamp(req, resp):
        resp.headers["X-Status-Seen"] = str(resp.status)

    @app.get("/")
    def index(req):
        return "index"

    response = make_client(app).get("/")
    assert response.status_code == 503
    assert response.headers["x-status-seen"] == "503"


def test_after_request_exception_is_a_500(make_client, caplog):
    app = App()

    @app.after_request
    def broken(req, resp):
        raise RuntimeError("after hook secret")

    @app.get("/")
    def index(req):
        return "index"

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = make_client(app).get("/")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert "after hook secret" in caplog.text


# -- error handlers -------------------------------------------------------------------------------


class PaymentRequired(Exception):
    pass


class CardDeclined(PaymentRequired):
    pass


@pytest.mark.parametrize("handler_is_async", [False, True])
def test_errorhandler_by_status(make_client, handler_is_async):
    app = App()

    def render(req, exc):
        return Response.html(f"<h1>{exc.status}: {exc.detail}</h1>", status=exc.status)

    if handler_is_async:

        @app.errorhandler(404)
        async def not_found(req, exc):
            await asyncio.sleep(0)
            return render(req, exc)

    else:
        app.errorhandler(404)(render)

    @app.get("/posts/{id:d}")
    def post(req, id):
        raise NotFound(f"no post {id}")

    client = make_client(app)
    response = client.get("/posts/3")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<h1>404: no post 3</h1>"
    # Routing's own 404 goes through it too.
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.text == "<h1>404: nothing is served at this path</h1>"
    # Other statuses keep the default rendering.
    response = client.post("/posts/3")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("handler_is_async", [False, True])
def test_errorhandler_by_exception_class(make_client, handler_is_async, caplog):
    app = App()

    def render(req, exc):
        return {"error": type(exc).__name__, "message": str(exc)}, 402

    if handler_is_async:

        @app.errorhandler(PaymentRequired)
        async def payment(req, exc):
            return render(req, exc)

    else:
        app.errorhandler(PaymentRequired)(render)

    @app.get("/pay")
    def pay(req):
        raise CardDeclined("card declined")

    @app.get("/pay-async")
    async def pay_async(req):
        raise PaymentRequired("no card")

    client = make_client(app)
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get("/pay")
        assert (response.status_code, response.json()) == (
            402,
            {"error": "CardDeclined", "message": "card declined"},
        )
        response = client.get("/pay-async")
        assert (response.status_code, response.json()["error"]) == (402, "PaymentRequired")
    # Handled on purpose: nothing logged as an error.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_most_specific_exception_handler_wins(make_client):
    app = App()

    @app.errorhandler(PaymentRequired)
    def base(req, exc):
        return "base", 402

    @app.errorhandler(CardDeclined)
    def specific(req, exc):
        return "specific", 402

    @app.get("/declined")
    def declined(req):
        raise CardDeclined()

    @app.get("/required")
    def required(req):
        raise PaymentRequired()

    client = make_client(app)
    assert client.get("/declined").text == "specific"
    assert client.get("/required").text == "base"


def test_error_handler_bare_body_keeps_the_error_status(make_client):
    app = App()

    @app.errorhandler(404)
    def not_found(req, exc):
        return {"missing": req.path}

    @app.errorhandler(ValueError)
    def bad_value(req, exc):
        return f"bad value: {exc}"

    @app.get("/value")
    def value(req):
        raise ValueError("nope")

    client = make_client(app)
    response = client.get("/nowhere")
    assert (response.status_code, response.json()) == (404, {"missing": "/nowhere"})
    response = client.get("/value")
    assert (response.status_code, response.text) == (500, "bad value: nope")


def test_error_handler_returning_none_keeps_the_default(make_client):
    app = App()

    @app.errorhandler(404)
    def only_for_api(req, exc):
        if req.path.startswith("/api/"):
            return {"api": "missing"}
        return None

    client = make_client(app)
    assert client.get("/api/x").json() == {"api": "missing"}
    response = client.get("/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_error_headers_survive_a_custom_handler(make_client):
    app = App()

    @app.errorhandler(405)
    def not_allowed(req, exc):
        return Response.text("wrong method", status=405)

    @app.errorhandler(HTTPError)
    def any_http_error(req, exc):
        return Response.text(f"error {exc.status}", status=exc.status)

    @app.get("/only-get")
    def only_get(req):
        raise HTTPError(401, "who?", {"WWW-Authenticate": 'Basic realm="x"'})

    client = make_client(app)
    response = client.post("/only-get")
    assert (response.status_code, response.text) == (405, "wrong method")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    response = client.get("/only-get")
    assert (response.status_code, response.text) == (401, "error 401")
    assert response.headers["www-authenticate"] == 'Basic realm="x"'


def test_exception_handler_does_not_swallow_http_errors(make_client):
    app = App()

    @app.errorhandler(Exception)
    def crash_page(req, exc):
        return Response.text("sorry, we crashed", status=500)

    @app.get("/crash")
    def crash(req):
        raise RuntimeError("boom")

    @app.get("/missing")
    def missing(req):
        raise NotFound("not here")

    client = make_client(app)
    assert client.get("/crash").text == "sorry, we crashed"
    # HTTP errors are answers, not crashes: a catch-all for Exception leaves them alone.
    response = client.get("/missing")
    assert response.status_code == 404
    assert response.json()["detail"] == "not here"
    assert client.get("/nowhere").status_code == 404


def test_500_handler_gets_unhandled_exceptions_which_are_still_logged(make_client, caplog):
    app = App()

    @app.errorhandler(500)
    def server_error(req, exc):
        return Response.html(f"<h1>Oops ({type(exc).__name__})</h1>", status=500)

    @app.get("/boom")
    def boom(req):
        raise KeyError("the-secret-key")

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = make_client(app).get("/boom")
    assert response.status_code == 500
    assert response.text == "<h1>Oops (KeyError)</h1>"
    records = [r for r in caplog.records if r.name == "twinframe" and r.exc_info]
    assert records and isinstance(records[-1].exc_info[1], KeyError)  # type: ignore[index]


@pytest.mark.parametrize("handler_is_async", [False, True])
def test_exception_inside_an_error_handler_is_a_plain_500(make_client, caplog, handler_is_async):
    app = App()

    if handler_is_async:

        @app.errorhandler(404)
        async def broken(req, exc):
            raise RuntimeError("handler secret")

    else:

        @app.errorhandler(404)
        def broken(req, exc):
            raise RuntimeError("handler secret")

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = make_client(app).get("/nowhere")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == GENERIC_500
    assert "handler secret" in caplog.text
    assert "broken" in caplog.text


def test_errorhandler_rejects_other_keys():
    app = App()
    with pytest.raises(TypeError, match="status code or an exception class"):
        app.errorhandler("404")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        app.errorhandler(int)  # type: ignore[arg-type]


# -- unhandled exceptions ----------------------------------------------------------------------


def _crashing_app(debug: bool = False) -> App:
    app = App(debug=debug)

    @app.get("/sync")
    def sync_crash(req):
        raise ValueError("password=hunter2 in the database URL")

    @app.get("/async")
    async def async_crash(req):
        await asyncio.sleep(0)
        raise ValueError("password=hunter2 in the database URL")

    @app.before_request
    def maybe_crash(req):
        if req.query.get("hook"):
            raise ZeroDivisionError("hook password=hunter2")

    return app


@pytest.mark.parametrize("path", ["/sync", "/async", "/sync?hook=1"])
def test_unhandled_exception_is_a_generic_500_with_the_traceback_logged(make_client, caplog, path):
    client = make_client(_crashing_app())
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == GENERIC_500
    assert "hunter2" not in response.text
    assert "Error" not in response.text.replace("Internal Server Error", "")
    records = [r for r in caplog.records if r.name == "twinframe" and r.levelno == logging.ERROR]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "hunter2" in caplog.text
    assert "Traceback" in caplog.text
    assert path.split("?")[0] in records[0].getMessage()


def test_unhandled_exception_plain_text_for_text_clients(make_client):
    client = make_client(_crashing_app())
    response = client.get("/sync", headers={"Accept": "text/plain"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "500 Internal Server Error\n"


def test_the_next_request_is_fine_after_a_crash(make_client):
    app = _crashing_app()

    @app.get("/ok")
    def ok(req):
        return "ok"

    client = make_client(app)
    assert client.get("/sync").status_code == 500
    assert client.get("/async").status_code == 500
    assert client.get("/ok").text == "ok"


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_debug_puts_the_traceback_in_the_body(make_client, path):
    client = make_client(_crashing_app(debug=True))
    response = client.get(path)
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("Traceback (most recent call last)")
    assert "ValueError: password=hunter2 in the database URL" in detail
    assert "_crash" in detail
    text = client.get(path, headers={"Accept": "text/plain"}).text
    assert "Traceback (most recent call last)" in text
    assert "ValueError" in text


def test_debug_shows_failures_of_error_handlers_and_invalid_responses(make_client):
    app = App(debug=True)

    @app.errorhandler(404)
    def broken(req, exc):
        raise RuntimeError("error handler broke")

    @app.get("/bad-header")
    def bad_header(req):
        return Response("x", headers={"X-Bad": "a\nb"})

    client = make_client(app)
    detail = client.get("/nowhere").json()["detail"]
    assert "RuntimeError: error handler broke" in detail
    detail = client.get("/bad-header").json()["detail"]
    assert "ValueError" in detail and "X-Bad" in detail
    # Without debug, neither reaches the client.
    app.debug = False
    assert "detail" not in client.get("/nowhere").json()
    assert "detail" not in client.get("/bad-header").json()


# -- broken return values and error handlers ----------------------------------------


def bad_returns_app() -> App:
    app = App()

    @app.get("/ok")
    def ok(req):
        return "ok"

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


@pytest.mark.parametrize(
    ("path", "label"), [("/unsupported", "unsupported()"), ("/bad-tuple", "bad_tuple()")]
)
def test_unsupported_return_type_is_500_naming_the_handler(make_client, caplog, path, label):
    client = make_client(bad_returns_app())
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
    client = make_client(bad_returns_app())
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        assert client.get("/after-bad").status_code == 500
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
def test_error_handler_raising_or_returning_garbage_is_a_plain_500(make_client, caplog, path):
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


def test_an_error_handler_returning_an_unsupported_type_is_named_in_the_logged_error(
    make_client, caplog
):
    client = make_client(error_handler_app())
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        assert client.get("/conflict").status_code == 500
    messages = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    # The culprit is the error handler (its qualified name), not "None()".
    assert any("bad_return() returned int; return a Response" in m for m in messages), messages


# -- nothing internal leaks without debug -------------------------------------------


SECRET_TEXT = "password=hunter2 in /srv/app/secrets.py"


def leaky_app(**options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]

    def fail() -> None:
        raise RuntimeError(SECRET_TEXT)

    @app.get("/sync")
    def sync_handler(req):
        fail()

    @app.get("/async")
    async def async_handler(req):
        fail()

    @app.get("/key")
    def key_error(req):
        return {}["no such key /srv/app/models.py"]

    @app.get("/before")
    def before_route(req):
        return "unreachable"

    @app.get("/after")
    def after_route(req):
        return "fine"

    @app.before_request
    def before(req):
        if req.path == "/before":
            fail()

    @app.after_request
    async def after(req, response):
        if req.path == "/after":
            fail()

    return app


LEAK_MARKERS = ["hunter2", "/srv/app", "Traceback", "RuntimeError", "KeyError", ".py", "line "]


def test_debug_is_off_by_default():
    assert App().debug is False


@pytest.mark.parametrize("path", ["/sync", "/async", "/key", "/before", "/after"])
@pytest.mark.parametrize("accept", [None, "text/plain", "text/html"])
def test_no_internals_in_500_responses(make_client, caplog, path, accept):
    client = make_client(leaky_app())
    headers = {"accept": accept} if accept else {}
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get(path, headers=headers)
    assert response.status_code == 500
    for marker in LEAK_MARKERS:
        assert marker not in response.text, marker
        assert all(marker not in value for value in response.headers.values())
    # ... but the operator gets the whole story in the log.
    assert any(r.exc_info for r in caplog.records)


def test_debug_true_shows_the_traceback(make_client, caplog):
    client = make_client(leaky_app(debug=True))
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get("/sync")
    assert response.status_code == 500
    assert "Traceback" in response.text and "hunter2" in response.text


def test_failed_startup_answers_500_without_details(caplog):
    app = App()

    @app.on_startup
    def broken():
        raise RuntimeError(SECRET_TEXT)

    @app.get("/")
    def index(req):
        return "ok"

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        result = CALLERS["wsgi"](app, "GET", b"/")
    assert result.status == 500
    assert b"hunter2" not in result.body and b"Traceback" not in result.body


# -- a Response object returned to many requests is never changed by the pipeline ----


def test_a_shared_response_survives_head_tuples_and_error_handlers(make_client):
    app = App()
    maintenance = Response("down for maintenance", status=503)
    pong = Response("pong")
    refused = Response("not here", status=405)

    @app.get("/status")
    def status(req):
        return maintenance

    @app.get("/created")
    def created(req):
        return pong, 201

    @app.get("/ping")
    def ping(req):
        return pong

    @app.get("/read")
    def read(req):
        return "read"

    @app.post("/write")
    def write(req):
        return "written"

    @app.errorhandler(405)
    def method_not_allowed(req, exc):
        return refused

    client = make_client(app)
    assert client.head("/status").content == b""
    again = client.get("/status")
    assert (again.status_code, again.content) == (503, b"down for maintenance")
    assert again.headers["content-length"] == str(len(b"down for maintenance"))

    assert client.get("/created").status_code == 201
    assert client.get("/ping").status_code == 200

    assert client.post("/read").headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.get("/write").headers["allow"] == "OPTIONS, POST"
    assert "Allow" not in refused.headers and maintenance.body == b"down for maintenance"


# -- App.run: the development server convenience ------------------------------------


def test_run_hands_the_app_and_its_defaults_to_the_development_server(monkeypatch):
    import twinframe.server

    calls: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(twinframe.server, "run", lambda app, **kw: calls.append((app, kw)))
    app = App()
    app.run()
    app.run("0.0.0.0", 9001, interface="asgi", reload=True)
    assert calls == [
        (app, {"host": "127.0.0.1", "port": 8000, "interface": "wsgi", "reload": False}),
        (app, {"host": "0.0.0.0", "port": 9001, "interface": "asgi", "reload": True}),
    ]
