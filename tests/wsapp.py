"""The app tests/servers/test_ws_servers.py serves: websockets plus lifespan hooks.

    uvicorn wsapp:app.asgi
    gunicorn wsapp:app.wsgi     (through ./gunicorn.conf.py)

Environment (set by the tests):
``TWINFRAME_LIFESPAN_DIR``  where startup/shutdown hooks append ``<event> <pid>`` lines;
``TWINFRAME_FAIL_STARTUP``  makes the startup hook raise;
``TWINFRAME_SLOW_STARTUP``  seconds the startup hook sleeps (to widen races).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from twinframe import App, HTTPError, Request, WebSocket, WebSocketDisconnect

app = App(max_message_size=64 * 1024)
wsgi = app.wsgi

# What the last /ticker handler saw (one uvicorn process serves all connections).
ticker_report: dict[str, Any] = {}


def _record(event: str) -> None:
    directory = os.environ.get("TWINFRAME_LIFESPAN_DIR")
    if directory:
        with open(os.path.join(directory, "events.log"), "a") as out:
            out.write(f"{event} {os.getpid()}\n")


@app.on_startup
async def start() -> None:
    if os.environ.get("TWINFRAME_FAIL_STARTUP"):
        raise ConnectionError("database unreachable (wsapp test)")
    await asyncio.sleep(float(os.environ.get("TWINFRAME_SLOW_STARTUP", "0")))
    app.state.started_in = os.getpid()
    _record("startup")


@app.on_shutdown
def stop() -> None:
    _record("shutdown")


@app.get("/")
def index(req: Request) -> str:
    return "ok"


@app.get("/pid")
def pid(req: Request) -> dict[str, int]:
    time.sleep(float(req.query.get("sleep", "0")))
    return {"pid": os.getpid(), "started_in": app.state.started_in}


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        try:
            data = await ws.receive()
        except WebSocketDisconnect:
            return
        if isinstance(data, str):
            await ws.send_text(data)
        else:
            await ws.send_bytes(data)


@app.websocket("/json")
async def json_echo(ws: WebSocket) -> None:
    await ws.accept()
    count = 0
    async for value in ws.iter_json():
        count += 1
        await ws.send_json({"echo": value, "n": count})


@app.websocket("/proto")
async def proto(ws: WebSocket) -> None:
    chosen = next((p for p in ("chat.v2", "chat.v1") if p in ws.subprotocols), None)
    await ws.accept(subprotocol=chosen)
    await ws.send_text(chosen or "none")
    await ws.close()


@app.websocket("/close/{code:d}")
async def close_with(ws: WebSocket, code: int) -> None:
    await ws.accept()
    await ws.close(code, f"closing with {code}")


@app.websocket("/boom")
async def boom(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()
    raise RuntimeError("handler bug (wsapp test)")


@app.websocket("/forbidden-after-accept")
async def forbidden_after_accept(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()
    raise HTTPError(403, "not in this room")


@app.websocket("/private")
async def private(ws: WebSocket) -> None:
    if ws.query.get("token") != "letmein":
        raise HTTPError(401, "token required")
    await ws.accept()
    await ws.send_text("welcome")
    await ws.close()


@app.websocket("/ticker")
async def ticker(ws: WebSocket) -> None:
    ticker_report.clear()
    await ws.accept()
    sent = 0
    try:
        while True:
            await ws.send_text(f"tick {sent}")
            sent += 1
            await asyncio.sleep(0.01)
    except WebSocketDisconnect as exc:
        ticker_report.update(outcome="disconnect", code=exc.code, sent=sent)


@app.get("/ticker-report")
async def ticker_status(req: Request) -> dict[str, Any]:
    return ticker_report


@app.websocket("/chat/{who}")
async def chat(ws: WebSocket, who: str) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        await asyncio.sleep(0)  # let other connections interleave
        await ws.send_text(f"{who}|{text}")
