"""examples/chat.py under real servers, driven by the ``websockets`` client library.

One process with the in-memory broker under each ASGI server command; the WSGI
entrypoint (page and history, 426 on the websocket path); several worker
processes, and two separate servers, sharing rooms through a real redis-server;
and a client too slow to keep up, disconnected without holding back the others.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from realserver import GRANIAN_BASE_ARGS, GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server
from system_programs import RedisServer, run_redis_server
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

pytestmark = pytest.mark.servers


ASGI_COMMANDS = {
    "uvicorn": [*UVICORN_BASE_ARGS, "examples.chat:app.asgi"],
    "gunicorn-asgi": [*GUNICORN_BASE_ARGS, "-k", "asgi", "examples.chat:app.asgi"],
    "gunicorn-uvicorn-worker": [
        *GUNICORN_BASE_ARGS,
        "-k",
        "uvicorn_worker.UvicornWorker",
        "examples.chat:app.asgi",
    ],
    "granian-asgi": [*GRANIAN_BASE_ARGS, "--interface", "asgi", "examples.chat:app.asgi"],
}
MULTI_WORKER_COMMANDS = {
    "uvicorn-workers4": [*UVICORN_BASE_ARGS, "--workers", "4", "examples.chat:app.asgi"],
    "gunicorn-w4-asgi": [*GUNICORN_BASE_ARGS, "-w", "4", "-k", "asgi", "examples.chat:app.asgi"],
    "gunicorn-w4-uvicorn-worker": [
        *GUNICORN_BASE_ARGS,
        "-w",
        "4",
        "-k",
        "uvicorn_worker.UvicornWorker",
        "examples.chat:app.asgi",
    ],
    "granian-asgi-workers4": [
        *GRANIAN_BASE_ARGS,
        *("--interface", "asgi", "--workers", "4"),
        "examples.chat:app.asgi",
    ],
}
WSGI_COMMANDS = {
    "gunicorn": [*GUNICORN_BASE_ARGS, "examples.chat:app.wsgi"],
    "granian-wsgi": [*GRANIAN_BASE_ARGS, "--interface", "wsgi", "examples.chat:app.wsgi"],
}
TIMEOUT = 10


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from run_redis_server(tmp_path)


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    """Every websocket a test opens is entered here, so all are closed at the end."""
    with ExitStack() as stack:
        yield stack


def _connect(sockets: ExitStack, url: str, **options: Any) -> ClientConnection:
    connection: ClientConnection = sockets.enter_context(
        connect(url, open_timeout=TIMEOUT, **options)
    )
    return connection


class Client:
    """A chat participant: a websocket joined to one room, with its history frame."""

    def __init__(self, sockets: ExitStack, server: Server, room: str, name: str) -> None:
        self.name = name
        url = server.url.replace("http://", "ws://") + f"/ws/{room}?name={name}"
        self.ws = _connect(sockets, url)
        first = self.receive()
        assert first["type"] == "history" and first["room"] == room
        self.history: list[dict[str, Any]] = first["messages"]
        self.expect(type="join", user=name)  # its own join comes back first

    def receive(self) -> dict[str, Any]:
        data = self.ws.recv(timeout=TIMEOUT)
        assert isinstance(data, str)
        event: dict[str, Any] = json.loads(data)
        return event

    def expect(self, **fields: Any) -> dict[str, Any]:
        """The next event, checked to match ``fields``."""
        event = self.receive()
        assert {k: event.get(k) for k in fields} == fields, event
        return event

    def messages(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` message events (skipping joins and leaves)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            event = self.receive()
            if event["type"] == "message":
                found.append(event)
        return found

    def close(self) -> None:
        self.ws.close()


class StalledClient:
    """A websocket client that never reads: with a tiny receive buffer, the server's writes back up.

    Built on websockets' sans-I/O protocol over a plain socket, so nothing reads
    in the background behind the test's back.
    """

    def __init__(self, server: Server, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", server.port))
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{server.port}{path}"))
        self.protocol.send_request(self.protocol.connect())
        for data in self.protocol.data_to_send():
            self.sock.sendall(data)
        while True:
            self.protocol.receive_data(self.sock.recv(4096))
            events = self.protocol.events_received()
            if events:
                assert isinstance(events[0], Response) and events[0].status_code == 101
                return

    def read_until_closed(self) -> tuple[int, str] | None:
        """Read the whole backlog; the server's close (code, reason), or None if it only hung up."""
        while self.protocol.close_rcvd is None:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.protocol.receive_data(data)
            self.protocol.events_received()
        return self.protocol.close_rcvd.code, self.protocol.close_rcvd.reason

    def close(self) -> None:
        self.sock.close()


