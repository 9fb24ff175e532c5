"""Mounted-app benchmark: twinframe mounting a bare callable vs the bare callable itself.

    python -m benchmarks.mounted               # timings (about half a minute)
    python -m benchmarks.mounted --smoke       # correctness checks and a token timing
    python -m benchmarks.mounted --bridges     # also: the bridge libraries' memory and streaming

The bare WSGI and ASGI callables of ``benchmarks.apps.bare`` are mounted at
``/`` in an otherwise empty twinframe App, which is served as ``app.wsgi`` and
``app.asgi``: the four pairings. Each row gives the time per request and its
ratio to the bare callable of the protocol the server speaks (what a request
costs more for going through twinframe). Where installed, the bridge libraries
a2wsgi and asgiref are timed on the cross-protocol pairings for comparison.
Timing is interleaved as in ``benchmarks.inprocess`` (minimum over rounds).

``--bridges`` checks what the issue asks of a bridge, on each library and on
twinframe: a 50 MB upload in 64 KiB messages (is the first chunk in the app's
hands before the last one is sent? peak memory?) and a 50 MB streamed download
(peak memory).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from .apps import bare
from .drivers import ASGIDriver, WSGIDriver, close_loop
from .inprocess import Target, calibrate, measure
from .scenarios import SCENARIOS

SCENARIO_NAMES = ("hello", "echo")
# (label, app protocol, server protocol)
PAIRINGS = [
    ("WSGI app under app.wsgi", "wsgi", "wsgi"),
    ("ASGI app under app.asgi", "asgi", "asgi"),
    ("WSGI app under app.asgi", "wsgi", "asgi"),
    ("ASGI app under app.wsgi", "asgi", "wsgi"),
]


def _bridges(inner: str, outer: str, app: Any) -> dict[str, Any]:
    """The library bridges for a cross-protocol pairing, those installed."""
    found: dict[str, Any] = {}
    if inner == outer:
        return found
    try:
        import a2wsgi

        found["a2wsgi"] = (
            a2wsgi.WSGIMiddleware(app) if inner == "wsgi" else a2wsgi.ASGIMiddleware(app)
        )
    except ImportError:
        pass
    if inner == "wsgi":
        try:
            from asgiref.wsgi import WsgiToAsgi

            found["asgiref"] = WsgiToAsgi(app)
        except ImportError:
            pass
    return found


def build(loop: asyncio.AbstractEventLoop) -> tuple[list[Target], list[str]]:
    """Every (pairing, implementation, scenario) to time, each checked once first."""
    from twinframe import App

    targets: list[Target] = []
    failures: list[str] = []
    for label, inner, outer in PAIRINGS:
        app = bare.build_wsgi() if inner == "wsgi" else bare.build_asgi()
        mounting = App()
        mounting.mount("/", app)
        served = mounting.wsgi if outer == "wsgi" else mounting.asgi
        reference = bare.build_wsgi() if outer == "wsgi" else bare.build_asgi()
        impls = {"bare": reference, "twinframe": served, **_bridges(inner, outer, app)}
        for impl, callable_ in impls.items():
            for scenario in SCENARIOS:
                if scenario.name not in SCENARIO_NAMES:
                    continue
                driver: WSGIDriver | ASGIDriver = (
                    WSGIDriver(callable_, scenario)
                    if outer == "wsgi"
                    else ASGIDriver(callable_, scenario, loop)
                )
                try:
                    status, headers, body = driver.once()
                    problem = scenario.check(status, headers, body)
                except Exception as exc:
                    problem = f"raised {exc!r}"
                if problem:
                    failures.append(f"{impl} {label} {scenario.name}: {problem}")
                    continue
                targets.append(Target(impl, label, scenario.name, driver.timed))
    return targets, failures


def rows(targets: list[Target]) -> list[dict[str, Any]]:
    """µs per request and the ratio to the bare callable of the server's protocol."""
    out = []
    for target in targets:
        bare_target = next(
            t
            for t in targets
            if t.impl == "bare" and t.protocol == target.protocol and t.scenario == target.scenario
        )
        out.append(
            {
                "impl": target.impl,
                "pairing": target.protocol,
                "scenario": target.scenario,
                "us": target.best * 1e6,
                "ratio": target.best / bare_target.best,
            }
        )
    return out


