"""req.after_response on both entrypoints: after the whole response, in order, failures
logged and contained, each function run the way its protocol runs code."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading

import pytest

from twinframe import App, Response
from twinframe.concurrency import thread_loop

WAIT = 10


def test_runs_after_the_client_has_the_whole_response(make_client):
    app = App()
    gate = threading.Event()
    released: list[bool] = []

    def wait_for_the_test() -> None:
        # True only if the test could read the whole body while this was waiting.
        released.append(gate.wait(WAIT))

    @app.get("/")
    def index(req):
        req.after_response(wait_for_the_test)
        return "the answer"

    with make_client(app).stream("GET", "/") as response:
        # The whole body, while the function waits (reading to the end, or dropping
        # the iterator, would close the response, which under WSGI runs the function).
        raw = response.iter_raw()
        assert next(raw) == b"the answer"
        assert released == []
        gate.set()
    assert released == [True]


def test_streamed_response_first(make_client):
    app = App()
    order: list[str] = []

    def body():
        yield "a"
        yield "b"
        order.append("body done")

    @app.get("/stream")
    def stream(req):
        req.after_response(order.append, "after")
        order.append("handler")
        return Response.stream(body())

    assert make_client(app).get("/stream").text == "ab"
    assert order == ["handler", "body done", "after"]


def test_order_arguments_and_mixed_kinds(make_client):
    app = App()
    calls: list[object] = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))

    async def arecord(value, *, key):
        await asyncio.sleep(0)
        calls.append(("async", value, key))

    @app.post("/items")
    async def create(req):
        req.after_response(record, 1, 2, flag=True)
        req.after_response(arecord, "x", key="k")
        req.after_response(record)
        return {"ok": True}, 201

    client = make_client(app)
    response = client.post("/items")
    assert (response.status_code, response.json()) == (201, {"ok": True})
    assert calls == [((1, 2), {"flag": True}), ("async", "x", "k"), ((), {})]
    calls.clear()
    client.get("/missing")  # another request: nothing registered, nothing runs
    assert calls == []


def test_a_failure_is_logged_with_method_and_path_and_the_rest_run(make_client, caplog):
    app = App()
    ran: list[str] = []

    def broken():
        raise RuntimeError("mail server down")

    async def abroken():
        raise ValueError("audit table locked")

    @app.put("/things/{id:d}")
    def put(req, id):
        req.after_response(broken)
        req.after_response(ran.append, "second")
        req.after_response(abroken)
        req.after_response(ran.append, "fourth")
        return "stored"

    caplog.set_level(logging.ERROR, logger="twinframe")
    response = make_client(app).put("/things/3")
    assert (response.status_code, response.text) == (200, "stored")
    assert ran == ["second", "fourth"]
    messages = [r for r in caplog.records if "after_response" in r.getMessage()]
    assert [r.getMessage() for r in messages] == [
        "after_response function test_a_failure_is_logged_with_method_and_path_and_the_rest_run"
        ".<locals>.broken failed after PUT /things/3",
        "after_response function test_a_failure_is_logged_with_method_and_path_and_the_rest_run"
        ".<locals>.abroken failed after PUT /things/3",
    ]
    assert "mail server down" in caplog.text and "audit table locked" in caplog.text


def test_where_each_kind_runs(make_client, interface):
    app = App()
    seen: dict[str, object] = {}

    def sync_fn():
        seen["sync thread"] = threading.current_thread()

    async def async_fn():
        seen["async loop"] = asyncio.get_running_loop()
        seen["async thread"] = threading.current_thread()

    @app.get("/")
    def index(req):
        req.after_response(sync_fn)
        req.after_response(async_fn)
        return "ok"

    client = make_client(app)
    assert client.get("/").text == "ok"
    if interface == "asgi":
        # sync: in the app's thread pool; async: on the server's loop.
        assert seen["sync thread"].name.startswith("twinframe")
        assert seen["async loop"] is client.portal.loop
    else:
        # sync: directly in the worker thread; async: on that thread's own loop.
        assert seen["sync thread"] is threading.current_thread()
        assert seen["async thread"] is threading.current_thread()
        assert seen["async loop"] is thread_loop()


def test_registered_by_a_stream_while_it_runs(make_client):
    app = App()
    ran: list[str] = []

    @app.get("/stream")
    def stream(req):
        def body():
            yield "x"
            req.after_response(ran.append, "from the stream")

        return Response.stream(body())

    assert make_client(app).get("/stream").text == "x"
    assert ran == ["from the stream"]


def test_runs_when_the_client_leaves_an_event_stream(make_client):
    app = App()
    ran = threading.Event()

    def forever():
        n = 0
        while True:
            n += 1
            yield str(n)

    @app.get("/events")
    def events(req):
        req.after_response(ran.set)
        return Response.sse(forever(), ping=None)

    with make_client(app).stream("GET", "/events") as response:
        next(response.iter_lines())
    assert ran.wait(WAIT)


def test_with_a_file_response(make_client, tmp_path):
    app = App()
    (tmp_path / "report.txt").write_bytes(b"x" * 100_000)
    ran: list[str] = []

    @app.get("/report")
    def report(req):
        req.after_response(ran.append, "sent")
        return Response.file(tmp_path / "report.txt")

    response = make_client(app).get("/report")
    assert response.content == b"x" * 100_000
    assert ran == ["sent"]


@pytest.mark.parametrize("status", [204, 304])
def test_with_a_bodiless_response(make_client, status):
    app = App()
    ran: list[int] = []

    @app.get("/")
    def index(req):
        req.after_response(ran.append, status)
        return "", status

    assert make_client(app).get("/").status_code == status
    assert ran == [status]


def test_when_the_handler_fails_work_it_registered_still_runs(make_client, caplog):
    app = App()
    ran: list[str] = []

    @app.get("/")
    def index(req):
        req.after_response(ran.append, "cleanup")
        raise RuntimeError("handler broke")

    caplog.set_level(logging.CRITICAL, logger="twinframe")
    assert make_client(app).get("/").status_code == 500
    assert ran == ["cleanup"]


def test_sees_what_middleware_set_in_contextvars(make_client):
    app = App()
    current_user: contextvars.ContextVar[str] = contextvars.ContextVar("current_user")
    seen: list[str] = []

    def who_am_i(req, call_next):
        current_user.set(req.headers.get("x-user", "nobody"))
        return call_next(req)

    async def async_record():
        seen.append("async " + current_user.get("unset"))

    @app.get("/")
    def index(req):
        req.after_response(lambda: seen.append("sync " + current_user.get("unset")))
        req.after_response(async_record)
        return "ok"

    app.add_middleware(who_am_i)
    client = make_client(app)
    assert client.get("/", headers={"X-User": "ann"}).text == "ok"
    assert seen == ["sync ann", "async ann"]
    seen.clear()
    assert client.get("/").text == "ok"  # the next request has its own context
    assert seen == ["sync nobody", "async nobody"]
