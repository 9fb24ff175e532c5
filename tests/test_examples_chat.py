"""examples/chat.py through the TestClient (HTTP on both entrypoints, websockets on ASGI),
and its brokers on their own (the Redis one against a real redis-server)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from system_programs import RedisServer, run_redis_server

from examples import chat
from examples.chat_broker import Broker, Hub, MemoryBroker, RedisBroker
from twinframe import App
from twinframe.testing import TestClient, WebSocketRejected, WebSocketTestSession
from twinframe.websocket import WebSocketDisconnect


@pytest.fixture
def client(make_client: Callable[[App], TestClient]) -> Iterator[TestClient]:
    with make_client(chat.app) as client:  # runs the startup hook: a fresh in-memory broker
        yield client


@pytest.fixture
def asgi_client() -> Iterator[TestClient]:
    with TestClient(chat.app, "asgi") as client:
        yield client


def _join(client: TestClient, room: str, name: str) -> WebSocketTestSession:
    session = client.websocket_connect(f"/ws/{room}?name={name}")
    history = session.receive_json()
    assert history["type"] == "history"
    assert session.receive_json() | {"ts": 0} == {
        "type": "join",
        "room": room,
        "user": name,
        "ts": 0,
    }
    return session


# -- HTTP, both entrypoints -------------------------------------------------------------


def test_page_and_static(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="/static/chat.js" defer></script>' in page.text
    script = client.get("/static/chat.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert client.get("/static/%2e%2e/chat.py").status_code in (400, 404)


def test_http_routes_with_no_one_there(client: TestClient) -> None:
    assert client.get("/rooms").json() == {"rooms": []}
    assert client.get("/rooms/lobby/messages").json() == []
    assert client.get("/rooms/bad%20room/messages").status_code == 404


def test_websocket_path_over_plain_http_is_426(client: TestClient) -> None:
    response = client.get("/ws/lobby?name=alice")
    assert response.status_code == 426
    assert response.headers["content-type"] == "application/problem+json"


# -- websockets (ASGI) ------------------------------------------------------------------


def test_broadcast_isolation_history_and_rooms(asgi_client: TestClient) -> None:
    with _join(asgi_client, "a", "alice") as alice, _join(asgi_client, "a", "bob") as bob:
        assert alice.receive_json()["user"] == "bob"  # bob's join
        with _join(asgi_client, "b", "carol") as carol:
            alice.send_text("hi all")
            for session in (alice, bob):
                event = session.receive_json()
                assert event == {
                    "type": "message",
                    "room": "a",
                    "user": "alice",
                    "text": "hi all",
                    "ts": event["ts"],
                }
            carol.send_text("only b")
            assert carol.receive_json()["text"] == "only b"  # nothing from room a came first
            assert asgi_client.get("/rooms").json() == {
                "rooms": [{"room": "a", "members": 2}, {"room": "b", "members": 1}]
            }
            bob.send_text("   ")  # blank messages are dropped
            bob.send_text("second")
            assert alice.receive_json()["text"] == "second"
        history = asgi_client.get("/rooms/a/messages").json()
        assert [(m["user"], m["text"]) for m in history] == [("alice", "hi all"), ("bob", "second")]
        bob.close()
        leave = alice.receive_json()
        assert (leave["type"], leave["user"]) == ("leave", "bob")
        with asgi_client.websocket_connect("/ws/a?name=dave") as dave:
            assert dave.receive_json() == {"type": "history", "room": "a", "messages": history}
    assert asgi_client.get("/rooms").json() == {"rooms": []}


@pytest.mark.parametrize("query", ["", "?name=", "?name=%20", "?other=x", "?name=" + "n" * 33])
def test_handshake_without_a_proper_name_is_refused(asgi_client: TestClient, query: str) -> None:
    with pytest.raises(WebSocketRejected) as refused:
        asgi_client.websocket_connect(f"/ws/lobby{query}")
    assert refused.value.status == 400
    assert b"pick a name" in refused.value.body
    assert asgi_client.get("/rooms").json() == {"rooms": []}


def test_bad_room_name_is_refused(asgi_client: TestClient) -> None:
    with pytest.raises(WebSocketRejected) as refused:
        asgi_client.websocket_connect("/ws/no%20spaces?name=alice")
    assert refused.value.status == 404


def test_too_long_message_closes_with_1009(asgi_client: TestClient) -> None:
    with _join(asgi_client, "a", "alice") as alice:
        alice.send_text("x" * (chat.MAX_TEXT + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            alice.receive_json()
        assert closed.value.code == 1009
    assert asgi_client.get("/rooms/a/messages").json() == []


def test_binary_frame_closes_with_1003(asgi_client: TestClient) -> None:
    with _join(asgi_client, "a", "alice") as alice:
        alice.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            alice.receive_json()
        assert closed.value.code == 1003


def test_history_keeps_the_last_50(asgi_client: TestClient) -> None:
    with _join(asgi_client, "a", "alice") as alice:
        for i in range(60):
            alice.send_text(f"m{i}")
        for i in range(60):
            assert alice.receive_json()["text"] == f"m{i}"
    history = asgi_client.get("/rooms/a/messages").json()
    assert [m["text"] for m in history] == [f"m{i}" for i in range(10, 60)]


# -- brokers on their own ---------------------------------------------------------------


def test_full_queue_kicks_only_that_member() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=3)
        slow, fast, elsewhere = hub.add("r", "slow"), hub.add("r", "fast"), hub.add("s", "x")
        for i in range(4):
            hub.deliver({"room": "r", "n": i})
            await asyncio.sleep(0)
            while not fast.queue.empty():  # fast keeps up
                fast.queue.get_nowait()
        assert slow.kicked.is_set() and not fast.kicked.is_set()
        assert slow.queue.qsize() == 3  # nothing more is queued for a kicked member
        assert elsewhere.queue.empty() and not elsewhere.kicked.is_set()

    asyncio.run(scenario())


async def _exercise(broker: Broker) -> None:
    """The same checks for both brokers: join/leave events, history, counts."""
    alice = await broker.join("r", "alice")
    bob = await broker.join("r", "bob")
    other = await broker.join("elsewhere", "eve")

    async def next_event(member: Any) -> dict[str, Any]:
        event: dict[str, Any] = await asyncio.wait_for(member.queue.get(), 5)
        return event

    assert (await next_event(alice))["type"] == "join"
    assert (await next_event(alice))["user"] == "bob"
    await broker.say("r", "bob", "hello")
    for member in (alice, bob):
        event = await next_event(member)
        if event["type"] == "join":
            event = await next_event(member)
        assert (event["type"], event["user"], event["text"]) == ("message", "bob", "hello")
    assert (await next_event(other))["type"] == "join"
    assert other.queue.empty()
    assert await broker.rooms() == {"r": 2, "elsewhere": 1}
    for i in range(55):
        await broker.say("r", "alice", str(i))
    history = await broker.history("r")
    assert [m["text"] for m in history] == [str(i) for i in range(5, 55)]
    await broker.leave(bob)
    assert await broker.rooms() == {"r": 1, "elsewhere": 1}
    await broker.leave(alice)
    await broker.leave(other)
    assert await broker.rooms() == {}
    assert await broker.history("empty") == []


def test_memory_broker() -> None:
    async def scenario() -> None:
        broker = MemoryBroker()
        await _exercise(broker)
        await broker.close()

    asyncio.run(scenario())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from run_redis_server(tmp_path)


def test_redis_broker(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        broker = await RedisBroker.connect(redis_server.url)
        await _exercise(broker)
        # A second process's view: the same history, the same counts.
        member = await broker.join("r", "zed")
        peer = await RedisBroker.connect(redis_server.url)
        assert await peer.history("r") == await broker.history("r")
        assert await peer.rooms() == {"r": 1}
        await broker.close()
        assert await peer.rooms() == {}  # a closed process's members stop counting
        del member
        await peer.close()

    asyncio.run(scenario())


def test_redis_broker_refuses_a_dead_url() -> None:
    from realserver import free_port
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def scenario() -> None:
        with pytest.raises(RedisConnectionError):
            await RedisBroker.connect(f"redis://127.0.0.1:{free_port()}/0")

    asyncio.run(scenario())


@pytest.mark.parametrize("path", ["/", "/static/chat.js", "/static/style.css"])
def test_the_page_and_its_assets_are_sent_compressed(client: TestClient, path: str) -> None:
    plain = client.get(path, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with client.stream("GET", path, headers={"accept-encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content)
