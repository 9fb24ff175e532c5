"""Server-sent events (Response.sse, Event, req.last_event_id, testing.iter_events) on both
entrypoints: the format, per-event flushing, pings, early close stopping the producer."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from twinframe import App, Event, Response
from twinframe.middleware import GZip
from twinframe.sse import PING, encode_event, parse_events
from twinframe.testing import TestClient, iter_events

WAIT = 10  # seconds a test waits for something that normally takes milliseconds


# -- the format -------------------------------------------------------------------


def test_event_fields_in_order_and_multi_line_data():
    event = Event("one\ntwo\r\nthree\rfour", event="note", id="7", retry=2500, comment="hi")
    assert event.encode() == (
        b": hi\nevent: note\nid: 7\nretry: 2500\ndata: one\ndata: two\ndata: three\ndata: four\n\n"
    )


def test_items_str_dict_list_and_json_data():
    assert encode_event("hello") == b"data: hello\n\n"
    assert encode_event({"n": 1, "é": [True]}) == 'data: {"n":1,"é":[true]}\n\n'.encode()
    assert encode_event([1, 2]) == b"data: [1,2]\n\n"
    assert Event({"a": None}).encode() == b'data: {"a":null}\n\n'
    assert Event(comment="only\na comment").encode() == b": only\n: a comment\n\n"
    assert Event("").encode() == b"data: \n\n"


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\ndata: injected", "a\x00b"])
def test_line_breaks_in_event_or_id_are_refused(field, bad):
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Event("x", **{field: bad})


@pytest.mark.parametrize("retry", [-1, 1.5, "10", True])
def test_retry_must_be_a_non_negative_int(retry):
    with pytest.raises(ValueError, match="retry"):
        Event("x", retry=retry)


def test_an_item_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match="yield an Event, a str, a dict or a list"):
        encode_event(b"bytes")


def test_parse_events_reads_what_encode_writes():
    items = [
        Event("a\nb", event="e", id="1"),
        Event({"k": "v"}, retry=10),
        Event(comment="ping"),
        Event("x", comment="c"),
    ]
    text = b"".join(item.encode() for item in items).decode()
    lines = text.split("\n")
    assert list(parse_events(lines)) == [
        Event("a\nb", event="e", id="1"),
        Event('{"k":"v"}', retry=10),
        Event("x", comment="c"),
    ]
    assert Event(comment="ping") in list(parse_events(lines, comments=True))
    # A browser's reading: no space after the colon, bare field names, a NUL id ignored.
    odd = ["data:x", "data", "id: a\x00b", "retry: soon", ""]
    assert list(parse_events(odd)) == [Event("x\n")]


# -- on both entrypoints -------------------------------------------------------------


def take(lines, count):
    return [next(lines) for _ in range(count)]


def test_headers_and_body(make_client):
    app = App()

    @app.get("/events")
    def events(req):
        return Response.sse(
            [Event("hi", event="greet", id="1"), "plain", {"n": 2}, ["l"]], ping=None
        )

    response = make_client(app).get("/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert response.content == (
        b'event: greet\nid: 1\ndata: hi\n\ndata: plain\n\ndata: {"n":2}\n\ndata: ["l"]\n\n'
    )


def test_own_headers_are_kept(make_client):
    app = App()

    @app.get("/events")
    def events(req):
        headers = {"Cache-Control": "no-store", "X-Stream": "1"}
        return Response.sse(iter(["a"]), ping=None, headers=headers)

    response = make_client(app).get("/events")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-stream"] == "1"


def gated_app(kind: str, ping: float | None) -> tuple[App, threading.Event, threading.Event]:
    """/events yields one event, then waits for ``gate`` before the second; ``stopped``
    is set by the producer's ``finally``."""
    app = App()
    gate, stopped = threading.Event(), threading.Event()

    def sync_events():
        try:
            yield Event("first", id="1")
            assert gate.wait(WAIT), "the test never opened the gate"
            yield Event("second", id="2")
        finally:
            stopped.set()

    async def async_events():
        try:
            yield Event("first", id="1")
            deadline = time.monotonic() + WAIT
            while not gate.is_set():
                assert time.monotonic() < deadline, "the test never opened the gate"
                await asyncio.sleep(0.005)
            yield Event("second", id="2")
        finally:
            stopped.set()

    @app.get("/events")
    def events(req):
        producer = sync_events() if kind == "sync" else async_events()
        return Response.sse(producer, ping=ping)

    return app, gate, stopped


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_each_event_arrives_before_the_producer_goes_on(make_client, kind):
    app, gate, stopped = gated_app(kind, ping=None)
    client = make_client(app)
    with client.stream("GET", "/events") as response:
        events = iter_events(response)
        # The producer is blocked until the gate opens: buffering would hang here.
        assert next(events) == Event("first", id="1")
        assert not stopped.is_set()
        gate.set()
        assert next(events) == Event("second", id="2")
        assert list(events) == []
    assert stopped.is_set()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_pings_while_the_producer_is_silent(make_client, kind):
    app, gate, stopped = gated_app(kind, ping=0.05)
    with make_client(app).stream("GET", "/events") as response:
        lines = response.iter_lines()
        # The first chunk is a ping, at once: the client has the headers and knows it is on.
        assert take(lines, 2) == [": ping", ""]
        assert take(lines, 3) == ["id: 1", "data: first", ""]
        # Nothing for a while: pings, every 50 ms, while the producer is blocked.
        assert take(lines, 4) == [": ping", "", ": ping", ""]
        gate.set()
        rest = list(parse_events(lines, comments=True))
    assert Event("second", id="2") in rest
    assert {e for e in rest if e.data is None} <= {Event(comment="ping")}
    assert stopped.wait(WAIT)


