"""app.mount: WSGI, ASGI and twinframe apps under both entrypoints (the four pairings).

Real Flask and Starlette apps (tests/mountapps.py) plus bare callables for the
protocol corner cases (exc_info, file_wrapper, close(), misbehaving apps).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
from mountapps import CHUNKS, build, build_flask, build_starlette
from raw_drivers import CALLERS

from twinframe import App, Response, Router
from twinframe.testing import TestClient
from twinframe.testing.scope import asgi_scope

Client = Callable[..., TestClient]


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def client(make_client: Client, events: list[str]) -> Iterator[TestClient]:
    with make_client(build(events)) as client:
        yield client


# -- Flask -----------------------------------------------------------------------------


def test_flask_routing_and_url_for_include_the_prefix(client: TestClient) -> None:
    assert client.get("/").text == "twinframe home"
    r = client.get("/flask/")
    assert r.status_code == 200
    assert r.text == "flask index; hello is at /flask/hello"
    data = client.get("/flask/hello?x=1").json()
    assert data == {
        "script_root": "/flask",
        "path": "/hello",
        "url": "http://testserver/flask/hello?x=1",
        "external": "http://testserver/flask/hello",
    }
    assert client.get("/flask/nothing").status_code == 404


def test_flask_redirect_keeps_the_prefix(client: TestClient) -> None:
    r = client.get("/flask/go")
    assert r.status_code == 302
    assert r.headers["location"] == "/flask/hello"
    assert client.get("/flask/go", follow_redirects=True).json()["path"] == "/hello"


def test_flask_forms_and_uploads(client: TestClient) -> None:
    r = client.post("/flask/form", data={"name": "ada"})
    assert r.json() == {"name": "ada", "file": None}
    r = client.post("/flask/form", data={"name": "ada"}, files={"file": ("a.txt", b"contents")})
    assert r.json() == {"name": "ada", "file": "contents"}


def test_flask_cookies(client: TestClient) -> None:
    r = client.get("/flask/login")
    assert "user=ada" in r.headers["set-cookie"]
    assert "Path=/flask" in r.headers["set-cookie"]
    assert client.get("/flask/whoami").text == "ada"


def test_flask_streaming_response_streams(client: TestClient) -> None:
    with client.stream("GET", "/flask/stream") as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers
        pieces = list(r.iter_raw())
    assert b"".join(pieces) == b"".join(f"flask chunk {i}\n".encode() for i in range(CHUNKS))
    assert len(pieces) == CHUNKS  # one piece per chunk the generator yielded


def test_twinframe_routes_win_by_method_and_path(client: TestClient) -> None:
    # GET /flask/moved was migrated into twinframe; POST still reaches Flask.
    assert client.get("/flask/moved").text == "twinframe moved"
    assert client.post("/flask/moved").text == "flask moved POST"


# -- Starlette -------------------------------------------------------------------------


def test_starlette_lifespan_state_routing_and_url_for(
    client: TestClient, events: list[str]
) -> None:
    assert events == ["star startup"]
    data = client.get("/star/hello").json()
    assert data == {
        "root_path": "/star",
        "url": "http://testserver/star/hello",
        "url_for": "http://testserver/star/hello",
        "greeting": "hello from the lifespan",
    }


def test_starlette_lifespan_shutdown_runs_with_twinframes(make_client: Client) -> None:
    events: list[str] = []
    app = build(events)
    app.on_shutdown(lambda: events.append("twinframe shutdown"))
    app.on_startup(lambda: events.append("twinframe startup"))
    with make_client(app) as client:
        assert client.get("/star/hello").status_code == 200
    assert events == ["star startup", "twinframe startup", "twinframe shutdown", "star shutdown"]


def test_starlette_redirect_form_cookies(client: TestClient) -> None:
    r = client.get("/star/go")
    assert r.status_code == 302
    assert r.headers["location"] == "http://testserver/star/hello"
    r = client.post("/star/form", data={"name": "grace"}, files={"file": ("b.txt", b"data")})
    assert r.json() == {"name": "grace", "file": "data"}
    r = client.get("/star/login")
    assert "Path=/star" in r.headers["set-cookie"]
    assert client.get("/star/whoami").text == "grace"


def test_starlette_streaming_response_streams(client: TestClient) -> None:
    with client.stream("GET", "/star/stream") as r:
        assert r.status_code == 200
        pieces = list(r.iter_raw())
    assert b"".join(pieces) == b"".join(f"starlette chunk {i}\n".encode() for i in range(CHUNKS))
    assert len(pieces) == CHUNKS


def test_starlette_websocket(client: TestClient, interface: str) -> None:
    if interface == "wsgi":
        # No websockets through WSGI: the upgrade answers 426, like twinframe's own.
        r = client.get("/star/ws", headers={"upgrade": "websocket", "connection": "upgrade"})
        assert r.status_code == 426
        return
    with client.websocket_connect("/star/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "/star echo: hi"
        ws.send_text("bye")


def test_websocket_to_a_wsgi_mount_is_refused(make_client: Client, interface: str) -> None:
    app = App()
    app.mount("/flask", build_flask())
    with make_client(app) as client:
        if interface == "wsgi":
            r = client.get("/flask/", headers={"upgrade": "websocket", "connection": "upgrade"})
            # A plain GET for the WSGI app, which answers it itself (Werkzeug: 400).
            assert r.status_code == 400 and "<title>400 Bad Request</title>" in r.text
            return
        from twinframe.testing import WebSocketRejected

        with pytest.raises(WebSocketRejected) as info:
            client.websocket_connect("/flask/ws")
        assert info.value.status == 404


# -- large bodies, both ways, with flat memory ----------------------------------------

BIG = 50 * 1024 * 1024


def _upload() -> Iterator[bytes]:
    piece = b"u" * 65536
    for _ in range(BIG // len(piece)):
        yield piece


@pytest.mark.parametrize("mounted", ["flask", "star"])
def test_50mb_upload_and_download_keep_memory_flat(client: TestClient, mounted: str) -> None:
    gc.collect()
    tracemalloc.start()
    try:
        r = client.post(f"/{mounted}/count", content=_upload())
        assert r.json() == {"bytes": BIG}
        received = 0
        with client.stream("GET", f"/{mounted}/download/{BIG}") as r:
            for piece in r.iter_raw():
                received += len(piece)
        assert received == BIG
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for 50 MB each way"


# -- precedence, prefixes, registration -------------------------------------------------


def _text_wsgi(text: str) -> Callable[..., list[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = f"{text} {environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


def _text_asgi(text: str) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = f"{text} {scope['root_path']}|{scope['path']}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def test_longest_prefix_wins_and_root_mount_catches_the_rest(make_client: Client) -> None:
    app = App()

    @app.get("/own")
    def own(req: Any) -> str:
        return "own"

    app.mount("/", _text_wsgi("root"))
    app.mount("/a", _text_asgi("a"))
    app.mount("/a/b", _text_wsgi("ab"))
    with make_client(app) as client:
        assert client.get("/own").text == "own"
        assert client.get("/own/").text == "root |/own/"  # no trailing-slash redirect: root answers
        assert client.get("/x/y").text == "root |/x/y"
        assert client.get("/a").text == "a /a|/a"
        assert client.get("/a/").text == "a /a|/a/"
        assert client.get("/ab").text == "root |/ab"  # a prefix ends on a segment boundary
        assert client.get("/a/b/c").text == "ab /a/b|/c"
        assert client.get("/a/bc").text == "a /a|/a/bc"


def test_router_mounts_compose_with_include(make_client: Client) -> None:
    router = Router()
    router.mount("/legacy", _text_wsgi("legacy"))
    inner = Router()
    inner.mount("/", _text_asgi("inner"))
    app = App()
    app.include(router, prefix="/api")
    app.include(inner, prefix="/v2")
    with make_client(app) as client:
        assert client.get("/api/legacy/x").text == "legacy /api/legacy|/x"
        assert client.get("/v2/z").text == "inner /v2|/v2/z"
        assert client.get("/api/other").status_code == 404


def test_a_router_mounted_at_the_root_included_without_prefix_serves_everything_else(
    make_client: Client,
) -> None:
    router = Router()
    router.mount("/", _text_asgi("root"))
    app = App()

    @app.get("/own")
    def own(req: Any) -> str:
        return "own"

    app.include(router)
    with make_client(app) as client:
        assert client.get("/own").text == "own"
        assert client.get("/a/b").text == "root |/a/b"


@pytest.mark.parametrize(
    "prefix",
    [
        "admin",
        "admin/",
        "/admin/",
        "/a/{x}",
        "",
        "//a",
        "/a//b",
        "/a/../b",
        "/a/./b",
        "/a b",
        "/a?b",
        "/a%20",
    ],
)
def test_unclean_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="clean path"):
        App().mount(prefix, _text_wsgi("x"))


def test_registration_errors_are_clear() -> None:
    app = App()
    with pytest.raises(TypeError, match="not a WSGI or ASGI application"):
        app.mount("/x", 42)

    def three(scope: Any, receive: Any, send: Any) -> None: ...

    with pytest.raises(TypeError, match="interface='asgi'"):
        app.mount("/x", three)

    def vague(*args: Any) -> None: ...

    with pytest.raises(TypeError, match="interface='wsgi' or 'asgi'"):
        app.mount("/x", vague)
    with pytest.raises(ValueError, match="interface must be"):
        app.mount("/x", _text_wsgi("x"), interface="cgi")  # type: ignore[arg-type]
    app.mount("/x", _text_wsgi("x"))
    with pytest.raises(ValueError, match="already mounted at '/x'"):
        app.mount("/x", _text_asgi("y"))
    with pytest.raises(ValueError, match="inside itself"):
        app.mount("/self", app)


def test_interface_can_be_forced(make_client: Client) -> None:
    inner = _text_asgi("forced")

    def sync_looking(scope: Any, receive: Any, send: Any) -> Any:
        return inner(scope, receive, send)

    app = App()
    app.mount("/f", sync_looking, interface="asgi")
    with make_client(app) as client:
        assert client.get("/f/q").text == "forced /f|/f/q"


# -- a twinframe App, natively --------------------------------------------------------


def test_url_for_keeps_the_characters_a_path_allows_in_the_mount_prefix(
    make_client: Client,
) -> None:
    sub = App()

    @sub.get("/items/{id:d}", name="item")
    def item(req: Any, id: int) -> str:
        return req.url_for("item", id=id + 1)

    app = App()
    app.mount("/v1:beta@eu", sub)
    with make_client(app) as client:
        response = client.get("/v1:beta@eu/items/3")
        assert response.status_code == 200
        assert response.text == "/v1:beta@eu/items/4"


def test_a_twinframe_app_is_served_natively(make_client: Client, interface: str) -> None:
    calls: list[str] = []
    sub = App()

    @sub.get("/items/{id:d}", name="item")
    def item(req: Any, id: int) -> dict[str, Any]:
        return {"id": id, "url": req.url_for("item", id=id + 1), "root": req.root_path}

    @sub.websocket("/ws")
    async def ws(sock: Any) -> None:
        await sock.accept()
        await sock.send_text("sub " + sock.path)
        await sock.close()

    sub.on_startup(lambda: calls.append("sub up"))
    sub.on_shutdown(lambda: calls.append("sub down"))
    app = App()
    app.mount("/sub", sub.wsgi if interface == "wsgi" else sub.asgi)  # either means the App
    assert app.mounts[0].app is sub
    with make_client(app) as client:
        assert calls == ["sub up"]
        assert client.get("/sub/items/3").json() == {"id": 3, "url": "/sub/items/4", "root": "/sub"}
        assert client.get("/sub/items/x").status_code == 404
        r = client.get("/sub/items/3/")
        assert r.status_code == 308 and r.headers["location"] == "/sub/items/3"
        assert client.head("/sub/items/3").headers["content-length"] == str(
            len(client.get("/sub/items/3").content)
        )
        if interface == "asgi":
            with client.websocket_connect("/sub/ws") as sock:
                assert sock.receive_text() == "sub /ws"
        else:
            assert client.get("/sub/ws").status_code == 426
    assert calls == ["sub up", "sub down"]


def test_hooks_do_not_run_for_mounts(make_client: Client) -> None:
    seen: list[str] = []
    app = App()

    @app.before_request
    def before(req: Any) -> None:
        seen.append("before " + req.path)

    @app.after_request
    def after(req: Any, resp: Response) -> None:
        seen.append("after " + req.path)

    @app.get("/own")
    def own(req: Any) -> str:
        return "own"

    app.mount("/m", _text_wsgi("m"))
    with make_client(app) as client:
        assert client.get("/m/x").status_code == 200
        assert seen == []
        client.get("/own")
        assert seen == ["before /own", "after /own"]


# -- PEP 3333 details -----------------------------------------------------------------


def test_exc_info_replaces_headers_not_yet_sent(make_client: Client) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        try:
            raise KeyError("boom")
        except KeyError:
            import sys

            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        yield b""
        yield b"sorry"

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client:
        r = client.get("/m/")
        assert r.status_code == 503
        assert "x-first" not in r.headers
        assert r.text == "sorry"


def test_exc_info_after_the_headers_went_out_fails_the_stream(make_client: Client) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise KeyError("late")
        except KeyError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())  # re-raises
        yield b"never"

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client, pytest.raises(Exception):  # noqa: B017
        # The headers are out: the connection is cut, as any server does.
        with client.stream("GET", "/m/") as r:
            assert r.status_code == 200
            b"".join(r.iter_raw())


def test_file_wrapper_sends_the_file_and_closes_it(make_client: Client, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789" * 20000)
    opened: list[Any] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        f = open(path, "rb")
        opened.append(f)
        return environ["wsgi.file_wrapper"](f, 4096)

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client:
        assert client.get("/m/").content == path.read_bytes()
    gc.collect()
    assert opened[0].closed


class _Closing:
    """A WSGI iterable that counts close() calls."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed += 1


