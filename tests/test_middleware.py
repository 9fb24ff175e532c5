"""The middleware mechanism: app.add_middleware / App(middleware=...), on both entrypoints.

Every behaviour runs with each kind of middleware: a sync function, an ``async def``
that awaits only ``call_next``, one that really suspends (``asyncio.sleep``), and a
class marked ``inline``; so each way the chain runs code is covered under WSGI and ASGI.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from twinframe import App, Forbidden, Request, Response

WAIT = 5  # seconds a parked stream waits for the test (only reached on failure)
KINDS = ["sync", "async", "suspending", "inline"]

Wrap = Callable[[Request, Response], Response | None]


def make_mw(
    kind: str, before: Callable[[Request], Response | None] | None = None, after: Wrap | None = None
) -> Any:
    """A middleware of ``kind`` that runs ``before(req)`` (a non-None return answers
    without call_next) and ``after(req, response)`` (a non-None return replaces it)."""

    def answer(req: Request, response: Response) -> Response:
        if after is None:
            return response
        replaced = after(req, response)
        return response if replaced is None else replaced

    if kind == "sync":

        def sync_mw(req, call_next):
            early = before(req) if before else None
            return early if early is not None else answer(req, call_next(req))

        return sync_mw
    if kind in ("async", "suspending"):

        async def async_mw(req, call_next):
            if kind == "suspending":
                await asyncio.sleep(0.001)  # a real suspension: needs an event loop
            early = before(req) if before else None
            if early is not None:
                return early
            response = await call_next(req)
            if kind == "suspending":
                await asyncio.sleep(0.001)
            return answer(req, response)

        return async_mw

    class Inline:
        inline = True

        async def __call__(self, req, call_next):
            early = before(req) if before else None
            return early if early is not None else answer(req, await call_next(req))

    return Inline()


def tag(name: str, log: list[str]) -> tuple[Callable[..., None], Wrap]:
    def before(req):
        log.append(f"{name} in")

    def after(req, response):
        log.append(f"{name} out")
        response.headers.add("x-seen-by", name)

    return before, after


def basic_app(**options: Any) -> App:
    app = App(**options)

    @app.get("/")
    def hello(req):
        return "Hello"

    @app.get("/async")
    async def hello_async(req):
        return "Hello async"

    @app.get("/boom")
    def boom(req):
        raise RuntimeError("handler failed")

    @app.post("/echo")
    def echo(req):
        return req.body

    return app


# -- order, short-circuit, request and response changes --------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_first_added_is_outermost(make_client, kind):
    log: list[str] = []
    app = basic_app(middleware=[make_mw(kind, *tag("a", log))])
    app.add_middleware(make_mw(kind, *tag("b", log)))
    app.add_middleware(make_mw(kind, *tag("c", log)))
    response = make_client(app).get("/")
    assert response.text == "Hello"
    assert log == ["a in", "b in", "c in", "c out", "b out", "a out"]
    assert response.headers.get_list("x-seen-by") == ["c", "b", "a"]
    assert [type(m).__name__ for m in app.middleware][:0] == []
    assert len(app.middleware) == 3


def test_mixed_kinds_nest_in_order(make_client):
    log: list[str] = []
    kinds = ["sync", "suspending", "sync", "inline", "async", "sync"]
    app = basic_app(middleware=[make_mw(k, *tag(f"{i}", log)) for i, k in enumerate(kinds)])
    for path, text in (("/", "Hello"), ("/async", "Hello async")):
        log.clear()
        response = make_client(app).get(path)
        assert response.text == text
        assert log == [f"{i} in" for i in range(6)] + [f"{i} out" for i in reversed(range(6))]


@pytest.mark.parametrize("kind", KINDS)
def test_short_circuit_skips_the_handler(make_client, kind):
    calls: list[str] = []
    app = App()

    @app.get("/")
    def handler(req):
        calls.append("handler")
        return "handler"

    def before(req):
        if req.headers.get("x-block"):
            return Response.text("blocked", 401)
        return None

    app.add_middleware(make_mw(kind, before))
    client = make_client(app)
    blocked = client.get("/", headers={"x-block": "1"})
    assert (blocked.status_code, blocked.text) == (401, "blocked")
    assert calls == []
    assert client.get("/").text == "handler"
    assert calls == ["handler"]


@pytest.mark.parametrize("kind", KINDS)
def test_middleware_changes_the_request_and_replaces_the_response(make_client, kind):
    app = App()

    @app.get("/")
    async def handler(req):
        return {"user": req.state.user}

    def before(req):
        req.state.user = "ada"

    def after(req, response):
        return Response.json({"wrapped": response.body.decode()}, 201)

    app.add_middleware(make_mw(kind, before, after))
    response = make_client(app).get("/")
    assert response.status_code == 201
    assert response.json() == {"wrapped": '{"user":"ada"}'}


# -- middleware see responses, not exceptions ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_errors_reach_middleware_as_responses(make_client, kind, caplog):
    seen: list[int] = []
    app = basic_app(max_body_size=10)
    app.add_middleware(make_mw(kind, after=lambda req, r: seen.append(r.status)))
    client = make_client(app)
    with caplog.at_level(logging.ERROR, "twinframe"):
        assert client.get("/missing").status_code == 404
        assert client.put("/").status_code == 405
        assert client.post("/echo", content=b"x" * 11).status_code == 413
        boom = client.get("/boom")
    assert boom.status_code == 500
    assert "handler failed" not in boom.text
    assert seen == [404, 405, 413, 500]
    assert "handler failed" in caplog.text  # logged, not leaked


@pytest.mark.parametrize("kind", KINDS)
def test_error_handlers_run_before_middleware_see_the_response(make_client, kind):
    app = basic_app()

    @app.errorhandler(404)
    def not_found(req, exc):
        return Response.text("custom 404", 404)

    app.add_middleware(make_mw(kind, after=lambda req, r: r.headers.add("x-body", r.body.decode())))
    response = make_client(app).get("/nowhere")
    assert response.status_code == 404
    assert response.headers["x-body"] == "custom 404"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_failing_middleware_is_a_logged_500(make_client, kind, where, caplog):
    outer_saw: list[int] = []

    def fail(*args):
        raise ValueError("middleware secret")

    app = basic_app()
    app.add_middleware(make_mw("sync", after=lambda req, r: outer_saw.append(r.status)))
    app.add_middleware(make_mw(kind, **{where: fail}))
    with caplog.at_level(logging.ERROR, "twinframe"):
        response = make_client(app).get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "middleware secret" not in response.text
    assert "middleware secret" in caplog.text
    assert outer_saw == [500]  # the outer middleware still got a response


@pytest.mark.parametrize("kind", KINDS)
def test_http_error_raised_by_a_middleware_answers_with_its_status(make_client, kind):
    def refuse(req):
        raise Forbidden("no entry")

    app = basic_app()

    @app.errorhandler(403)
    def forbidden(req, exc):
        return f"custom: {exc.detail}"

    app.add_middleware(make_mw(kind, refuse))
    response = make_client(app).get("/")
    assert (response.status_code, response.text) == (403, "custom: no entry")


@pytest.mark.parametrize("kind", KINDS)
def test_a_middleware_returning_no_response_is_a_500(make_client, kind, caplog):
    app = basic_app()
    app.add_middleware(make_mw(kind, after=lambda req, r: "not a response"))  # type: ignore
    with caplog.at_level(logging.ERROR, "twinframe"):
        response = make_client(app).get("/")
    assert response.status_code == 500
    assert "returned str, not a Response" in caplog.text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("after_hook", [False, True])
def test_a_shared_response_object_is_not_changed_by_middleware(make_client, kind, after_hook):
    shared = Response.text("shared")
    app = App()

    @app.get("/")
    def handler(req):
        return shared

    if after_hook:

        @app.after_request
        def after(req, response):
            return None  # changes nothing

    app.add_middleware(make_mw(kind, after=lambda req, r: r.headers.add("x-n", "1")))
    client = make_client(app)
    for _ in range(3):
        assert client.get("/").headers.get_list("x-n") == ["1"]
    assert "x-n" not in shared.headers


@pytest.mark.parametrize("kind", KINDS)
def test_head_and_no_body_statuses_behind_middleware(make_client, kind):
    app = basic_app()

    @app.get("/empty")
    def empty(req):
        return None

    app.add_middleware(make_mw(kind, after=lambda req, r: r.headers.add("x-mw", "1")))
    client = make_client(app)
    head = client.head("/")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")
    assert head.headers["x-mw"] == "1"
    no_body = client.get("/empty")
    assert (no_body.status_code, no_body.content, no_body.headers["x-mw"]) == (204, b"", "1")


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_range_is_applied_before_middleware_see_it(make_client, kind, tmp_path):
    (tmp_path / "f.txt").write_bytes(b"0123456789")
    seen: list[int] = []
    app = App()

    @app.get("/f")
    def file(req):
        return Response.file(tmp_path / "f.txt")

    app.add_middleware(make_mw(kind, after=lambda req, r: seen.append(r.status)))
    response = make_client(app).get("/f", headers={"range": "bytes=2-4"})
    assert (response.status_code, response.content) == (206, b"234")
    assert seen == [206]


# -- streaming passes through unbuffered ---------------------------------------------


def parked_stream_app(release: threading.Event) -> App:
    app = App()

    @app.get("/sync")
    def sync_stream(req):
        def chunks():
            yield b"first"
            if not release.wait(WAIT):
                yield b"[buffered: the client never saw the first chunk]"
            yield b"second"

        return Response.stream(chunks())

    @app.get("/async")
    async def async_stream(req):
        async def chunks():
            yield b"first"
            deadline = time.monotonic() + WAIT
            while not release.is_set():
                if time.monotonic() > deadline:
                    yield b"[buffered: the client never saw the first chunk]"
                    break
                await asyncio.sleep(0.005)
            yield b"second"

        return Response.stream(chunks())

    return app


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_response_streams_pass_through_unbuffered(make_client, kind, url):
    release = threading.Event()
    app = parked_stream_app(release)
    app.add_middleware(make_mw(kind, after=lambda req, r: r.headers.add("x-mw", "1")))
    app.add_middleware(make_mw("sync"))
    with make_client(app).stream("GET", url) as response:
        assert response.headers["x-mw"] == "1"
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        release.set()
        assert b"".join(chunks) == b"second"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("handler_kind", ["sync", "async"])
def test_request_streaming_works_behind_middleware(make_client, kind, handler_kind):
    app = App()

    if handler_kind == "sync":

        @app.post("/upload", stream=True)
        def upload(req):
            sizes = [len(chunk) for chunk in req.stream()]
            return {"total": sum(sizes), "pieces": len(sizes)}

    else:

        @app.post("/upload", stream=True)
        async def upload(req):
            sizes = [len(chunk) async for chunk in req.stream()]
            return {"total": sum(sizes), "pieces": len(sizes)}

    app.add_middleware(make_mw(kind))

    def body():
        for _ in range(5):
            yield b"x" * 50_000

    data = make_client(app).post("/upload", content=body()).json()
    assert data["total"] == 250_000
    assert data["pieces"] >= 4  # arrived piece by piece, not read whole by a middleware


# -- contextvars -----------------------------------------------------------------------

current = contextvars.ContextVar("current", default="unset")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("handler_kind", ["sync", "async"])
def test_contextvars_set_in_middleware_reach_handler_hooks_and_stream(
    make_client, kind, handler_kind
):
    seen: dict[str, str] = {}
    app = App()

    @app.before_request
    def before(req):
        seen["before"] = current.get()

    @app.after_request
    async def after(req, response):
        seen["after"] = current.get()

    def sync_chunks():
        yield current.get()

    async def async_chunks():
        yield current.get()

    if handler_kind == "sync":

        @app.get("/")
        def handler(req):
            seen["handler"] = current.get()
            return Response.stream(sync_chunks())

    else:

        @app.get("/")
        async def handler(req):
            seen["handler"] = current.get()
            return Response.stream(async_chunks())

    def set_it(req):
        current.set(f"request {req.query['n']}")

    app.add_middleware(make_mw(kind, set_it))
    client = make_client(app)
    for n in (1, 2):
        response = client.get(f"/?n={n}")
        assert response.text == f"request {n}"  # the stream saw it
        assert seen == {
            "before": f"request {n}",
            "handler": f"request {n}",
            "after": f"request {n}",
        }
    # Nothing leaks out of a request: the test's own context never saw the value.
    assert current.get() == "unset"


@pytest.mark.parametrize("kind", KINDS)
def test_contextvars_do_not_leak_to_the_next_request(make_client, kind):
    app = App()

    @app.get("/")
    def handler(req):
        return current.get()

    def maybe_set(req):
        if "set" in req.query:
            current.set("from an earlier request")

    app.add_middleware(make_mw(kind, maybe_set))
    client = make_client(app)
    assert client.get("/?set").text == "from an earlier request"
    assert client.get("/").text == "unset"


# -- registration ----------------------------------------------------------------------


def test_no_middleware_means_no_chain():
    assert App()._chain is None
    app = App()
    app.add_middleware(lambda req, call_next: call_next(req))
    assert app._chain is not None


def test_a_middleware_websocket_hook_is_registered():
    from twinframe.testing import TestClient, WebSocketRejected

    class RefuseSockets:
        def __call__(self, req, call_next):
            return call_next(req)

        def before_websocket(self, ws):
            raise Forbidden("no sockets")

    app = App(middleware=[RefuseSockets()])

    @app.websocket("/ws")
    async def ws_handler(ws):
        await ws.accept()

    with TestClient(app, "asgi") as client:  # websockets are ASGI only
        with pytest.raises(WebSocketRejected) as refused:
            with client.websocket_connect("/ws"):
                pass
    assert refused.value.status == 403


@pytest.mark.parametrize("kind", KINDS)
def test_middleware_wrap_mounted_apps_too(make_client, kind):
    def legacy(environ, start_response):  # a plain WSGI app
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"legacy"]

    inner = App()

    @inner.get("/hi")
    def hi(req):
        return "inner"

    app = basic_app()
    app.mount("/legacy", legacy)
    app.mount("/inner", inner)
    app.add_middleware(make_mw(kind, after=lambda req, r: r.headers.add("x-mw", req.path)))
    client = make_client(app)
    for path, text in (("/legacy/x", "legacy"), ("/inner/hi", "inner"), ("/", "Hello")):
        response = client.get(path)
        assert (response.text, response.headers["x-mw"]) == (text, path)