def format_rows(data: list[dict[str, Any]]) -> str:
    """A markdown table: one row per pairing and scenario, one column per implementation."""
    impls = ["bare", "twinframe", "a2wsgi", "asgiref"]
    impls = [i for i in impls if any(r["impl"] == i for r in data)]
    lines = [
        "| pairing | scenario | " + " | ".join(impls) + " |",
        "|---|---" + "|---" * len(impls) + "|",
    ]
    for label, _, _ in PAIRINGS:
        for scenario in SCENARIO_NAMES:
            cells = []
            for impl in impls:
                row = next(
                    (
                        r
                        for r in data
                        if (r["impl"], r["pairing"], r["scenario"]) == (impl, label, scenario)
                    ),
                    None,
                )
                if row is None:
                    cells.append("-")
                elif impl == "bare":
                    cells.append(f"{row['us']:.2f} µs")
                else:
                    cells.append(f"{row['us']:.2f} µs ({row['ratio']:.2f}x)")
            lines.append(f"| {label} | {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- what the bridges do with 50 MB -----------------------------------------------------

BIG = 50 * 1024 * 1024
PIECE = 65536


def _counting_wsgi(seen: dict[str, Any]) -> Callable[..., Iterator[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        stream = environ["wsgi.input"]
        if environ["REQUEST_METHOD"] == "POST":
            total = 0
            while chunk := stream.read(PIECE):
                if not total:
                    seen["first_at"] = seen["sent"]
                total += len(chunk)
            seen["total"] = total
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield str(total).encode()
            return
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        piece = b"d" * PIECE
        for _ in range(BIG // PIECE):
            yield piece

    return app


def _counting_asgi(seen: dict[str, Any]) -> Callable[..., Any]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan")
        start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x")]}
        if scope["method"] == "POST":
            total = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                if message.get("body") and not total:
                    seen["first_at"] = seen["sent"]
                total += len(message.get("body", b""))
                more = message.get("more_body", False)
            seen["total"] = total
            await send(start)
            await send({"type": "http.response.body", "body": str(total).encode()})
            return
        await send(start)
        piece = b"d" * PIECE
        for _ in range(BIG // PIECE):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def _via_asgi(app: Any, method: str, seen: dict[str, Any]) -> int:
    """Serve one request to an ASGI callable: upload BIG in pieces, or count the download."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/big",
        "raw_path": b"/big",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    received = 0
    pieces = BIG // PIECE if method == "POST" else 0
    ended = False

    async def receive() -> dict[str, Any]:
        nonlocal ended
        if not pieces and not ended:
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if seen["sent"] < pieces:
            seen["sent"] += 1
            await asyncio.sleep(0)  # as a socket would: the app gets a turn between pieces
            more = seen["sent"] < pieces
            return {"type": "http.request", "body": b"u" * PIECE, "more_body": more}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal received
        received += len(message.get("body", b""))

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 120))
    return received


def _via_wsgi(app: Any, method: str, seen: dict[str, Any]) -> int:
    pieces = BIG // PIECE

    class Input:
        def read(self, size: int = -1) -> bytes:
            if seen["sent"] >= pieces:
                return b""
            seen["sent"] += 1
            return b"u" * PIECE

    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/big",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(BIG) if method == "POST" else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": Input() if method == "POST" else io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    result = app(environ, lambda status, headers, exc_info=None: None)
    received = sum(len(chunk) for chunk in result)
    getattr(result, "close", lambda: None)()
    return received


def bridge_checks() -> list[dict[str, Any]]:
    """For every bridge of a cross pairing: upload streaming and peak memory both ways."""
    from twinframe import App

    out = []
    for label, inner, outer in PAIRINGS:
        if inner == outer:
            continue
        for impl in ("twinframe", "a2wsgi", "asgiref"):
            row: dict[str, Any] = {"impl": impl, "pairing": label}
            for method in ("POST", "GET"):
                seen: dict[str, Any] = {"sent": 0, "first_at": None}
                app = _counting_wsgi(seen) if inner == "wsgi" else _counting_asgi(seen)
                if impl == "twinframe":
                    mounting = App()
                    mounting.mount("/", app)
                    served: Any = mounting.wsgi if outer == "wsgi" else mounting.asgi
                else:
                    bridges = _bridges(inner, outer, app)
                    if impl not in bridges:
                        break
                    served = bridges[impl]
                tracemalloc.start()
                try:
                    run = _via_wsgi if outer == "wsgi" else _via_asgi
                    result: Any = run(served, method, seen)
                except Exception as exc:
                    result = f"failed: {exc!r}"
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                if method == "POST":
                    row["upload_peak_mb"] = peak / 1e6
                    row["upload_streams"] = (
                        seen["first_at"] is not None and seen["first_at"] < BIG // PIECE
                    )
                    row["upload_ok"] = seen.get("total") == BIG
                else:
                    row["download_peak_mb"] = peak / 1e6
                    row["download_ok"] = result == BIG
            else:
                out.append(row)
    return out


def format_bridges(data: list[dict[str, Any]]) -> str:
    """A markdown table of the bridge checks."""
    lines = [
        "| pairing | bridge | upload reaches the app as it arrives | upload peak | "
        "download peak | both complete |",
        "|---|---|---|---|---|---|",
    ]
    for row in data:
        ok = "yes" if row["upload_ok"] and row["download_ok"] else "no"
        lines.append(
            f"| {row['pairing']} | {row['impl']} | {'yes' if row['upload_streams'] else 'no'} "
            f"| {row['upload_peak_mb']:.1f} MB | {row['download_peak_mb']:.1f} MB | {ok} |"
        )
    return "\n".join(lines)


def run(
    rounds: int = 60,
    batch_ms: float = 3.0,
    smoke: bool = False,
    bridges: bool = False,
    out: Any = sys.stdout,
) -> dict[str, Any]:
    """Build, check, time and report; returns the raw numbers (and any check failures)."""
    loop = asyncio.new_event_loop()
    try:
        targets, failures = build(loop)
        if smoke:
            rounds = 2
            for target in targets:
                target.count = 3
        else:
            calibrate(targets, batch_ms / 1000)
        measure(targets, rounds)
    finally:
        close_loop(loop)
    report: dict[str, Any] = {"rows": rows(targets), "failures": failures, "rounds": rounds}
    print(f"# mounted-app benchmark, Python {sys.version.split()[0]}, rounds={rounds}", file=out)
    print(format_rows(report["rows"]), file=out)
    if bridges:
        report["bridges"] = bridge_checks()
        print("\n## bridges: 50 MB each way\n", file=out)
        print(format_bridges(report["bridges"]), file=out)
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=out)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--batch-ms", type=float, default=3.0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--bridges", action="store_true", help="also run the 50 MB bridge checks")
    args = parser.parse_args(argv)
    report = run(args.rounds, args.batch_ms, args.smoke, args.bridges)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
