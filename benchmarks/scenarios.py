"""The five benchmark scenarios: the request each one sends and the answer it must get.

Every implementation (twinframe, the bare callables, Falcon, Starlette, Bottle)
serves the same routes:

- ``GET /``                         -> ``Hello, World!`` (text/plain)
- ``GET /users/{id:int}``           -> ``{"id": 42}``, registered last among 100
  dynamic routes ``/r0/{id}`` ... ``/r98/{id}``, ``/users/{id}``
- ``POST /echo`` (JSON body)        -> the parsed body, serialised again
- ``GET /search?q=..&tag=..&tag=..&limit=..`` -> ``{"q", "tags", "limit"}``
- ``GET /no/such/page`` with a browser ``Accept`` -> 404
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DYNAMIC_ROUTES = 100
ECHO_BODY = json.dumps(
    {"name": "twinframe", "version": 1, "tags": ["wsgi", "asgi"], "nested": {"ok": True, "n": 3.5}}
).encode()
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
# Headers a typical client sends with every request.
COMMON_HEADERS = [
    ("host", "127.0.0.1:8000"),
    ("user-agent", "bench/1.0"),
    ("accept-encoding", "gzip, deflate"),
    ("connection", "keep-alive"),
]


def dynamic_patterns(count: int) -> list[str]:
    """Route prefixes for ``count`` dynamic routes, the ``users`` one registered last."""
    return [f"r{i}" for i in range(count - 1)] + ["users"]


@dataclass(frozen=True)
class Scenario:
    """One request and the check its response must pass."""

    name: str
    title: str
    method: str
    path: str
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    check: Callable[[int, dict[str, str], bytes], str | None] = lambda s, h, b: None

    def all_headers(self) -> list[tuple[str, str]]:
        """The request headers, common ones first (lower-case names)."""
        extra = list(self.headers)
        if self.body:
            extra.append(("content-length", str(len(self.body))))
        return COMMON_HEADERS + extra


def _expect(status: int, content_type: str | None, body: Callable[[bytes], bool]) -> Any:
    def check(got_status: int, headers: dict[str, str], got_body: bytes) -> str | None:
        if got_status != status:
            return f"status {got_status}, expected {status}"
        got_type = headers.get("content-type", "")
        if content_type is not None and not got_type.startswith(content_type):
            return f"content-type {got_type!r}, expected {content_type!r}"
        length = headers.get("content-length")
        if length is not None and int(length) != len(got_body):
            return f"content-length {length} but {len(got_body)} body bytes"
        if not body(got_body):
            return f"unexpected body {got_body[:200]!r}"
        return None

    return check


def _json_equals(expected: Any) -> Callable[[bytes], bool]:
    return lambda body: json.loads(body) == expected


SCENARIOS = [
    Scenario(
        "hello",
        'GET / -> "Hello, World!"',
        "GET",
        "/",
        headers=[("accept", "*/*")],
        check=_expect(200, "text/plain", lambda b: b == b"Hello, World!"),
    ),
    Scenario(
        "dynamic",
        f"GET /users/42 among {DYNAMIC_ROUTES} dynamic routes -> JSON",
        "GET",
        "/users/42",
        headers=[("accept", "application/json")],
        check=_expect(200, "application/json", _json_equals({"id": 42})),
    ),
    Scenario(
        "echo",
        "POST small JSON, echo parsed body",
        "POST",
        "/echo",
        headers=[("accept", "application/json"), ("content-type", "application/json")],
        body=ECHO_BODY,
        check=_expect(200, "application/json", _json_equals(json.loads(ECHO_BODY))),
    ),
    Scenario(
        "query",
        "GET with 4 query params (one repeated) -> JSON",
        "GET",
        "/search",
        query="q=hello%20world&tag=web&tag=fast&limit=10",
        headers=[("accept", "application/json")],
        check=_expect(
            200,
            "application/json",
            _json_equals({"q": "hello world", "tags": ["web", "fast"], "limit": 10}),
        ),
    ),
    Scenario(
        "notfound",
        "404 for an unknown path (browser Accept)",
        "GET",
        "/no/such/page",
        headers=[("accept", BROWSER_ACCEPT)],
        check=_expect(404, None, lambda b: len(b) > 0),
    ),
]

SCENARIO_NAMES = [s.name for s in SCENARIOS]
