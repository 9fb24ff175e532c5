"""Call WSGI and ASGI apps in-process the way a server would, without a network.

A driver prepares the requests once (environs or scopes: one, or one per path
of a varied scenario), then each call hands the app a fresh copy (and a fresh
body stream), as a server does per request, cycling through the varied paths.
The ASGI driver runs a whole batch inside one coroutine on one event loop, so
the timing holds the app's own work plus a minimal ``receive``/``send``.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from collections.abc import Callable
from itertools import cycle, islice
from typing import Any

from .scenarios import Scenario

WSGIApp = Callable[..., Any]
ASGIApp = Callable[..., Any]
Result = tuple[int, dict[str, str], bytes]
Check = Callable[[int, dict[str, str], bytes], "str | None"]
# How many of a varied scenario's paths once_all() checks (evenly spread, ends included).
CHECKED_VARIANTS = 8


def _sample(count: int) -> list[int]:
    if count <= CHECKED_VARIANTS:
        return list(range(count))
    step = (count - 1) / (CHECKED_VARIANTS - 1)
    return sorted({round(i * step) for i in range(CHECKED_VARIANTS)})


def _rotated(items: list[dict[str, Any]], first: int) -> list[dict[str, Any]]:
    first %= len(items)
    return items[first:] + items[:first] if first else items


def make_environ(scenario: Scenario, path: str | None = None) -> dict[str, Any]:
    """The WSGI environ a server would build for ``scenario`` (without ``wsgi.input``)."""
    path = scenario.path if path is None else path
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scenario.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": scenario.query,
        # gunicorn also passes the request target as sent.
        "RAW_URI": path + ("?" + scenario.query if scenario.query else ""),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # as gunicorn sets it
    }
    for name, value in scenario.all_headers():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = value
    return environ


def make_scope(scenario: Scenario, path: str | None = None) -> dict[str, Any]:
    """The ASGI HTTP scope a server would build for ``scenario``."""
    path = scenario.path if path is None else path
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": scenario.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": scenario.query.encode(),
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in scenario.all_headers()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


class WSGIDriver:
    """Calls a WSGI app with ``scenario``'s request."""

    def __init__(self, app: WSGIApp, scenario: Scenario) -> None:
        self.app = app
        self.scenario = scenario
        self.variants = scenario.variants()
        self.environs = [make_environ(scenario, path) for path, _ in self.variants]
        self.environ = make_environ(scenario)  # once(): the scenario's own path
        self.body = scenario.body

    def check(self) -> str | None:
        """Send a spread sample of the scenario's requests; the first wrong answer, or None."""
        for index in _sample(len(self.variants)):
            self.environ = self.environs[index]
            problem = self.variants[index][1](*self.once())
            if problem:
                return f"{self.variants[index][0]}: {problem}"
        self.environ = make_environ(self.scenario)
        return None

    def once(self) -> Result:
        """One request; returns (status, headers, body) for the correctness check."""
        started: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = {k.lower(): v for k, v in headers}
            return None

        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(self.body)
        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return started["status"], started["headers"], body

    def timed(self, count: int, first: int = 0) -> float:
        """Seconds taken by ``count`` requests, the body fully consumed each time.

        ``first``: the index (modulo their number) of the varied path to begin with.
        """
        app = self.app
        payload = self.body
        BytesIO = io.BytesIO

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> None:
            return None

        # Each batch starts where the cycle starts: every implementation gets the same paths.
        bases = islice(cycle(_rotated(self.environs, first)), count)
        start = time.perf_counter()
        for base in bases:
            environ = dict(base)
            environ["wsgi.input"] = BytesIO(payload)
            result = app(environ, start_response)
            for _chunk in result:
                pass
            if hasattr(result, "close"):
                result.close()
        return time.perf_counter() - start


class _Receive:
    """The request body as a single ``http.request`` message, then ``http.disconnect``."""

    __slots__ = ("message",)

    def __init__(self, body: bytes) -> None:
        self.message: dict[str, Any] | None = {
            "type": "http.request",
            "body": body,
            "more_body": False,
        }

    async def __call__(self) -> dict[str, Any]:
        message = self.message
        if message is None:
            return {"type": "http.disconnect"}
        self.message = None
        return message


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on ``loop``, let it finish, then close it (as asyncio.run does).

    An app started lazily (no lifespan events, as these drivers send none) keeps a
    task watching the loop so that its shutdown runs when the loop ends.
    """
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


async def _discard(message: Any) -> None:
    return None


class ASGIDriver:
    """Calls an ASGI app with ``scenario``'s request, on one event loop."""

    def __init__(self, app: ASGIApp, scenario: Scenario, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.scenario = scenario
        self.variants = scenario.variants()
        self.scopes = [make_scope(scenario, path) for path, _ in self.variants]
        self.scope = make_scope(scenario)  # once(): the scenario's own path
        self.body = scenario.body
        self.loop = loop

    def check(self) -> str | None:
        """Send a spread sample of the scenario's requests; the first wrong answer, or None."""
        for index in _sample(len(self.variants)):
            self.scope = self.scopes[index]
            problem = self.variants[index][1](*self.once())
            if problem:
                return f"{self.variants[index][0]}: {problem}"
        self.scope = make_scope(self.scenario)
        return None

    def once(self) -> Result:
        """One request; returns (status, headers, body) for the correctness check."""
        messages: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = dict(self.scope)
        self.loop.run_until_complete(self.app(scope, _Receive(self.body), send))
        start = messages[0]
        assert start["type"] == "http.response.start", start
        headers = {
            bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1")
            for k, v in start["headers"]
        }
        body = b"".join(m.get("body", b"") for m in messages[1:])
        assert not messages[-1].get("more_body", False), "the response never finished"
        return start["status"], headers, body

    def timed(self, count: int, first: int = 0) -> float:
        """Seconds taken by ``count`` requests, measured inside one coroutine (``first``:
        as for ``WSGIDriver.timed``)."""
        return self.loop.run_until_complete(self._timed(count, first))

    async def _timed(self, count: int, first: int) -> float:
        app = self.app
        payload = self.body
        bases = islice(cycle(_rotated(self.scopes, first)), count)
        start = time.perf_counter()
        for base in bases:
            await app(dict(base), _Receive(payload), _discard)
        return time.perf_counter() - start
