"""The chat's broker: room membership, the last messages of each room, and fan-out.

Two implementations with one interface:

- ``MemoryBroker``: everything in this process. Simple and fast, but each server
  process has its own rooms: run ONE worker process with it.
- ``RedisBroker``: rooms shared through Redis (pub/sub for fan-out, a capped list
  per room for history, a presence hash per process for member counts), so any
  number of worker processes, on any number of machines, serve the same rooms.

Delivery never waits for a client: each member has a bounded queue, and a member
whose queue is full is marked ``kicked`` (the connection handler then closes it
with 1013) instead of slowing down everyone else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from typing import Any
from weakref import WeakKeyDictionary

logger = logging.getLogger("examples.chat")

HISTORY_SIZE = 50
QUEUE_SIZE = 100  # events a member may fall behind before it is disconnected

Event = dict[str, Any]


class Member:
    """One connected client in one room, with its bounded queue of events to send."""

    def __init__(self, room: str, user: str, queue_size: int = QUEUE_SIZE) -> None:
        self.room = room
        self.user = user
        self.queue: asyncio.Queue[Event] = asyncio.Queue(queue_size)
        self.kicked = asyncio.Event()
        """Set when the member fell ``queue_size`` events behind: disconnect it."""

    def offer(self, event: Event) -> None:
        """Queue ``event`` without waiting; a full queue kicks the member instead."""
        if self.kicked.is_set():
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.kicked.set()


class Hub:
    """The members connected to this process, by room, and local delivery to them."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.rooms: dict[str, set[Member]] = {}

    def add(self, room: str, user: str) -> Member:
        member = Member(room, user, self.queue_size)
        self.rooms.setdefault(room, set()).add(member)
        return member

    def remove(self, member: Member) -> None:
        members = self.rooms.get(member.room)
        if members is not None:
            members.discard(member)
            if not members:
                del self.rooms[member.room]

    def deliver(self, event: Event) -> None:
        for member in list(self.rooms.get(event["room"], ())):
            member.offer(event)

    def counts(self) -> dict[str, int]:
        return {room: len(members) for room, members in self.rooms.items()}


def _event(kind: str, room: str, user: str, text: str | None = None) -> Event:
    event: Event = {"type": kind, "room": room, "user": user}
    if text is not None:
        event["text"] = text
    event["ts"] = round(time.time(), 3)
    return event


class Broker(ABC):
    """What the chat needs from a broker; ``join`` returns the Member to read events from."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.hub = Hub(queue_size)

    async def join(self, room: str, user: str) -> Member:
        """Add a member to ``room`` and announce it; the member receives every later event."""
        await self._started()
        member = self.hub.add(room, user)
        await self._presence_changed(room)
        await self._publish(_event("join", room, user), keep=False)
        return member

    async def leave(self, member: Member) -> None:
        """Remove a member and announce it."""
        self.hub.remove(member)
        await self._presence_changed(member.room)
        await self._publish(_event("leave", member.room, member.user), keep=False)

    async def say(self, room: str, user: str, text: str) -> None:
        """Broadcast a message to ``room`` and keep it in the room's history."""
        await self._publish(_event("message", room, user, text), keep=True)

    async def _started(self) -> None:  # noqa: B027 - an optional hook
        """Start background work on first use (the Redis listener)."""

    async def _presence_changed(self, room: str) -> None:  # noqa: B027 - an optional hook
        """Tell other processes this one's member count for ``room`` changed."""

    @abstractmethod
    async def _publish(self, event: Event, keep: bool) -> None:
        """Deliver ``event`` to every member of its room (in every process)."""

    @abstractmethod
    async def history(self, room: str) -> list[Event]:
        """The last messages of ``room``, oldest first."""

    @abstractmethod
    async def rooms(self) -> dict[str, int]:
        """Rooms that have members now, with their member counts."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and stop background tasks."""


class MemoryBroker(Broker):
    """Rooms held in this process only: one worker process, no persistence."""

    def __init__(self, history_size: int = HISTORY_SIZE, queue_size: int = QUEUE_SIZE) -> None:
        super().__init__(queue_size)
        self.history_size = history_size
        self._history: dict[str, deque[Event]] = {}

    async def _publish(self, event: Event, keep: bool) -> None:
        if keep:
            room = event["room"]
            if room not in self._history:
                self._history[room] = deque(maxlen=self.history_size)
            self._history[room].append(event)
        self.hub.deliver(event)

    async def history(self, room: str) -> list[Event]:
        return list(self._history.get(room, ()))

    async def rooms(self) -> dict[str, int]:
        return self.hub.counts()

    async def close(self) -> None:
        self._history.clear()


