"""A chat: async handlers, websockets, and a broker opened at startup and closed at shutdown.

    uvicorn examples.chat:app.asgi
    gunicorn -k asgi examples.chat:app.asgi
    gunicorn -k uvicorn_worker.UvicornWorker examples.chat:app.asgi

Open http://127.0.0.1:8000/ in two browser windows, pick a name and the same room.

Without settings the broker lives in memory: one worker process only. Set
CHAT_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to share rooms, history and
member counts between any number of worker processes and machines.

Under WSGI (``gunicorn examples.chat:app.wsgi``) the page and the history are
served, and the websocket path answers 426: live chat needs an ASGI server.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

from twinframe import App, BadRequest, NotFound, Request, Response, WebSocket, WebSocketDisconnect
from twinframe.middleware import GZip

from .chat_broker import Broker, Event, MemoryBroker, RedisBroker

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_NAME = 32
MAX_TEXT = 2000
ROOM_NAME = re.compile(r"[\w-]{1,40}")

# GZip: the page, its script and the history are text, sent compressed to browsers.
app = App(max_message_size=4 * MAX_TEXT, middleware=[GZip()])


@app.on_startup
async def open_broker() -> None:
    url = os.environ.get("CHAT_REDIS_URL")
    app.state.broker = await RedisBroker.connect(url) if url else MemoryBroker()


@app.on_shutdown
async def close_broker() -> None:
    await app.state.broker.close()


def _broker() -> Broker:
    broker: Broker = app.state.broker
    return broker


def _check_room(room: str) -> None:
    if not ROOM_NAME.fullmatch(room):
        raise NotFound("room names are 1-40 letters, digits, '_' or '-'")


@app.get("/")
def page(req: Request) -> Response:
    return Response.file("chat.html", root=STATIC_DIR)


@app.get("/static/{path:path}")
def static(req: Request, path: str) -> Response:
    return Response.file(path, root=STATIC_DIR)


@app.get("/rooms")
async def rooms(req: Request) -> dict[str, Any]:
    counts = await _broker().rooms()
    return {"rooms": [{"room": room, "members": counts[room]} for room in sorted(counts)]}


@app.get("/rooms/{room}/messages")
async def messages(req: Request, room: str) -> list[Event]:
    _check_room(room)
    return await _broker().history(room)


@app.websocket("/ws/{room}")
async def chat(ws: WebSocket, room: str) -> None:
    _check_room(room)  # raising before accept() refuses the handshake
    name = ws.query.get("name", "").strip()
    if not name or len(name) > MAX_NAME:
        raise BadRequest(f"pick a name of 1 to {MAX_NAME} characters: /ws/{room}?name=alice")
    await ws.accept()
    broker = _broker()
    member = await broker.join(room, name)
    try:
        history = await broker.history(room)
        await ws.send_json({"type": "history", "room": room, "messages": history})
        tasks = {
            asyncio.create_task(_read(ws, broker, room, name)),
            asyncio.create_task(_write(ws, member.queue, history)),
        }
        kicked = asyncio.create_task(member.kicked.wait())
        done, _ = await asyncio.wait({*tasks, kicked}, return_when=asyncio.FIRST_COMPLETED)
        for task in (*tasks, kicked):
            task.cancel()
        await asyncio.gather(*tasks, kicked, return_exceptions=True)
    finally:
        # Leave before closing: closing a stuck connection may take a while.
        await broker.leave(member)
    if kicked in done:
        # Its queue overflowed: it can't keep up, and nobody else waits for it.
        await ws.close(1013, "too slow: messages were dropped, reconnect")
    for task in done & tasks:
        task.result()  # re-raise what ended the conversation (e.g. bad data -> 1003)


async def _read(ws: WebSocket, broker: Broker, room: str, name: str) -> None:
    """Every text frame the client sends becomes a message to the whole room."""
    async for text in ws.iter_text():
        if len(text) > MAX_TEXT:
            await ws.close(1009, f"messages are at most {MAX_TEXT} characters")
            return
        if text.strip():
            await broker.say(room, name, text)


async def _write(ws: WebSocket, queue: asyncio.Queue[Event], history: list[Event]) -> None:
    """Send the member's queued events, in order, skipping any already sent as history."""
    # With Redis, a message published just before the history was read can also
    # arrive live; it is one of the history's last entries, so drop it once.
    already_sent = history[-queue.maxsize :]
    try:
        while True:
            event = await queue.get()
            if already_sent and event["type"] == "message":
                if event in already_sent:
                    already_sent.remove(event)
                    continue
                already_sent = []  # a newer message: nothing after it can be a duplicate
            await ws.send_json(event)
    except WebSocketDisconnect:
        return
