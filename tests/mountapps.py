"""Real Flask and Starlette apps mounted in a twinframe app (tests and real servers).

``build()`` makes a twinframe App with the Flask app at ``/flask`` and the
Starlette app at ``/star``; uvicorn and gunicorn serve ``mountapps:app``. With
``MOUNT_EVENTS`` set to a file, the Starlette lifespan appends
``star <startup|shutdown> <pid>`` lines to it (the real-server tests read them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import flask
from starlette.applications import Starlette
from starlette.requests import Request as StarRequest
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket as StarWebSocket

from twinframe import App

CHUNKS = 5  # pieces of each streamed response


def build_flask() -> flask.Flask:
    """A Flask app using routing, url_for, redirects, forms, cookies and streaming."""
    app = flask.Flask("mounted_flask")

    @app.get("/")
    def index() -> str:
        return "flask index; hello is at " + flask.url_for("hello")

    @app.get("/hello")
    def hello() -> dict[str, Any]:
        req = flask.request
        return {
            "script_root": req.script_root,
            "path": req.path,
            "url": req.url,
            "external": flask.url_for("hello", _external=True),
        }

    @app.get("/go")
    def go() -> Any:
        return flask.redirect(flask.url_for("hello"))

    @app.route("/moved", methods=["GET", "POST"])
    def moved() -> str:
        return "flask moved " + flask.request.method

    @app.post("/form")
    def form() -> dict[str, Any]:
        req = flask.request
        upload = req.files.get("file")
        return {
            "name": req.form.get("name"),
            "file": upload.read().decode() if upload else None,
        }

    @app.get("/login")
    def login() -> Any:
        response = flask.make_response("logged in")
        response.set_cookie("user", "ada", path=flask.request.script_root or "/")
        return response

    @app.get("/whoami")
    def whoami() -> str:
        return flask.request.cookies.get("user", "nobody")

    @app.get("/stream")
    def stream() -> Any:
        def chunks() -> Iterator[str]:
            for i in range(CHUNKS):
                yield f"flask chunk {i}\n"

        return flask.Response(chunks(), mimetype="text/plain")

    @app.get("/source")
    def source() -> Any:
        # send_file hands the open file to wsgi.file_wrapper (sendfile under gunicorn).
        return flask.send_file(os.path.abspath(__file__), mimetype="text/plain")

    @app.post("/lines")
    def lines() -> dict[str, Any]:
        stream = flask.request.environ["wsgi.input"]
        first = stream.readline()
        rest = list(stream)
        return {"first": first.decode(), "rest": [line.decode() for line in rest]}

    @app.post("/count")
    def count() -> dict[str, int]:
        # Reads the body in pieces, as an upload handler does: memory stays flat.
        stream = flask.request.stream
        total = 0
        while chunk := stream.read(65536):
            total += len(chunk)
        return {"bytes": total}

    @app.get("/download/<int:size>")
    def download(size: int) -> Any:
        piece = b"x" * 65536

        def chunks() -> Iterator[bytes]:
            left = size
            while left > 0:
                yield piece[: min(left, len(piece))]
                left -= len(piece)

        return flask.Response(chunks(), mimetype="application/octet-stream")

    return app


def build_starlette(events: list[str] | None = None) -> Starlette:
    """A Starlette app with a lifespan (state), url_for, redirects, forms, cookies,
    streaming and a websocket."""
    log = events if events is not None else []

    def record(event: str) -> None:
        log.append(f"star {event}")
        path = os.environ.get("MOUNT_EVENTS")
        if path:
            with open(path, "a") as out:
                out.write(f"star {event} {os.getpid()}\n")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        record("startup")
        yield {"greeting": "hello from the lifespan"}
        record("shutdown")

    async def hello(request: StarRequest) -> JSONResponse:
        return JSONResponse(
            {
                "root_path": request.scope.get("root_path"),
                "url": str(request.url),
                "url_for": str(request.url_for("hello")),
                "greeting": request.state.greeting,
            }
        )

    async def go(request: StarRequest) -> RedirectResponse:
        # A Content-Type, which Starlette leaves out, for wsgiref.validate's sake.
        headers = {"content-type": "text/plain"}
        return RedirectResponse(request.url_for("hello"), status_code=302, headers=headers)

    async def form(request: StarRequest) -> JSONResponse:
        async with request.form() as data:
            upload = data.get("file")
            content = (await upload.read()).decode() if hasattr(upload, "read") else None
            return JSONResponse({"name": data.get("name"), "file": content})

    async def login(request: StarRequest) -> PlainTextResponse:
        response = PlainTextResponse("logged in")
        response.set_cookie("user", "grace", path=request.scope.get("root_path") or "/")
        return response

    async def whoami(request: StarRequest) -> PlainTextResponse:
        return PlainTextResponse(request.cookies.get("user", "nobody"))

    async def stream(request: StarRequest) -> StreamingResponse:
        async def chunks() -> AsyncIterator[str]:
            for i in range(CHUNKS):
                yield f"starlette chunk {i}\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    async def count(request: StarRequest) -> JSONResponse:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        return JSONResponse({"bytes": total})

    async def download(request: StarRequest) -> StreamingResponse:
        size = int(request.path_params["size"])
        piece = b"x" * 65536

        async def chunks() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                yield piece[: min(left, len(piece))]
                left -= len(piece)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def echo(ws: StarWebSocket) -> None:
        await ws.accept()
        while True:
            text = await ws.receive_text()
            if text == "bye":
                await ws.close()
                return
            await ws.send_text(f"{ws.scope.get('root_path')} echo: {text}")

    return Starlette(
        routes=[
            Route("/hello", hello, name="hello"),
            Route("/go", go),
            Route("/form", form, methods=["POST"]),
            Route("/login", login),
            Route("/whoami", whoami),
            Route("/stream", stream),
            Route("/count", count, methods=["POST"]),
            Route("/download/{size:int}", download),
            WebSocketRoute("/ws", echo),
        ],
        lifespan=lifespan,
    )


def build(events: list[str] | None = None, request_ids: bool = False) -> App:
    """A twinframe app with its own routes, Flask at /flask and Starlette at /star.

    ``request_ids`` adds an async middleware that sets ``X-Request-Id`` on every
    response, the mounted apps' included.
    """
    app = App()
    if request_ids:
        counter = itertools.count(1)

        async def request_id(req: Any, call_next: Any) -> Any:
            await asyncio.sleep(0)  # a real await: it runs on the loop, not inline
            response = await call_next(req)
            response.headers["X-Request-Id"] = f"{os.getpid()}-{next(counter)}"
            return response

        app.add_middleware(request_id)

    @app.get("/")
    def home(req: Any) -> str:
        return "twinframe home"

    # Migrated from Flask: twinframe's GET wins, other methods still reach Flask.
    @app.get("/flask/moved")
    def moved(req: Any) -> str:
        return "twinframe moved"

    app.mount("/flask", build_flask())
    app.mount("/star", build_starlette(events))
    return app


app = build(request_ids=True)
