"""The benchmark scenarios: the request each one sends and the answer it must get.

Every implementation (twinframe, the bare callables, Falcon, Starlette, Bottle,
BlackSheep) serves the same routes:

- ``GET /``                         -> ``Hello, World!`` (text/plain)
- ``GET /users/{id:int}``           -> ``{"id": N}``, registered last among 100
  dynamic routes ``/r0/{id}`` ... ``/r98/{id}``, ``/users/{id}``; N varies over
  ``VARIANTS`` values, so a per-path match cache (BlackSheep keeps one of 1,200
  entries) is defeated as a real workload's many URLs would defeat it
- ``POST /echo`` (JSON body)        -> the parsed body, serialised again
- ``GET /search?q=..&tag=..&tag=..&limit=..`` -> ``{"q", "tags", "limit"}``
- ``GET /no/such/pageN`` with a browser ``Accept`` -> 404 (N varied likewise)
- ``POST /form`` (urlencoded, six fields) -> the fields as a JSON object
- ``POST /upload`` (multipart: one field, one 2 KiB file) -> ``{"title", "filename", "size"}``
- ``GET /cookies`` with ten cookies -> ``{"count", "session", "theme"}``
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

DYNAMIC_ROUTES = 100
# Distinct path values the varied scenarios cycle through: more than BlackSheep's
# route-match cache holds (an LRU of 1,200), so a repeated URL flatters nobody.
VARIANTS = 4096
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
    # For a varied scenario: the n-th path and the check of its answer.
    vary: Callable[[int], tuple[str, Callable[[int, dict[str, str], bytes], str | None]]] | None = (
        None
    )

    def variants(self) -> list[tuple[str, Callable[[int, dict[str, str], bytes], str | None]]]:
        """Every (path, check) the scenario sends: one, or ``VARIANTS`` for a varied one."""
        if self.vary is None:
            return [(self.path, self.check)]
        return [self.vary(n) for n in range(VARIANTS)]

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


def _user(n: int) -> tuple[str, Callable[[int, dict[str, str], bytes], str | None]]:
    ident = n * 7919 % 100_000  # spread over five digits, all distinct
    return f"/users/{ident}", _expect(200, "application/json", _json_equals({"id": ident}))


def _missing(n: int) -> tuple[str, Callable[[int, dict[str, str], bytes], str | None]]:
    return f"/no/such/page{n}", _expect(404, None, lambda b: len(b) > 0)


FORM_FIELDS = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "age": "36",
    "city": "London",
    "lang": "en-GB",
    "agree": "on",
}
FORM_BODY = urlencode(FORM_FIELDS).encode()
UPLOAD_BOUNDARY = "----benchboundary7MA4YWxkTrZu0gW"
UPLOAD_FILE = bytes(range(256)) * 8  # 2 KiB, every byte value
UPLOAD_BODY = (
    (
        f"--{UPLOAD_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="title"\r\n\r\n'
        "quarterly report\r\n"
        f"--{UPLOAD_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="report.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    + UPLOAD_FILE
    + f"\r\n--{UPLOAD_BOUNDARY}--\r\n".encode()
)
# Ten cookies, as a browser sends them to a site with analytics, a session and preferences.
COOKIES = {
    "_ga": "GA1.2.1234567890.1700000000",
    "_gid": "GA1.2.987654321.1700000000",
    "sessionid": "8f14e45fceea167a5a36dedd4bea2543",
    "csrftoken": "Yk3vQ9pLr2TxW8mN4bZc7HdJ",
    "theme": "dark",
    "lang": "en-US",
    "cart": "12-34-56",
    "tz": "Europe/Paris",
    "seen": "1700000000",
    "ab": "variant-b",
}
COOKIE_HEADER = "; ".join(f"{k}={v}" for k, v in COOKIES.items())


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
        f"GET /users/N ({VARIANTS} values of N) among {DYNAMIC_ROUTES} dynamic routes -> JSON",
        "GET",
        "/users/42",
        headers=[("accept", "application/json")],
        check=_expect(200, "application/json", _json_equals({"id": 42})),
        vary=_user,
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
        f"404 for unknown paths ({VARIANTS} of them, browser Accept)",
        "GET",
        "/no/such/page",
        headers=[("accept", BROWSER_ACCEPT)],
        check=_expect(404, None, lambda b: len(b) > 0),
        vary=_missing,
    ),
    Scenario(
        "form",
        "POST an urlencoded form of six fields -> JSON",
        "POST",
        "/form",
        headers=[
            ("accept", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body=FORM_BODY,
        check=_expect(200, "application/json", _json_equals(FORM_FIELDS)),
    ),
    Scenario(
        "upload",
        "POST multipart: one field and a 2 KiB file -> JSON",
        "POST",
        "/upload",
        headers=[
            ("accept", "application/json"),
            ("content-type", f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"),
        ],
        body=UPLOAD_BODY,
        check=_expect(
            200,
            "application/json",
            _json_equals({"title": "quarterly report", "filename": "report.bin", "size": 2048}),
        ),
    ),
    Scenario(
        "cookies",
        "GET with a ten-cookie Cookie header -> JSON",
        "GET",
        "/cookies",
        headers=[("accept", "application/json"), ("cookie", COOKIE_HEADER)],
        check=_expect(
            200,
            "application/json",
            _json_equals({"count": 10, "session": COOKIES["sessionid"], "theme": "dark"}),
        ),
    ),
]

SCENARIO_NAMES = [s.name for s in SCENARIOS]


def select(names: str | None) -> list[Scenario]:
    """The scenarios a comma-separated ``--scenarios`` value names, in their usual
    order (all of them for None); ValueError naming the choices for an unknown one."""
    if not names:
        return SCENARIOS
    wanted = names.split(",")
    chosen = [s for s in SCENARIOS if s.name in wanted]
    if len(chosen) != len(wanted):
        raise ValueError(f"scenarios are among: {', '.join(s.name for s in SCENARIOS)}")
    return chosen