def test_no_pings_when_switched_off(make_client):
    app = App()

    @app.get("/events")
    async def events(req):
        async def slow():
            for n in range(3):
                await asyncio.sleep(0.05)
                yield str(n)

        return Response.sse(slow(), ping=None)

    assert make_client(app).get("/events").text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_retry_goes_first(make_client):
    app = App()

    @app.get("/events")
    def events(req):
        return Response.sse(["x"], retry=3000)

    assert make_client(app).get("/events").text == "retry: 3000\n\ndata: x\n\n"


@pytest.mark.parametrize("ping", [0, -1.0])
def test_ping_must_be_positive(ping):
    with pytest.raises(ValueError, match="ping"):
        Response.sse([], ping=ping)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_closing_early_stops_the_producer(make_client, kind, caplog):
    app = App()
    stopped = threading.Event()
    produced: list[int] = []

    def sync_ticks():
        try:
            for n in range(10_000):
                produced.append(n)
                yield {"n": n}
                time.sleep(0.01)
        finally:
            stopped.set()

    async def async_ticks():
        try:
            for n in range(10_000):
                produced.append(n)
                yield {"n": n}
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    @app.get("/ticks")
    def ticks(req):
        return Response.sse(sync_ticks() if kind == "sync" else async_ticks(), ping=0.05)

    caplog.set_level(logging.DEBUG, logger="twinframe")
    with make_client(app).stream("GET", "/ticks") as response:
        events = iter_events(response)
        assert [next(events).data for _ in range(3)] == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert stopped.wait(WAIT), "the producer's finally never ran"
    count = len(produced)
    time.sleep(0.1)
    assert len(produced) == count < 10_000  # and it stays stopped
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_last_event_id_resumes(make_client):
    app = App()

    @app.get("/events")
    def events(req):
        start = int(req.last_event_id or 0)
        return Response.sse((Event(f"n{n}", id=str(n)) for n in range(start + 1, 4)), ping=None)

    client = make_client(app)
    assert [e.id for e in iter_events(client.get("/events"))] == ["1", "2", "3"]
    resumed = client.get("/events", headers={"Last-Event-ID": "2"})
    assert list(iter_events(resumed)) == [Event("n3", id="3")]