class RedisBroker(Broker):
    """Rooms shared through Redis by every process that uses the same Redis and prefix.

    Keys: ``<prefix>room:<room>`` (pub/sub channel), ``<prefix>history:<room>``
    (list capped at ``history_size``), ``<prefix>presence:<process id>`` (hash of
    room -> members here, expiring unless refreshed, so a crashed process's
    members stop counting after ``presence_ttl`` seconds).
    """

    def __init__(
        self,
        url: str,
        prefix: str = "chat:",
        history_size: int = HISTORY_SIZE,
        queue_size: int = QUEUE_SIZE,
        presence_ttl: int = 30,
    ) -> None:
        super().__init__(queue_size)
        self.url = url
        self.prefix = prefix
        self.history_size = history_size
        self.presence_ttl = presence_ttl
        self.process_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # redis.asyncio connections belong to the event loop that opened them. Under
        # ASGI there is one loop; under WSGI each worker thread has its own.
        self._clients: WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = WeakKeyDictionary()
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None
        self._subscribed: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RedisBroker:
        """Create the broker and check that Redis answers (so a bad URL fails startup)."""
        broker = cls(url, **options)
        await broker._client().ping()
        return broker

    def _client(self) -> Any:
        from redis.asyncio import Redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = Redis.from_url(self.url, decode_responses=True)
        return client

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def _started(self) -> None:
        # The first join subscribes; joins arriving meanwhile wait for the same task.
        if self._subscribed is None:
            self._subscribed = asyncio.create_task(self._subscribe())
        try:
            await asyncio.shield(self._subscribed)
        except Exception:
            self._subscribed = None  # let the next join try again
            raise

    async def _subscribe(self) -> None:
        self._pubsub = self._client().pubsub()
        await self._pubsub.psubscribe(self._key("room", "*"))
        # Wait for Redis to confirm: from then on every publish reaches this process.
        while True:
            message = await self._pubsub.get_message(timeout=10)
            if message is None:
                raise ConnectionError("Redis did not confirm the chat subscription")
            if message["type"] == "psubscribe":
                break
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._heartbeat())]

    async def _listen(self) -> None:
        channel_prefix = self._key("room", "")
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: redis-py reconnects and resubscribes
                logger.exception("chat: lost the Redis subscription, retrying")
                await asyncio.sleep(1)
                continue
            if message is None or message.get("type") != "pmessage":
                continue
            if not str(message["channel"]).startswith(channel_prefix):
                continue
            try:
                self.hub.deliver(json.loads(message["data"]))
            except (ValueError, KeyError, TypeError):
                logger.warning("chat: ignoring a malformed event on %s", message["channel"])

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            try:
                await self._write_presence()
            except Exception:
                logger.exception("chat: could not refresh presence in Redis")

    async def _write_presence(self) -> None:
        key = self._key("presence", self.process_id)
        counts = self.hub.counts()
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if counts:
                pipe.hset(key, mapping=counts)
                pipe.expire(key, self.presence_ttl)
            await pipe.execute()

    async def _presence_changed(self, room: str) -> None:
        await self._write_presence()

    async def _publish(self, event: Event, keep: bool) -> None:
        room = event["room"]
        data = json.dumps(event, separators=(",", ":"))
        # One transaction: a message is in the history exactly when it is published.
        async with self._client().pipeline(transaction=True) as pipe:
            if keep:
                history = self._key("history", room)
                pipe.rpush(history, data)
                pipe.ltrim(history, -self.history_size, -1)
            pipe.publish(self._key("room", room), data)
            await pipe.execute()

    async def history(self, room: str) -> list[Event]:
        items = await self._client().lrange(self._key("history", room), -self.history_size, -1)
        return [json.loads(item) for item in items]

    async def rooms(self) -> dict[str, int]:
        client = self._client()
        totals: dict[str, int] = {}
        async for key in client.scan_iter(match=self._key("presence", "*")):
            for room, count in (await client.hgetall(key)).items():
                totals[room] = totals.get(room, 0) + int(count)
        return {room: count for room, count in totals.items() if count > 0}

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await self._client().delete(self._key("presence", self.process_id))
        except Exception:
            logger.warning("chat: could not remove this process's presence from Redis")
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