def _refused_status(server: Server, path: str) -> int:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(server.url.replace("http://", "ws://") + path),
    ):
        pass
    return int(refused.value.response.status_code)


def _stop_cleanly(server: Server) -> None:
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in server.output, server.output


@pytest.mark.parametrize("name", list(ASGI_COMMANDS))
def test_chat_one_process(
    server_factory: Callable[..., Server], sockets: ExitStack, name: str
) -> None:
    server = server_factory(ASGI_COMMANDS[name], timeout=60)
    page = httpx.get(server.url + "/", timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="/static/chat.js" defer></script>' in page.text
    assert "new WebSocket(" in httpx.get(server.url + "/static/chat.js", timeout=TIMEOUT).text

    alice = Client(sockets, server, "kitchen", "alice")
    bob = Client(sockets, server, "kitchen", "bob")
    alice.expect(type="join", room="kitchen", user="bob")
    carol = Client(sockets, server, "garden", "carol")

    alice.ws.send("hello from alice")
    for client in (alice, bob):
        event = client.expect(type="message", room="kitchen", user="alice", text="hello from alice")
        assert set(event) == {"type", "room", "user", "text", "ts"}
        assert abs(event["ts"] - time.time()) < 60
    bob.ws.send('{"not": "parsed"}')  # plain text, even when it looks like JSON
    alice.expect(type="message", user="bob", text='{"not": "parsed"}')
    # Isolation: carol's first event after her own message is that message.
    carol.ws.send("hi garden")
    carol.expect(type="message", room="garden", user="carol", text="hi garden")

    rooms = httpx.get(server.url + "/rooms", timeout=TIMEOUT).json()
    assert rooms == {"rooms": [{"room": "garden", "members": 1}, {"room": "kitchen", "members": 2}]}
    history = httpx.get(server.url + "/rooms/kitchen/messages", timeout=TIMEOUT).json()
    assert [(m["user"], m["text"]) for m in history] == [
        ("alice", "hello from alice"),
        ("bob", '{"not": "parsed"}'),
    ]
    assert [m["text"] for m in httpx.get(server.url + "/rooms/garden/messages").json()] == [
        "hi garden"
    ]

    bob.close()
    alice.expect(type="leave", room="kitchen", user="bob")
    dave = Client(sockets, server, "kitchen", "dave")  # a newcomer gets the history on joining
    assert dave.history == history

    assert _refused_status(server, "/ws/kitchen") in (400, 403)
    assert _refused_status(server, "/ws/kitchen?name=") in (400, 403)
    assert _refused_status(server, "/ws/kitchen?name=%20%20") in (400, 403)
    for client in (alice, carol, dave):
        client.close()
    _stop_cleanly(server)


@pytest.mark.parametrize("name", list(WSGI_COMMANDS))
def test_chat_under_wsgi(server_factory: Callable[..., Server], name: str) -> None:
    server = server_factory(WSGI_COMMANDS[name], timeout=60)
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert "chat.js" in client.get("/").text
        assert client.get("/rooms").json() == {"rooms": []}
        assert client.get("/rooms/kitchen/messages").json() == []
        upgrade = client.get("/ws/kitchen", params={"name": "alice"})
        assert upgrade.status_code == 426
        assert upgrade.headers["content-type"] == "application/problem+json"
    assert _refused_status(server, "/ws/kitchen?name=alice") == 426
    _stop_cleanly(server)


@pytest.mark.parametrize("name", list(MULTI_WORKER_COMMANDS))
def test_chat_workers_share_rooms_through_redis(
    server_factory: Callable[..., Server], redis_server: RedisServer, sockets: ExitStack, name: str
) -> None:
    server = server_factory(
        MULTI_WORKER_COMMANDS[name], env={"CHAT_REDIS_URL": redis_server.url}, timeout=60
    )
    # Each client is its own connection, so they spread over the worker processes.
    clients = [Client(sockets, server, "hall", f"user{i}") for i in range(6)]
    per_client = 4
    for round_ in range(per_client):
        for client in clients:
            client.ws.send(f"{client.name} says {round_}")
    expected = [f"{c.name} says {r}" for r in range(per_client) for c in clients]
    for client in clients:
        got = [m["text"] for m in client.messages(len(expected))]
        assert sorted(got) == sorted(expected)  # nothing lost, nothing duplicated
        for other in clients:  # each sender's messages arrive in the order sent
            mine = [t for t in got if t.startswith(f"{other.name} says")]
            assert mine == [f"{other.name} says {r}" for r in range(per_client)]
    history = httpx.get(server.url + "/rooms/hall/messages", timeout=TIMEOUT).json()
    assert sorted(m["text"] for m in history) == sorted(expected)
    assert httpx.get(server.url + "/rooms", timeout=TIMEOUT).json() == {
        "rooms": [{"room": "hall", "members": 6}]
    }
    for client in clients:
        client.close()
    _stop_cleanly(server)


def test_two_servers_share_one_redis(
    server_factory: Callable[..., Server], redis_server: RedisServer, sockets: ExitStack
) -> None:
    env = {"CHAT_REDIS_URL": redis_server.url}
    first = server_factory([*UVICORN_BASE_ARGS, "examples.chat:app.asgi"], env=env, timeout=60)
    second = server_factory([*UVICORN_BASE_ARGS, "examples.chat:app.asgi"], env=env, timeout=60)
    alice = Client(sockets, first, "lobby", "alice")
    bob = Client(sockets, second, "lobby", "bob")
    alice.expect(type="join", user="bob")
    other_room = Client(sockets, second, "elsewhere", "eve")

    alice.ws.send("from the first server")
    bob.expect(type="message", room="lobby", user="alice", text="from the first server")
    alice.expect(type="message", user="alice", text="from the first server")
    bob.ws.send("from the second server")
    alice.expect(type="message", room="lobby", user="bob", text="from the second server")
    bob.expect(type="message", user="bob", text="from the second server")
    other_room.ws.send("only here")
    other_room.expect(type="message", room="elsewhere", text="only here")

    histories = [
        httpx.get(s.url + "/rooms/lobby/messages", timeout=TIMEOUT).json() for s in (first, second)
    ]
    assert histories[0] == histories[1]
    assert [(m["user"], m["text"]) for m in histories[0]] == [
        ("alice", "from the first server"),
        ("bob", "from the second server"),
    ]
    for server in (first, second):
        rooms = httpx.get(server.url + "/rooms", timeout=TIMEOUT).json()
        assert rooms == {
            "rooms": [{"room": "elsewhere", "members": 1}, {"room": "lobby", "members": 2}]
        }
    carol = Client(sockets, first, "lobby", "carol")  # history on joining, from Redis
    assert carol.history == histories[0]
    bob.close()
    alice.expect(type="join", user="carol")
    alice.expect(type="leave", user="bob")
    for client in (alice, carol, other_room):
        client.close()
    for server in (first, second):
        _stop_cleanly(server)


@pytest.mark.parametrize("name", ["uvicorn", "granian-asgi"])
def test_slow_client_is_disconnected_without_stalling_others(
    server_factory: Callable[..., Server], sockets: ExitStack, name: str
) -> None:
    server = server_factory(ASGI_COMMANDS[name], timeout=60)
    url = server.url.replace("http://", "ws://")
    stalled = StalledClient(server, "/ws/flood?name=stalled")
    sockets.callback(stalled.close)
    reader = Client(sockets, server, "flood", "reader")
    sender = _connect(sockets, f"{url}/ws/flood?name=sender")
    text = "x" * 1900
    sent = received = 0
    kicked = False
    deadline = time.monotonic() + 60
    while not kicked and time.monotonic() < deadline and sent < 20_000:
        for _ in range(50):
            sender.send(f"{sent} {text}")
            sent += 1
        while received < sent:  # the reader gets everything sent so far, in order
            event = reader.receive()
            if event["type"] == "leave" and event["user"] == "stalled":
                kicked = True
            if event["type"] == "message":
                assert event["text"] == f"{received} {text}"
                received += 1
        while True:  # the sender reads its own echoes too, so only "stalled" lags
            try:
                sender.recv(timeout=0)
            except TimeoutError:
                break
    assert kicked, f"the stalled client was not disconnected after {sent} messages"
    reader.ws.send("still flowing")
    while reader.receive().get("text") != "still flowing":
        pass
    # The stalled client, reading at last, finds its backlog, then the server's close.
    assert stalled.read_until_closed() == (1013, "too slow: messages were dropped, reconnect")
    for ws in (sender, reader.ws):
        ws.close()
    _stop_cleanly(server)
