"""End to end: the hello route under real servers on loopback, twinframe vs the bare callable.

    python -m benchmarks.e2e                       # gunicorn, uvicorn, granian: ~2 minutes
    python -m benchmarks.e2e --duration 3 --repeats 2 --servers uvicorn,granian-asgi

Servers: ``gunicorn -k sync -w 1`` for the WSGI apps, ``uvicorn --loop uvloop
--http httptools`` (one process) for the ASGI apps, and Granian (one worker)
for both (``granian-wsgi``, ``granian-asgi``), each on 127.0.0.1 with a free
port, checked once for the right answer, then loaded with ``wrk`` (Debian's
``wrk`` package) or, if it isn't installed, a small asyncio load generator.
Runs alternate between twinframe and the bare callable (``--repeats`` times, each
``--duration`` seconds); the best requests-per-second of each is reported with
twinframe's share of the bare callable's. Every server is stopped by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SHARE = 0.90


@dataclass(frozen=True)
class ServerKind:
    """One server setup: its command, which entrypoint it serves, how the report names it."""

    args: list[str]  # after "python -m", with {port} and {app} to fill in
    interface: str  # "wsgi" or "asgi"
    label: str


@dataclass
class ServerSpec:
    """How to start one server for one app."""

    server: str
    app: str  # "twinframe" or "bare"
    kind: ServerKind

    def command(self, port: int) -> list[str]:
        module_app = f"benchmarks.serve:{self.app}_{self.kind.interface}"
        args = [a.format(port=port, app=module_app) for a in self.kind.args]
        return [sys.executable, "-m", *args]


GUNICORN = [
    "gunicorn",
    "-k",
    "sync",
    "-w",
    "1",
    "-b",
    "127.0.0.1:{port}",
    "--log-level",
    "warning",
    "{app}",
]
UVICORN = [
    "uvicorn",
    "{app}",
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--log-level",
    "warning",
    "--no-access-log",
]


def _granian(interface: str) -> list[str]:
    return [
        *("granian", "--interface", interface, "--workers", "1"),
        *("--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", "--no-access-log"),
        "{app}",
    ]


SERVERS = {
    "gunicorn": ServerKind(GUNICORN, "wsgi", "gunicorn -k sync -w 1"),
    "uvicorn": ServerKind(UVICORN, "asgi", "uvicorn --loop uvloop --http httptools"),
    "granian-wsgi": ServerKind(_granian("wsgi"), "wsgi", "granian --interface wsgi"),
    "granian-asgi": ServerKind(_granian("asgi"), "asgi", "granian --interface asgi"),
}


@dataclass
class Result:
    """Requests per second of every run of one server+app."""

    spec: ServerSpec
    rps: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess on loopback, stopped by pid."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log_dir / f"{spec.server}-{spec.app}-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                spec.command(self.port), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}:\n{self.log.read_text()}"
                )
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    body = response.read()
                if response.status != 200 or body != b"Hello, World!":
                    raise RuntimeError(f"{self.url} answered {response.status} {body!r}")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not answer within {timeout}s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def run_wrk(url: str, duration: float, connections: int) -> tuple[float, int]:
    """Requests per second and error count from one wrk run."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", url],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return float(match.group(1)), errors


async def _client(host: str, port: int, stop_at: float, counts: list[int]) -> None:
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    reader = writer = None
    while time.monotonic() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        assert reader is not None
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        counts[0 if head.startswith(b"HTTP/1.1 200") else 1] += 1
        if re.search(rb"(?i)connection:\s*close", head):
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run_python_load(url: str, duration: float, connections: int) -> tuple[float, int]:
    """The fallback load generator: keep-alive HTTP/1.1 clients on one event loop."""
    port = int(url.rsplit(":", 1)[1].strip("/"))

    async def main() -> list[int]:
        counts = [0, 0]
        stop_at = time.monotonic() + duration
        await asyncio.gather(
            *(_client("127.0.0.1", port, stop_at, counts) for _ in range(connections))
        )
        return counts

    started = time.monotonic()
    ok, bad = asyncio.run(main())
    return ok / (time.monotonic() - started), bad


def run(
    servers: list[str],
    duration: float,
    repeats: int,
    connections: int,
    log_dir: Path,
    python_load: bool = False,
) -> dict[str, list[Result]]:
    """Start each server per app, alternate load runs between the apps, stop them."""
    load = run_wrk if shutil.which("wrk") and not python_load else run_python_load
    print(
        f"load generator: {'wrk' if load is run_wrk else 'python'}; "
        f"{connections} connections, {repeats} x {duration:g}s per app"
    )
    results: dict[str, list[Result]] = {}
    for name in servers:
        specs = [ServerSpec(name, app, SERVERS[name]) for app in ("bare", "twinframe")]
        running: list[Server] = []
        try:
            for spec in specs:
                server = Server(spec, log_dir)
                running.append(server)
                server.wait_ready()
            rows = [Result(spec) for spec in specs]
            warm_up = min(1.0, duration)
            load(running[0].url, warm_up, connections)
            load(running[1].url, warm_up, connections)
            for _ in range(repeats):
                for server, row in zip(running, rows, strict=True):
                    rps, errors = load(server.url, duration, connections)
                    row.rps.append(rps)
                    row.errors += errors
            results[name] = rows
        finally:
            for server in running:
                server.stop()
    return results


def format_results(results: dict[str, list[Result]]) -> str:
    """A markdown table: best requests per second, twinframe's share of the bare callable's
    (best against best), and the median of the shares of runs made back to back."""
    lines = [
        "| server | bare callable (req/s) | twinframe (req/s) | twinframe / bare "
        "| median of paired runs | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, (bare, ours) in results.items():
        share = max(ours.rps) / max(bare.rps)
        paired = statistics.median(o / b for o, b in zip(ours.rps, bare.rps, strict=True))
        label = SERVERS[name].label
        verdict = "meets" if share >= TARGET_SHARE else "misses"
        lines.append(
            f"| {label} | {max(bare.rps):,.0f} | {max(ours.rps):,.0f} | {share:.0%} "
            f"| {paired:.0%} | >= {TARGET_SHARE:.0%} ({verdict}) |"
        )
        if bare.errors or ours.errors:
            lines.append(f"| (errors: bare {bare.errors}, twinframe {ours.errors}) | | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated, of: {','.join(SERVERS)} (default: all)",
    )
    parser.add_argument(
        "--duration", type=float, default=5, help="seconds per load run (default 5)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="load runs per app (default 3)")
    parser.add_argument(
        "--connections", type=int, default=8, help="concurrent connections (default 8)"
    )
    parser.add_argument(
        "--python-load",
        action="store_true",
        help="use the Python load generator even if wrk is there",
    )
    parser.add_argument(
        "--log-dir", default=None, help="where server logs go (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    import tempfile

    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="twinframe-e2e-"))
    servers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results = run(servers, args.duration, args.repeats, args.connections, log_dir, args.python_load)
    print(f"# end to end, hello route, {date}, Python {sys.version.split()[0]}\n")
    print(format_results(results))
    for name, rows in results.items():
        for row in rows:
            runs = ", ".join(f"{r:,.0f}" for r in row.rps)
            print(f"{name} {row.spec.app}: {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
