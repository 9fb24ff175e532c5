"""What the built-in middleware cost: the hello scenario with and without them, both protocols.

    python -m benchmarks.middleware              # about half a minute
    python -m benchmarks.middleware --rounds 20  # quicker, noisier

Every app answers ``GET /`` with ``Hello, World!`` (a sync handler for WSGI, an
async one for ASGI, as in ``benchmarks.inprocess``); the request carries the
benchmark's usual client headers (``Accept-Encoding: gzip`` among them) and, for
the ``+origin`` rows, an ``Origin`` that CORS allows. Timing is interleaved and
reports the minimum per request, as in ``benchmarks.inprocess``. A last pair of
rows times a 20 KB JSON answer (encoded once) without and with GZip (which
compresses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twinframe import App, Request, Response
from twinframe.middleware import CORS, GZip, RequestID, Sessions

from .drivers import ASGIDriver, WSGIDriver, close_loop
from .scenarios import SCENARIOS, Scenario

ORIGIN = "https://app.example.com"
# Encoded once: the 20 KB rows time compression, not json.dumps.
BIG = json.dumps(
    {"items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(400)]}
)
BIG_BODY = BIG.encode()


def _variants() -> dict[str, Callable[[], list[Any]]]:
    return {
        "none": lambda: [],
        "CORS": lambda: [CORS(allow_origins=[ORIGIN])],
        "GZip": lambda: [GZip()],
        "RequestID": lambda: [RequestID()],
        "Sessions (unread)": lambda: [Sessions("k" * 32)],
        "CORS+GZip+RequestID": lambda: [CORS(allow_origins=[ORIGIN]), GZip(), RequestID()],
    }


def build(middleware: list[Any], async_handlers: bool) -> App:
    app = App(middleware=middleware)

    if async_handlers:

        @app.get("/")
        async def hello(req: Request) -> str:
            return "Hello, World!"

        @app.get("/big")
        async def big(req: Request) -> Response:
            return Response(BIG_BODY, content_type="application/json")

    else:

        @app.get("/")
        def hello(req: Request) -> str:
            return "Hello, World!"

        @app.get("/big")
        def big(req: Request) -> Response:
            return Response(BIG_BODY, content_type="application/json")

    return app


@dataclass
class Row:
    label: str
    protocol: str
    run: Callable[[int], float]
    count: int = 1
    samples: list[float] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--batch", type=float, default=0.003, help="seconds per batch")
    args = parser.parse_args()

    hello = next(s for s in SCENARIOS if s.name == "hello")
    with_origin = Scenario("hello+origin", "", "GET", "/", headers=[("origin", ORIGIN)])
    big = Scenario("big", "", "GET", "/big")
    loop = asyncio.new_event_loop()
    rows: list[Row] = []
    for protocol in ("wsgi", "asgi"):
        for label, make in _variants().items():
            for scenario in (hello, with_origin) if "CORS" in label else (hello,):
                app = build(make(), async_handlers=protocol == "asgi")
                driver = _driver(app, protocol, scenario, loop)
                status, headers, body = driver.once()
                assert status == 200 and body == b"Hello, World!", (label, status, body)
                suffix = " +origin" if scenario is with_origin else ""
                rows.append(Row(label + suffix, protocol, driver.timed))
        for label, make in (("20 KB JSON", lambda: []), ("20 KB JSON, GZip", lambda: [GZip()])):
            driver = _driver(build(make(), protocol == "asgi"), protocol, big, loop)
            status, headers, body = driver.once()
            assert status == 200 and len(body) > 1000, (status, len(body))
            assert ("content-encoding" in headers) is label.endswith("GZip"), headers
            rows.append(Row(label, protocol, driver.timed))

    for row in rows:  # calibrate
        row.run(50)
        per_request = min(row.run(50) / 50 for _ in range(3))
        row.count = max(20, int(args.batch / per_request))
    order = list(rows)
    rng = random.Random(0)
    for _ in range(args.rounds):
        rng.shuffle(order)
        for row in order:
            row.samples.append(row.run(row.count) / row.count)

    for protocol in ("wsgi", "asgi"):
        base = next(r for r in rows if r.protocol == protocol and r.label == "none")
        big_base = next(r for r in rows if r.protocol == protocol and r.label == "20 KB JSON")
        print(f"\n{protocol}: hello, minimum of {args.rounds} rounds")
        print("| middleware | µs per request | added |")
        print("|---|---|---|")
        for row in (r for r in rows if r.protocol == protocol):
            reference = big_base if row.label.startswith("20 KB") else base
            best, ref = min(row.samples) * 1e6, min(reference.samples) * 1e6
            added = "" if row is reference else f"+{best - ref:.2f} µs ({best / ref:.2f}x)"
            print(f"| {row.label} | {best:.2f} | {added} |")
    close_loop(loop)


def _driver(
    app: App, protocol: str, scenario: Scenario, loop: asyncio.AbstractEventLoop
) -> WSGIDriver | ASGIDriver:
    if protocol == "wsgi":
        return WSGIDriver(app.wsgi, scenario)
    return ASGIDriver(app.asgi, scenario, loop)


if __name__ == "__main__":
    main()
