"""Server-sent events: the ``Event`` type, the ``text/event-stream`` format, and the stream.

The format (WHATWG HTML, "Server-sent events"): an event is a block of
``field: value`` lines ended by a blank line; ``data`` may repeat (the browser
joins the lines with ``\\n``), a line starting with ``:`` is a comment the
browser ignores. ``EventStream`` turns a handler's iterable of events into the
body the protocol adapters send, one chunk per event, with a keep-alive comment
when the producer has been silent for ``ping`` seconds. It is an async iterable,
so both adapters send it the way they send any async stream: each chunk as soon
as it is produced (one ASGI message, one item of the WSGI iterable).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .closing import aclose_if_closable
from .concurrency import iterate_in_thread

EVENT_STREAM = "text/event-stream; charset=utf-8"
PING = b": ping\n\n"
"""The keep-alive comment sent after ``ping`` seconds without an event."""

EventSource = Iterable[Any] | AsyncIterable[Any]
"""What ``Response.sse`` takes: a sync or async iterable of ``Event``, str, dict or list."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class Event:
    """One server-sent event.

    ``data`` is sent as text: a ``str`` as it is (several lines become several
    ``data:`` lines, joined back by the browser), anything else as JSON, None
    for no data (a comment- or retry-only message). ``event`` names the event
    (``addEventListener(name)`` in the browser; ``message`` when None), ``id``
    becomes the browser's ``Last-Event-ID`` on reconnection, ``retry`` sets its
    reconnection delay in milliseconds, ``comment`` adds ``:`` lines browsers ignore.
    ``event`` and ``id`` may not contain CR, LF or NUL (no event injection).
    """

    data: Any = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        for name in ("event", "id"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise TypeError(f"Event {name} must be str, not {type(value).__name__}")
            if _FORBIDDEN_IN_FIELD.search(value):
                raise ValueError(f"Event {name} {value!r} contains CR, LF or NUL")
        retry = self.retry
        if retry is not None and (
            not isinstance(retry, int) or isinstance(retry, bool) or retry < 0
        ):
            raise ValueError(f"Event retry must be a non-negative int (ms), not {retry!r}")

    def encode(self) -> bytes:
        """The event in ``text/event-stream`` form, ending with its blank line."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(": " + line for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append("event: " + self.event)
        if self.id is not None:
            lines.append("id: " + self.id)
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        data = self.data
        if data is not None:
            text = data if isinstance(data, str) else _encode_json(data)
            lines.extend("data: " + line for line in _LINE_BREAK.split(text))
        lines.append("\n")
        return "\n".join(lines).encode("utf-8")


def encode_event(item: Any) -> bytes:
    """One item of an event source as bytes: an ``Event``, a ``str`` (data) or JSON data."""
    if isinstance(item, Event):
        return item.encode()
    if isinstance(item, (str, dict, list)):
        return Event(item).encode()
    raise TypeError(
        f"an event stream yielded {type(item).__name__}; yield an Event, a str, a dict or a list"
    )


def parse_events(lines: Iterable[str], *, comments: bool = False) -> Iterator[Event]:
    """The events in ``text/event-stream`` lines (line breaks removed), as a browser reads them.

    Blocks without data are skipped as a browser skips them, unless ``comments``
    is true and they carry a comment (pings are such blocks).
    """
    data: list[str] = []
    event = event_id = comment = None
    retry: int | None = None
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if not name:
                comment = value if comment is None else comment + "\n" + value
            elif name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id" and "\x00" not in value:
                event_id = value
            elif name == "retry" and value.isdigit():
                retry = int(value)
            continue
        if data or (comments and comment is not None):
            yield Event("\n".join(data) if data else None, event, event_id, retry, comment)
        data = []
        event = event_id = comment = None
        retry = None


class EventStream:
    """The body of ``Response.sse``: encoded events, pings between them, one chunk each.

    An async producer runs on the event loop (the server's under ASGI, the
    worker thread's under WSGI); a sync one runs in a thread of its own, so it
    may block (``time.sleep``, a blocking queue or socket) while the loop sends
    pings. Closing the stream (the client left) stops the producer: an async one
    at once (cancelled where it waits), a sync one when its current step returns.
    """

    def __init__(self, events: EventSource, ping: float | None, retry: int | None) -> None:
        if ping is not None and ping <= 0:
            raise ValueError(f"ping must be a positive number of seconds or None, not {ping!r}")
        self.events = events
        self.ping = ping
        self.retry = Event(retry=retry).retry  # validated as Event validates it
        self._started = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._started = True
        events = self.events
        source: AsyncIterator[Any] = (
            events.__aiter__()
            if isinstance(events, AsyncIterable)
            else iterate_in_thread(iter(events))
        )
        return self._chunks(source)

    async def _chunks(self, source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
        ping = self.ping
        pending: asyncio.Future[Any] | None = None
        try:
            # The first chunk goes out at once, so the client gets the headers
            # (WSGI servers send them with the first chunk) and knows it is connected.
            if self.retry is not None:
                yield Event(retry=self.retry).encode()
            elif ping is not None:
                yield PING
            if ping is None:
                async for item in source:
                    yield encode_event(item)
                return
            while True:
                # PERF: the producer's next step as a task, waited on with a timeout:
                # the pings need no timer task or thread of their own.
                if pending is None:
                    pending = asyncio.ensure_future(source.__anext__())
                done, _ = await asyncio.wait((pending,), timeout=ping)
                if not done:
                    yield PING
                    continue
                step, pending = pending, None
                try:
                    item = step.result()
                except StopAsyncIteration:
                    return
                yield encode_event(item)
        finally:
            if pending is not None:
                # The consumer stopped (client gone): stop the producer where it waits.
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            await aclose_if_closable(source)

    async def aclose(self) -> None:
        """Close a producer that was never iterated (HEAD, an invalid response)."""
        if self._started:
            return  # the iterator owns the producer and closes it
        self._started = True
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            await aclose()
        else:
            _close_sync(self.events)

    def close(self) -> None:
        """Close a sync producer that was never iterated."""
        if not self._started:
            self._started = True
            _close_sync(self.events)


def _close_sync(events: Any) -> None:
    close = getattr(events, "close", None)
    if close is not None and not hasattr(events, "aclose"):
        close()
