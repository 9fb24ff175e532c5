"""The TestClient itself: incremental streaming, wsgiref.validate, lifespan, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from wsgiref.validate import WSGIWarning

import httpx
import pytest

from twinframe import App, Response
from twinframe.testing import TestClient, WSGITransport

WAIT = 5  # seconds a blocked generator waits before giving up (only reached on failure)


def blocking_stream_app(release: threading.Event, produced: list[str]) -> App:
    app = App()

    @app.get("/sync")
    def sync_stream(req):
        def chunks():
            produced.append("first")
            yield b"first"
            # A buffering client would never let the test set this event.
            if not release.wait(WAIT):
                yield b"[the test never saw the first chunk]"
            produced.append("second")
            yield b"second"

        return Response.stream(chunks())

    @app.get("/async")
    async def async_stream(req):
        async def chunks():
            produced.append("first")
            yield b"first"
            deadline = time.monotonic() + WAIT
            while not release.is_set():
                if time.monotonic() > deadline:
                    yield b"[the test never saw the first chunk]"
                    break
                await asyncio.sleep(0.005)
            produced.append("second")
            yield b"second"

        return Response.stream(chunks())

    return app


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_stream_shows_each_chunk_before_the_next_is_produced(make_client, url):
    release = threading.Event()
    produced: list[str] = []
    client = make_client(blocking_stream_app(release, produced))
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        assert produced == ["first"]  # the generator is parked, waiting for us
        release.set()
        # The in-band marker proves the order: a buffering client would get it here.
        assert b"".join(chunks) == b"second"
    assert produced == ["first", "second"]


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_closing_a_stream_early_closes_the_generator(make_client, url):
    release = threading.Event()
    produced: list[str] = []
    app = App()

    def sync_chunks():
        try:
            yield b"first"
            release.wait(WAIT)
            yield b"second"
        finally:
            produced.append("closed")

    async def async_chunks():
        try:
            yield b"first"
            while not release.is_set():
                await asyncio.sleep(0.005)
            yield b"second"
        finally:
            produced.append("closed")

    @app.get("/sync")
    def sync_stream(req):
        return Response.stream(sync_chunks())

    @app.get("/async")
    async def async_stream(req):
        return Response.stream(async_chunks())

    client = make_client(app)
    with client.stream("GET", url) as response:
        assert next(response.iter_raw()) == b"first"
    release.set()  # a generator blocked in a worker thread (ASGI) may finish its step
    deadline = time.monotonic() + WAIT
    while "closed" not in produced and time.monotonic() < deadline:
        time.sleep(0.01)
    assert produced == ["closed"]
    # The client is usable again at once.
    assert client.get(url).content == b"firstsecond"


def test_non_streamed_requests_read_the_whole_body(make_client):
    release = threading.Event()
    release.set()
    client = make_client(blocking_stream_app(release, []))
    assert client.get("/sync").content == b"firstsecond"
    assert client.get("/async").content == b"firstsecond"


# -- wsgiref.validate ---------------------------------------------------------------------


def returns_str(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return "not an iterable of bytes"


def bad_status(environ, start_response):
    start_response(200, [("Content-Type", "text/plain")])  # the status must be a str
    return [b"x"]


def str_body_chunks(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text chunk, not bytes"]


def hop_by_hop_header(environ, start_response):
    start_response("200 OK", [("Connection", "close")])  # servers own these
    return [b"x"]


@pytest.mark.parametrize("wsgi_app", [returns_str, bad_status, str_body_chunks, hop_by_hop_header])
def test_wsgi_requests_run_under_wsgiref_validate(wsgi_app):
    app = App()
    app.wsgi = wsgi_app  # type: ignore[assignment]
    client = TestClient(app, "wsgi")
    with pytest.raises(AssertionError):
        client.get("/").read()


def test_validation_can_be_turned_off_for_the_raw_transport():
    def reason_less(environ, start_response):
        start_response("200", [("Content-Type", "text/plain")])
        return [b"x"]

    validated = httpx.Client(transport=WSGITransport(reason_less), base_url="http://testserver")
    with pytest.warns(WSGIWarning, match="status string"):
        validated.get("/")
    raw = httpx.Client(transport=WSGITransport(reason_less, validate=False))
    assert raw.get("http://testserver/").content == b"x"


def test_twinframe_passes_validation_on_every_kind_of_response(tmp_path):
    (tmp_path / "f.txt").write_text("file")
    app = App()

    @app.get("/text")
    def text(req):
        return "t"

    @app.get("/empty")
    def empty(req):
        return None

    @app.get("/stream")
    def stream(req):
        return Response.stream(iter(["a", b"b"]))

    @app.get("/file")
    def file(req):
        return Response.file(tmp_path / "f.txt")

    @app.post("/upload", stream=True)
    def upload(req):
        return str(sum(len(c) for c in req.stream()))

    client = TestClient(app, "wsgi")
    assert client.get("/text").text == "t"
    assert client.get("/empty").status_code == 204
    assert client.head("/text").content == b""
    assert client.get("/stream").content == b"ab"
    assert client.get("/file").text == "file"
    assert client.get("/file", headers={"Range": "bytes=1-"}).text == "ile"
    assert client.get("/missing").status_code == 404
    assert client.post("/upload", content=iter([b"ab", b"cd"])).text == "4"
    assert client.post("/upload", content=b"abc").text == "3"


# -- lifespan, errors, construction ---------------------------------------------------------


def test_context_manager_runs_startup_and_shutdown(make_client):
    events: list[str] = []
    app = App()

    @app.on_startup
    def start():
        events.append("startup")

    @app.on_shutdown
    async def stop():
        events.append("shutdown")

    @app.get("/")
    def index(req):
        return ",".join(events)

    client = make_client(app)
    with client:
        assert events == ["startup"]
        assert client.get("/").text == "startup"
    assert events == ["startup", "shutdown"]


def test_failed_startup_raises_from_the_with_block(interface):
    app = App()

    @app.on_startup
    def start():
        raise RuntimeError("database unreachable")

    with pytest.raises(RuntimeError, match="startup failed"):
        with TestClient(app, interface):
            pass


def test_handler_exceptions_become_500_responses(make_client, caplog):
    app = App()

    @app.get("/")
    def boom(req):
        raise KeyError("secret-detail")

    response = make_client(app).get("/")
    assert response.status_code == 500
    assert "secret-detail" not in response.text
    assert "secret-detail" in caplog.text


def test_base_url_and_client_defaults(make_client):
    app = App()

    @app.get("/go")
    def go(req):
        return Response.redirect("/there")

    @app.get("/there")
    def there(req):
        return req.url

    client = make_client(app)
    response = client.get("/go")
    assert response.status_code == 303  # redirects are not followed unless asked
    assert client.get("/go", follow_redirects=True).text == "http://testserver/there"
    other = make_client(app, base_url="https://api.example.com", follow_redirects=True)
    assert other.get("/go").text == "https://api.example.com/there"


def test_unknown_interface_is_refused():
    with pytest.raises(ValueError, match="wsgi"):
        TestClient(App(), "cgi")  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_upload_generator_is_pulled_as_the_app_reads(make_client, url):
    order: list[str] = []
    app = App()

    @app.post("/sync", stream=True)
    def sync_upload(req):
        for chunk in req.stream():
            order.append(f"read {chunk[:1].decode()}")
        return "done"

    @app.post("/async", stream=True)
    async def async_upload(req):
        async for chunk in req.stream():
            order.append(f"read {chunk[:1].decode()}")
        return "done"

    def body():
        for name in ("a", "b", "c"):
            order.append(f"send {name}")
            yield name.encode() * 40_000

    assert make_client(app).post(url, content=body()).text == "done"
    # Each piece reached the handler before the generator produced the last one
    # (a WSGI read(64 KiB) waits for 64 KiB, like a real server's wsgi.input).
    assert order.index("read a") < order.index("send c")
    assert order[-1].startswith("read")


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_stream_failing_midway_surfaces_in_the_test(make_client, caplog, url):
    app = App()

    def sync_chunks():
        yield b"partial"
        raise RuntimeError("backend went away")

    async def async_chunks():
        yield b"partial"
        raise RuntimeError("backend went away")

    @app.get("/sync")
    def sync_stream(req):
        return Response.stream(sync_chunks())

    @app.get("/async")
    async def async_stream(req):
        return Response.stream(async_chunks())

    client = make_client(app)
    # Headers are already out, so a real server can only cut the connection;
    # the test client raises instead of pretending the body was complete.
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        chunks = response.iter_raw()
        assert next(chunks) == b"partial"
        with pytest.raises(RuntimeError, match="backend went away"):
            next(chunks)
    assert "response stream failed mid-way" in caplog.text


def _stalling_app() -> App:
    app = App()

    @app.get("/never")
    async def never(req):
        await asyncio.sleep(3600)

    @app.get("/stalls")
    async def stalls(req):
        async def chunks():
            yield b"partial"
            await asyncio.sleep(3600)

        return Response.stream(chunks())

    return app


def test_asgi_app_that_never_answers_fails_the_test_instead_of_hanging():
    with TestClient(_stalling_app(), "asgi", app_timeout=0.3) as client:
        with pytest.raises(TimeoutError, match=r"sent nothing within 0.3s .* GET /never"):
            client.get("/never")
        with client.stream("GET", "/stalls") as response:
            chunks = response.iter_raw()
            assert next(chunks) == b"partial"
            with pytest.raises(TimeoutError, match=r"the body of GET /stalls"):
                next(chunks)
        # The stalled calls were cancelled: the client still serves and shuts down.
        assert client.get("/missing").status_code == 404