def test_last_event_id_is_none_without_the_header(make_client):
    app = App()

    @app.get("/")
    def index(req):
        return {"last": req.last_event_id}

    assert make_client(app).get("/").json() == {"last": None}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_head_closes_the_producer_unread(make_client, kind):
    app = App()
    started: list[str] = []

    def sync_events():
        started.append("sync")
        yield "x"

    async def async_events():
        started.append("async")
        yield "x"

    producers = {"sync": sync_events, "async": async_events}

    @app.get("/events")
    def events(req):
        return Response.sse(producers[kind]())

    response = make_client(app).head("/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.content == b""
    assert started == []


def test_a_failing_producer_is_logged_and_cuts_the_stream(make_client, caplog):
    app = App()

    def events():
        yield "one"
        raise RuntimeError("feed broke")

    @app.get("/events")
    def route(req):
        return Response.sse(events(), ping=None)

    caplog.set_level(logging.ERROR, logger="twinframe")
    received = []
    # The test client raises what the app raised (a real server cuts the connection).
    with pytest.raises(RuntimeError, match="feed broke"):
        with make_client(app).stream("GET", "/events") as response:
            for event in iter_events(response):
                received.append(event.data)
    assert received == ["one"]
    assert "response stream failed mid-way: GET /events" in caplog.text


# -- the TestClient's ASGI side is an ASGI 2.4 server ---------------------------------


def test_asgi_test_server_reports_the_client_gone_to_the_app():
    """After the test closes a stream, receive() says http.disconnect and send() raises
    OSError, as ASGI 2.4 servers do; an app that stops on either stops."""
    seen: list[str] = []
    done = threading.Event()

    async def app(scope, receive, send):
        assert scope["asgi"]["spec_version"] == "2.4"
        await receive()  # the (empty) request body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x\n", "more_body": True})
                await asyncio.sleep(0.01)
        except OSError as exc:
            seen.append(type(exc).__name__)
        seen.append((await receive())["type"])
        done.set()

    asgi_app = App()
    asgi_app.asgi = app  # type: ignore[assignment]
    client = TestClient(asgi_app, "asgi", app_timeout=5)
    try:
        with client.stream("GET", "/") as response:
            assert next(response.iter_lines()) == "x"
        assert done.wait(WAIT)
        assert seen == ["ClientGone", "http.disconnect"]
    finally:
        client.close()


def test_ping_constant_is_a_comment():
    assert list(parse_events(PING.decode().split("\n"), comments=True)) == [Event(comment="ping")]


# -- where producers run ----------------------------------------------------------


def test_where_producers_run(make_client, interface):
    app = App()
    seen: dict[str, str] = {}

    def sync_events():
        seen["sync"] = threading.current_thread().name
        yield "s"

    async def async_events():
        seen["async"] = threading.current_thread().name
        yield "a"

    @app.get("/sync")
    def sync_route(req):
        return Response.sse(sync_events())

    @app.get("/async")
    def async_route(req):
        return Response.sse(async_events())

    client = make_client(app)
    assert list(iter_events(client.get("/sync"))) == [Event("s")]
    assert list(iter_events(client.get("/async"))) == [Event("a")]
    # A sync producer gets a thread of its own (not the app's pool) on both entrypoints.
    assert seen["sync"] == "twinframe-producer"
    # An async one runs on the loop: the server's (ASGI), the worker thread's (WSGI).
    expected = "twinframe-testclient" if interface == "asgi" else threading.current_thread().name
    assert seen["async"] == expected


def test_blocked_sync_producers_do_not_starve_sync_handlers(make_client):
    """With a pool of 2 threads, 3 open streams whose producers block leave the pool free."""
    app = App(max_threads=2)
    gate = threading.Event()

    def waiting():
        yield "open"
        gate.wait(WAIT)

    @app.get("/events")
    def events(req):
        return Response.sse(waiting(), ping=None)

    @app.get("/ok")
    def ok(req):
        return "ok"

    client = make_client(app)
    streams = [client.stream("GET", "/events") for _ in range(3)]
    try:
        responses = [stream.__enter__() for stream in streams]
        for response in responses:
            assert next(response.iter_lines()) == "data: open"
        assert client.get("/ok").text == "ok"
    finally:
        gate.set()
        for stream in streams:
            stream.__exit__(None, None, None)


# -- through middleware ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_through_gzip_each_event_is_flushed(make_client, kind):
    app, gate, stopped = gated_app(kind, ping=None)
    app.add_middleware(GZip())
    client = make_client(app)
    with client.stream("GET", "/events", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        events = iter_events(response)  # decompressed as the chunks arrive
        # The producer waits for the gate: a compressor holding bytes back would hang here.
        assert next(events) == Event("first", id="1")
        gate.set()
        assert next(events) == Event("second", id="2")
        assert list(events) == []
    assert stopped.is_set()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_through_gzip_closing_early_stops_the_producer(make_client, kind):
    app, gate, stopped = gated_app(kind, ping=0.05)
    app.add_middleware(GZip())
    with make_client(app).stream("GET", "/events", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        assert next(iter_events(r)) == Event("first", id="1")
    gate.set()  # a sync producer blocked at the gate finishes its step, then is closed
    assert stopped.wait(WAIT)