def test_close_is_called_once(make_client: Client) -> None:
    results: list[_Closing] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> _Closing:
        start_response("200 OK", [("Content-Type", "text/plain")])
        results.append(_Closing([b"a", b"b", b"c"]))
        return results[-1]

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client:
        assert client.get("/m/").text == "abc"
        assert client.head("/m/").status_code == 200
    assert [r.closed for r in results] == [1, 1]


# -- misbehaving mounted apps: a logged 500, and the next request is fine -------------


def _wsgi_raises(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    raise RuntimeError("wsgi app exploded")


def _wsgi_twice(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"x"]


def _wsgi_never_starts(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return [b"no start_response"]


def _wsgi_bad_chunk(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[Any]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text, not bytes"]


async def _asgi_raises(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("asgi app exploded")


async def _asgi_invalid(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.body", "body": b"body before start"})


async def _asgi_bad_status(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": "200", "headers": []})


async def _asgi_silent(scope: Any, receive: Any, send: Any) -> None:
    return None  # never answers


async def _asgi_start_only(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


@pytest.mark.parametrize(
    "bad",
    [
        _wsgi_raises,
        _wsgi_twice,
        _wsgi_never_starts,
        _wsgi_bad_chunk,
        _asgi_raises,
        _asgi_invalid,
        _asgi_bad_status,
        _asgi_silent,
        _asgi_start_only,
    ],
    ids=lambda f: f.__name__,
)
def test_misbehaving_app_gives_a_logged_500(
    make_client: Client, caplog: pytest.LogCaptureFixture, bad: Callable[..., Any]
) -> None:
    app = App()

    @app.get("/ok")
    def ok(req: Any) -> str:
        return "fine"

    app.mount("/bad", bad)
    with make_client(app) as client:
        with caplog.at_level(logging.ERROR, logger="twinframe"):
            r = client.get("/bad/x")
        assert r.status_code == 500
        assert "Traceback" not in r.text
        assert any(rec.levelno >= logging.ERROR for rec in caplog.records)
        assert client.get("/ok").text == "fine"
        assert client.get("/bad/x").status_code == 500  # and again, no state left behind


def test_asgi_app_background_work_runs_after_the_response(make_client: Client) -> None:
    done: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")  # the spec's way to say so
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"done"})
        await asyncio.sleep(0)
        done.append("background")

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client:
        assert client.get("/m/").text == "done"
        # Under app.asgi it runs on the server's loop once the answer is out.
        deadline = time.monotonic() + 5
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done == ["background"]


# -- streaming as it happens, both ways, in the four pairings -------------------------


def _streaming_wsgi(got_first: Any, sent_first: Any, log: list[str]) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            stream = environ["wsgi.input"]
            first = stream.read(5)
            got_first.set()  # the client's generator waits for this before sending more
            rest = stream.read()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [first + b"|" + rest]
        start_response("200 OK", [("Content-Type", "text/plain")])

        def chunks() -> Iterator[bytes]:
            yield b"first"
            log.append("read" if sent_first.wait(5) else "not read")
            yield b"second"

        return chunks()

    return app


def _streaming_asgi(got_first: Any, sent_first: Any, log: list[str]) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
        if scope["method"] == "POST":
            parts = []
            more = True
            while more:
                message = await receive()
                parts.append(message.get("body", b""))
                if len(parts) == 1:
                    got_first.set()
                more = message.get("more_body", False)
            await send(start)
            body = b"".join(parts)
            await send({"type": "http.response.body", "body": body[:5] + b"|" + body[5:]})
            return
        await send(start)
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        loop = asyncio.get_running_loop()
        seen = await loop.run_in_executor(None, sent_first.wait, 5)
        log.append("read" if seen else "not read")
        await send({"type": "http.response.body", "body": b"second"})

    return app


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_bodies_stream_as_they_happen(make_client: Client, kind: str) -> None:
    import threading

    got_first, sent_first = threading.Event(), threading.Event()
    log: list[str] = []
    build_app = _streaming_wsgi if kind == "wsgi" else _streaming_asgi
    app = App()
    app.mount("/s", build_app(got_first, sent_first, log))

    first = b"f" * 65536  # a full read's worth: WSGI servers' reads block until they have it

    def upload() -> Iterator[bytes]:
        yield first
        # The app has the first piece before the second is even produced.
        log.append("arrived" if got_first.wait(5) else "held back")
        yield b"second"

    with make_client(app) as client:
        answer = client.post("/s/", content=upload()).content
        assert answer == first[:5] + b"|" + first[5:] + b"second"
        with client.stream("GET", "/s/") as r:
            pieces = r.iter_raw()
            assert next(pieces) == b"first"
            sent_first.set()  # the app produces its second piece only now
            assert b"".join(pieces) == b"second"
    assert log == ["arrived", "read"]


def test_where_mounted_apps_run(make_client: Client, interface: str) -> None:
    import threading

    loops: dict[str, int] = {}
    threads: dict[str, str] = {}
    app = App()

    @app.get("/own")
    async def own(req: Any) -> str:
        loops["twinframe"] = id(asyncio.get_running_loop())
        return "own"

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        threads["wsgi"] = threading.current_thread().name
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi"]

    async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        loops["asgi"] = id(asyncio.get_running_loop())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"asgi"})

    app.mount("/w", wsgi_app)
    app.mount("/a", asgi_app)
    with make_client(app) as client:
        assert client.get("/own").text == "own"
        assert client.get("/w/").text == "wsgi"
        assert client.get("/a/").text == "asgi"
    # The ASGI app runs on the loop twinframe's async handlers use (the worker
    # thread's under WSGI); the WSGI app in twinframe's thread pool under ASGI.
    assert loops["asgi"] == loops["twinframe"]
    if interface == "asgi":
        assert threads["wsgi"].startswith("twinframe")
    else:
        assert threads["wsgi"] == threading.current_thread().name


def test_a_failed_mounted_startup_fails_twinframes(make_client: Client) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    outer = App()
    outer.mount("/m", app)
    client = make_client(outer)
    with pytest.raises(Exception, match="no database"):
        client.__enter__()


def test_receive_after_the_response_says_disconnect(make_client: Client) -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        while (await receive()).get("more_body"):
            pass
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        # Waiting for the client to go, as some apps do after answering.
        seen.append((await asyncio.wait_for(receive(), 5))["type"])

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client:
        assert client.post("/m/", content=b"body").text == "ok"
        # Under app.asgi the app goes on on the server's loop after its answer:
        # give it its turn (a loaded machine may take a moment).
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
    assert seen == ["http.disconnect"]


# -- twinframe's middleware wraps mounted apps ------------------------------------------


def _request_ids(kind: str, seen: list[str]) -> Any:
    """A request-id middleware of each kind: sync, async, or async marked inline."""

    def tag(req: Any, response: Response) -> Response:
        seen.append(req.path)
        response.headers["X-Request-Id"] = f"rid-{len(seen)}"
        return response

    if kind == "sync":

        def sync_mw(req: Any, call_next: Any) -> Response:
            return tag(req, call_next(req))

        return sync_mw

    async def async_mw(req: Any, call_next: Any) -> Response:
        await asyncio.sleep(0)  # a real await: this one runs on the loop, not inline
        return tag(req, await call_next(req))

    if kind == "async":
        return async_mw

    class Inline:
        inline = True

        async def __call__(self, req: Any, call_next: Any) -> Response:
            return tag(req, await call_next(req))

    return Inline()


@pytest.mark.parametrize("kind", ["sync", "async", "inline"])
def test_middleware_wraps_mounted_flask_and_starlette(
    make_client: Client, events: list[str], kind: str
) -> None:
    from twinframe.middleware import CrossOriginProtection

    seen: list[str] = []
    app = build(events)
    app.add_middleware(_request_ids(kind, seen))
    app.add_middleware(CrossOriginProtection())
    with make_client(app) as client:
        r = client.get("/flask/hello")
        assert r.json()["script_root"] == "/flask"
        assert r.headers["x-request-id"] == "rid-1"
        r = client.get("/star/hello")
        assert r.json()["greeting"] == "hello from the lifespan"
        assert r.headers["x-request-id"] == "rid-2"
        # Streams still stream through the middleware, from both kinds of app.
        for mounted, label in (("flask", "flask"), ("star", "starlette")):
            with client.stream("GET", f"/{mounted}/stream") as r:
                assert r.headers["x-request-id"].startswith("rid-")
                pieces = list(r.iter_raw())
            assert len(pieces) == CHUNKS
            assert pieces[0] == f"{label} chunk 0\n".encode()
        # The cross-site form post is refused before it reaches Flask; a same-origin one isn't.
        cross = {"sec-fetch-site": "cross-site"}
        r = client.post("/flask/form", data={"name": "x"}, headers=cross)
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        same = {"sec-fetch-site": "same-origin"}
        assert client.post("/flask/form", data={"name": "x"}, headers=same).json()["name"] == "x"
        assert client.post("/star/form", data={"name": "y"}, headers=cross).status_code == 403
    assert seen[:2] == ["/flask/hello", "/star/hello"]


def test_builtin_cors_request_id_and_gzip_apply_to_mounted_apps(
    make_client: Client, events: list[str]
) -> None:
    import gzip

    from twinframe.middleware import CORS, GZip, RequestID

    app = build(events)
    app.add_middleware(RequestID())
    app.add_middleware(CORS(["https://front.example"]))
    app.add_middleware(GZip(minimum_size=10))
    origin = {"origin": "https://front.example"}
    with make_client(app) as client:
        for path in ("/flask/hello", "/star/hello", "/"):
            r = client.get(path, headers={**origin, "x-request-id": "abc-123"})
            assert r.status_code == 200
            assert r.headers["access-control-allow-origin"] == "https://front.example"
            assert r.headers["x-request-id"] == "abc-123"
        # A preflight to the mounted app is answered by CORS.
        r = client.options(
            "/flask/form", headers={**origin, "access-control-request-method": "POST"}
        )
        assert r.status_code in (200, 204)
        assert "POST" in r.headers["access-control-allow-methods"]
        # Compression wraps the mounted apps' streams, still chunk by chunk.
        for mounted, label in (("flask", "flask"), ("star", "starlette")):
            headers = {"accept-encoding": "gzip"}
            with client.stream("GET", f"/{mounted}/stream", headers=headers) as r:
                assert r.headers["content-encoding"] == "gzip"
                raw = b"".join(r.iter_raw())
            expected = b"".join(f"{label} chunk {i}\n".encode() for i in range(CHUNKS))
            assert gzip.decompress(raw) == expected


# -- more of PEP 3333 ---------------------------------------------------------------


def test_flask_send_file_and_line_reads(client: TestClient) -> None:
    import mountapps

    r = client.get("/flask/source")
    assert r.status_code == 200
    assert r.content == Path(mountapps.__file__).read_bytes()
    r = client.post("/flask/lines", content=b"one\ntwo\nthree\n")
    assert r.json() == {"first": "one\n", "rest": ["two\n", "three\n"]}


def test_the_write_callable_works(make_client: Client) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]

    outer = App()
    outer.mount("/m", app)
    with make_client(outer) as client:
        assert client.get("/m/").text == "written returned"


def _wsgi_bad_status(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("OK", [("Content-Type", "text/plain")])
    return [b"x"]


def _wsgi_bad_headers(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", {"Content-Type": "text/plain"})
    return [b"x"]


@pytest.mark.parametrize("bad", [_wsgi_bad_status, _wsgi_bad_headers], ids=lambda f: f.__name__)
def test_invalid_start_response_arguments_give_a_500(
    make_client: Client, bad: Callable[..., Any]
) -> None:
    app = App()
    app.mount("/bad", bad)
    with make_client(app) as client:
        assert client.get("/bad/").status_code == 500


def test_a_websocket_app_that_fails_is_closed_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    # Websockets exist under app.asgi only (app.wsgi's 426 is tested above).
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("websockets only")
        await receive()
        await send({"type": "websocket.accept"})
        raise RuntimeError("websocket app exploded")

    outer = App()
    outer.mount("/ws", app)
    with TestClient(outer, "asgi") as client:
        with client.websocket_connect("/ws/") as ws:
            from twinframe.websocket import WebSocketDisconnect

            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1011
    assert "websocket app exploded" in caplog.text


def test_an_app_mounted_twice_starts_once_and_shares_its_state(make_client: Client) -> None:
    events: list[str] = []
    star = build_starlette(events)
    app = App()
    app.mount("/one", star)
    app.mount("/two", star)
    with make_client(app) as client:
        assert events == ["star startup"]
        for prefix in ("/one", "/two"):
            data = client.get(f"{prefix}/hello").json()
            assert data["root_path"] == prefix
            assert data["greeting"] == "hello from the lifespan"
    assert events == ["star startup", "star shutdown"]


# -- the environ a mounted WSGI app sees ------------------------------------------------


def _environ_echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A WSGI app answering with its environ (the text and flag values) and the body it read."""
    seen: dict[str, Any] = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in environ.items()
        if isinstance(value, (str, bool, tuple))
    }
    seen["body"] = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


def _echo_app() -> App:
    app = App()
    # wsgiref.validate checks the environ against PEP 3333 (the required keys,
    # str values, no HTTP_CONTENT_TYPE...) before the app runs; a failed check is a 500.
    # The validator takes *args, so detection can't tell: say it.
    app.mount("/mnt", validator(_environ_echo), interface="wsgi")
    return app


@pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")
def test_mounted_wsgi_app_gets_a_full_pep3333_environ(make_client: Client, interface: str) -> None:
    client = make_client(_echo_app(), base_url="https://example.org:8443")
    headers = [
        ("Content-Type", "text/plain"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-For", "10.0.0.2"),
        ("User-Agent", "probe/1"),
    ]
    r = client.post("/mnt/caf%C3%A9/x?a=1&b=%20", content=b"hello", headers=headers)
    assert r.status_code == 200, r.text
    environ = r.json()
    expected = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/mnt",
        # PEP 3333: the path's bytes, percent-decoded, each as one latin-1 character.
        "PATH_INFO": "/caf\xc3\xa9/x",
        "QUERY_STRING": "a=1&b=%20",
        "SERVER_NAME": "example.org",
        "SERVER_PORT": "8443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "5",
        "HTTP_HOST": "example.org:8443",
        "HTTP_USER_AGENT": "probe/1",
        "HTTP_X_FORWARDED_FOR": "10.0.0.1,10.0.0.2",  # repeats joined, as WSGI servers do
        "wsgi.version": [1, 0],
        "wsgi.url_scheme": "https",
        "wsgi.input_terminated": True,  # the app may read() to the end, with no Content-Length
        "body": "hello",
    }
    assert {key: environ.get(key) for key in expected} == expected
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    # (multithread, multiprocess, run_once): under app.wsgi the server's own (the
    # TestClient's here); under app.asgi the app runs in the thread pool, and an ASGI
    # server may run several worker processes, which twinframe can't know: say so.
    flags = {"wsgi": [True, False, False], "asgi": [True, True, False]}[interface]
    assert [environ[k] for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once")] == flags


@pytest.mark.parametrize("entrypoint", ["wsgi", "asgi"])
@pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning")
def test_mounted_wsgi_app_under_a_root_path_over_http2(entrypoint: str) -> None:
    call = CALLERS[entrypoint]
    result = call(_echo_app(), "GET", b"/outer/mnt/p?q=1", root_path="/outer", http_version="2")
    assert result.status == 200, result.body
    environ = json.loads(result.body)
    # The server's prefix, then the mount's, in SCRIPT_NAME (Flask's url_for builds on it).
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/outer/mnt", "/p")
    assert (environ["QUERY_STRING"], environ["SERVER_PROTOCOL"]) == ("q=1", "HTTP/2")


def _asgi_environ(scope: dict[str, Any]) -> dict[str, Any]:
    """The environ the echo app sees for ``scope`` (a GET) under app.asgi."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]

    async def run() -> None:
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop()
            await done.wait()  # then the client leaves, as a server says after the response
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await asyncio.wait_for(_echo_app().asgi(scope, receive, send), 10)

    asyncio.run(run())
    assert sent[0]["status"] == 200, sent
    return dict(json.loads(b"".join(m.get("body", b"") for m in sent[1:])))


@pytest.mark.parametrize(
    ("scheme", "server", "name", "port"),
    [
        ("http", None, "localhost", "80"),
        ("https", None, "localhost", "443"),
        ("http", ("/run/app.sock", None), "/run/app.sock", "80"),  # a unix socket
        ("https", ("/run/app.sock", None), "/run/app.sock", "443"),
    ],
)
def test_mounted_wsgi_app_under_asgi_when_the_scope_leaves_things_out(
    scheme: str, server: tuple[str, None] | None, name: str, port: str
) -> None:
    # ASGI makes server and client optional; some servers leave out http_version.
    scope = asgi_scope("http", b"/mnt/", b"", [], method="GET", scheme=scheme, server=server)
    scope["client"] = None
    del scope["http_version"]
    environ = _asgi_environ(scope)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == (name, port)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert "REMOTE_ADDR" not in environ and "REMOTE_PORT" not in environ


def test_asgi_mount_on_a_unix_socket_sees_no_server_port(interface):
    # Waitress on a Unix socket puts the socket's path in SERVER_PORT (uvicorn
    # leaves scope["server"] out): the mounted ASGI app is served, with no port
    # (ASGI allows None), instead of a 500 from reading the path as a number.
    async def inner(scope, receive, send):
        if scope["type"] != "http":
            return
        port = (scope.get("server") or ("", None))[1]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": f"port={port}".encode()})

    app = App()
    app.mount("/sub", inner, interface="asgi")
    server = ("localhost", "/run/app.sock") if interface == "wsgi" else None
    result = CALLERS[interface](app, target=b"/sub/x", server=server)
    assert result.status == 200
    assert result.body == b"port=None"
