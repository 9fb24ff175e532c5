"""Apps and assertions shared by several test modules (request, forms, cookies, adapters).

``recording_app`` records which handlers got parsed input, so a test can show a
bad request never reached one; ``body_app`` reads the body the way the query
asks (``?kind=body|text|json|form|files``) from a sync and an async handler;
``serve`` answers one request from both kinds of handler and checks they agree;
``hooks_app`` logs its startup and shutdown hooks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from twinframe import App, Response

PROBLEM = "application/problem+json"


def recording_app(**options: object) -> tuple[App, list[str]]:
    """An app whose handlers record each call that got parsed input.

    Bodies are parsed lazily: ``req.json`` / ``req.form`` raise the 4xx inside the
    handler, so a handler gets either the whole parsed value or an exception,
    never a half-parsed one; ``calls`` shows which handlers got a value.
    """
    app = App(**options)  # type: ignore[arg-type]
    calls: list[str] = []

    @app.post("/json")
    def read_json(req):
        value = req.json
        calls.append("json")
        return {"json": value}

    @app.post("/form")
    def read_form(req):
        form, files = dict(req.form), req.files
        calls.append("form")
        return {
            "form": form,
            "files": {name: [f.filename, f.data.decode("latin-1")] for name, f in files.items()},
        }

    @app.get("/items/{id:d}")
    def item(req, id):
        calls.append("item")
        return {"id": id}

    @app.get("/names/{name}")
    def name(req, name):
        calls.append("name")
        return {"name": name}

    @app.get("/rest/{rest:path}")
    def rest(req, rest):
        calls.append("rest")
        return {"rest": rest}

    @app.get("/query")
    def query(req):
        query = req.query
        calls.append("query")
        return {"n": len(query), "a": query.get("a")}

    @app.get("/cookies")
    def cookies(req):
        calls.append("cookies")
        return req.cookies

    @app.get("/headers")
    def headers(req):
        calls.append("headers")
        return {"x": req.headers.get("x-name")}

    @app.get("/host")
    def host(req):
        page = f"<a href='{req.url}'>{req.host}</a>"
        calls.append("host")
        return Response.html(page)

    @app.get("/ok")
    def ok(req):
        return "ok"

    return app, calls


def assert_problem(response, status: int, detail: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    if detail is not None:
        assert detail in problem["detail"]


def assert_still_serving(client) -> None:
    after = client.get("/ok")
    assert (after.status_code, after.text) == (200, "ok")


def multipart(parts: list[tuple[str, bytes]], boundary: str = "XyZ") -> bytes:
    out = b""
    for disposition, data in parts:
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


def body_app() -> App:
    app = App()

    def describe(req):
        kind = req.query.get("kind")
        if kind == "body":
            return {"body": req.body.hex()}
        if kind == "text":
            return {"text": req.text}
        if kind == "json":
            return {"json": req.json}
        if kind == "form":
            return {"form": {k: req.form.getall(k) for k in req.form}}
        if kind == "files":
            return {
                "form": {k: req.form.getall(k) for k in req.form},
                "files": [
                    [name, f.filename, f.content_type, f.data.decode("latin-1"), f.size]
                    for name, f in req.files.items()
                ],
            }
        raise AssertionError(kind)

    @app.post("/sync")
    def sync_handler(req):
        return describe(req)

    @app.post("/async")
    async def async_handler(req):
        return describe(req)

    return app


HANDLERS = ["/sync", "/async"]


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


def hooks_app(log: list[str], **kwargs: Any) -> App:
    app = App(**kwargs)

    @app.on_startup
    def sync_start() -> None:
        log.append("start 1 (sync)")

    @app.on_startup
    async def async_start() -> None:
        await asyncio.sleep(0)
        app.state.db = "connected"
        log.append("start 2 (async)")

    @app.on_shutdown
    async def async_stop() -> None:
        log.append("stop 1 (async)")

    @app.on_shutdown
    def sync_stop() -> None:
        log.append("stop 2 (sync)")

    @app.get("/db")
    def db(req) -> str:
        return str(req.app.state.db)

    return app


def run_together(task: Callable[[Callable[[], None]], None], count: int) -> list[BaseException]:
    """Run ``task(wait)`` on ``count`` threads; each calls ``wait()`` where the race
    starts, which releases all of them at once. Returns what the tasks raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            task(barrier.wait)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
