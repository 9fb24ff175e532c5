"""End to end: hello, dynamic and JSON echo under real servers on loopback, every
framework alternated within each round.

    python -m benchmarks.e2e                       # every server, ~8 minutes
    python -m benchmarks.e2e --servers uvicorn --scenarios hello --rounds 8 --duration 2

Servers, one worker each, on 127.0.0.1 with a free port: ``gunicorn -k gthread``
(keep-alive) and ``granian --interface wsgi`` for the WSGI apps, ``uvicorn --loop
uvloop --http httptools`` and ``granian --interface asgi`` for the ASGI apps.
Apps: the bare callable, twinframe and Falcon on both, BlackSheep on ASGI (a
peer that isn't installed is skipped and named). Every app of a server runs at
once; each is checked for the right answer to every scenario (a spread sample
of the dynamic paths) before any load, then loaded with ``wrk`` (Debian's
``wrk`` package; a Lua script varies the dynamic path and sends the echo body)
or, without it, a small asyncio load generator.

One round runs every app once per scenario, in an order shuffled per round, so a
change in the machine's speed hits them alike. The report gives, per server and
scenario, each app's median requests per second and twinframe's **paired
ratio** to each peer: the median of the per-round ratios, with the lowest and
highest, so a lead is real only when the whole spread is above 1.
Every server is stopped by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .scenarios import ECHO_BODY

ROOT = Path(__file__).resolve().parent.parent
TARGET_SHARE = 0.90  # twinframe's hello over the bare callable's


@dataclass(frozen=True)
class LoadScenario:
    """A request mix for the load generator and the check of its answers."""

    name: str
    method: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def path(self, n: int) -> str:
        """The n-th request's path (the dynamic one varies, like its in-process twin)."""
        if self.name == "dynamic":
            return f"/users/{n * 7919 % 100_000}"
        return "/echo" if self.name == "echo" else "/"

    def expected(self, n: int) -> bytes:
        """The body the n-th request must get (JSON compared parsed)."""
        if self.name == "dynamic":
            return json.dumps({"id": n * 7919 % 100_000}).encode()
        return ECHO_BODY if self.name == "echo" else b"Hello, World!"


LOAD_SCENARIOS = {
    "hello": LoadScenario("hello", "GET"),
    "dynamic": LoadScenario("dynamic", "GET"),
    "echo": LoadScenario("echo", "POST", ECHO_BODY, (("Content-Type", "application/json"),)),
}


def _wrk_script(scenario: LoadScenario) -> str:
    if scenario.name == "dynamic":
        return (
            "local n = 0\n"
            "request = function()\n"
            "  n = n + 1\n"
            '  return wrk.format("GET", "/users/" .. ((n * 7919) % 100000))\n'
            "end\n"
        )
    if scenario.name == "echo":
        body = scenario.body.decode().replace("\\", "\\\\").replace('"', '\\"')
        return (
            'wrk.method = "POST"\n'
            f'wrk.body = "{body}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
    return ""


@dataclass(frozen=True)
class ServerKind:
    """One server setup: its command, which entrypoint it serves, how the report names it."""

    args: list[str]  # after "python -m", with {port} and {app} to fill in
    interface: str  # "wsgi" or "asgi"
    label: str


GUNICORN_GTHREAD = [
    *("gunicorn", "-k", "gthread", "--threads", "8", "--keep-alive", "30", "-w", "1"),
    *("-b", "127.0.0.1:{port}", "--log-level", "warning", "{app}"),
]
GUNICORN_SYNC = ["gunicorn", "-k", "sync", "-w", "1", "-b", "127.0.0.1:{port}"]
GUNICORN_SYNC += ["--log-level", "warning", "{app}"]
UVICORN = [
    *("uvicorn", "{app}", "--host", "127.0.0.1", "--port", "{port}"),
    *("--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"),
]


def _granian(interface: str) -> list[str]:
    return [
        *("granian", "--interface", interface, "--workers", "1"),
        *("--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", "--no-access-log"),
        "{app}",
    ]


SERVERS = {
    "gunicorn": ServerKind(GUNICORN_GTHREAD, "wsgi", "gunicorn -k gthread (keep-alive)"),
    "uvicorn": ServerKind(UVICORN, "asgi", "uvicorn --loop uvloop --http httptools"),
    "granian-wsgi": ServerKind(_granian("wsgi"), "wsgi", "granian --interface wsgi"),
    "granian-asgi": ServerKind(_granian("asgi"), "asgi", "granian --interface asgi"),
    "gunicorn-sync": ServerKind(GUNICORN_SYNC, "wsgi", "gunicorn -k sync (no keep-alive)"),
}
DEFAULT_SERVERS = ["gunicorn", "uvicorn", "granian-wsgi", "granian-asgi"]
# Apps per interface, in report order; peers are skipped when not installed.
APPS = {
    "wsgi": ["bare", "twinframe", "falcon"],
    "asgi": ["bare", "twinframe", "falcon", "blacksheep"],
}
PEERS = ("falcon", "blacksheep")


def available_apps(interface: str) -> tuple[list[str], list[str]]:
    """(apps that can run, peers skipped because their package isn't installed)."""
    apps, missing = [], []
    for app in APPS[interface]:
        if app in PEERS and importlib.util.find_spec(app) is None:
            missing.append(app)
        else:
            apps.append(app)
    return apps, missing


@dataclass
class ServerSpec:
    """How to start one server for one app."""

    server: str
    app: str
    kind: ServerKind

    def command(self, port: int) -> list[str]:
        module_app = f"benchmarks.serve:{self.app}_{self.kind.interface}"
        args = [a.format(port=port, app=module_app) for a in self.kind.args]
        return [sys.executable, "-m", *args]


@dataclass
class Result:
    """Requests per second of every round of one server, app and scenario."""

    spec: ServerSpec
    scenario: str
    rps: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch(url: str, scenario: LoadScenario, n: int) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url.rstrip("/") + scenario.path(n),
        data=scenario.body or None,
        headers=dict(scenario.headers),
        method=scenario.method,
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def check_answers(url: str, scenarios: list[LoadScenario]) -> str | None:
    """The first wrong answer among a spread sample of each scenario's requests, or None."""
    for scenario in scenarios:
        for n in (0, 1, 2, 997, 4095, 99_991):
            status, body = _fetch(url, scenario, n)
            expected = scenario.expected(n)
            same = body == expected if scenario.name == "hello" else _same_json(body, expected)
            if status != 200 or not same:
                return f"{scenario.path(n)} answered {status} {body[:100]!r}"
    return None


def _same_json(body: bytes, expected: bytes) -> bool:
    try:
        return bool(json.loads(body) == json.loads(expected))
    except ValueError:
        return False


class Server:
    """A server subprocess on loopback, stopped by pid."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log_dir / f"{spec.server}-{spec.app}-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                spec.command(self.port), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}:\n{self.log.read_text()}"
                )
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    response.read()
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


def run_wrk(
    url: str, scenario: LoadScenario, duration: float, connections: int, script_dir: Path
) -> tuple[float, int]:
    """Requests per second and error count from one wrk run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    script = _wrk_script(scenario)
    if script:
        path = script_dir / f"{scenario.name}.lua"
        path.write_text(script)
        command += ["-s", str(path)]
    target = url.rstrip("/") + scenario.path(0)  # the dynamic script sets its own paths
    out = subprocess.run(
        [*command, target], capture_output=True, text=True, timeout=duration + 30, check=True
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


async def _client(
    port: int, scenario: LoadScenario, stop_at: float, counts: list[int], start: int
) -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in scenario.headers)
    if scenario.body:
        extra += f"Content-Length: {len(scenario.body)}\r\n"
    reader = writer = None
    n = start
    while time.monotonic() < stop_at:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert reader is not None
        head = f"{scenario.method} {scenario.path(n)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        writer.write((head + extra + "\r\n").encode() + scenario.body)
        n += 1
        response = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", response).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        counts[0 if response.startswith(b"HTTP/1.1 200") else 1] += 1
        if re.search(rb"(?i)connection:\s*close", response):
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run_python_load(
    url: str, scenario: LoadScenario, duration: float, connections: int, script_dir: Path
) -> tuple[float, int]:
    """The fallback load generator: keep-alive HTTP/1.1 clients on one event loop."""
    port = int(url.rsplit(":", 1)[1].strip("/"))

    async def main() -> list[int]:
        counts = [0, 0]
        stop_at = time.monotonic() + duration
        await asyncio.gather(
            *(_client(port, scenario, stop_at, counts, i * 1000) for i in range(connections))
        )
        return counts

    started = time.monotonic()
    ok, bad = asyncio.run(main())
    return ok / (time.monotonic() - started), bad


def run(
    servers: list[str],
    duration: float,
    rounds: int,
    connections: int,
    log_dir: Path,
    python_load: bool = False,
    scenarios: list[str] | None = None,
    seed: int = 0,
) -> dict[str, list[Result]]:
    """Start every app under each server, check them, run the interleaved rounds, stop them."""
    load = run_wrk if shutil.which("wrk") and not python_load else run_python_load
    chosen = [LOAD_SCENARIOS[name] for name in (scenarios or list(LOAD_SCENARIOS))]
    print(
        f"load generator: {'wrk' if load is run_wrk else 'python'}; {connections} connections, "
        f"{rounds} rounds of {duration:g}s per app and scenario",
        flush=True,
    )
    rng = random.Random(seed)
    results: dict[str, list[Result]] = {}
    for name in servers:
        kind = SERVERS[name]
        apps, missing = available_apps(kind.interface)
        for app in missing:
            print(f"skipped under {name}: {app} (not installed)", flush=True)
        running: list[Server] = []
        try:
            for app in apps:
                running.append(Server(ServerSpec(name, app, kind), log_dir))
            for server in running:
                server.wait_ready()
                problem = check_answers(server.url, chosen)
                if problem:
                    raise RuntimeError(f"{name} {server.spec.app}: {problem}")
            rows = {
                (server.spec.app, scenario.name): Result(server.spec, scenario.name)
                for server in running
                for scenario in chosen
            }
            for server in running:  # warm up every app on every scenario
                for scenario in chosen:
                    load(server.url, scenario, min(1.0, duration), connections, log_dir)
            for _ in range(rounds):
                for scenario in chosen:
                    order = list(running)
                    rng.shuffle(order)
                    for server in order:
                        rps, errors = load(server.url, scenario, duration, connections, log_dir)
                        row = rows[(server.spec.app, scenario.name)]
                        row.rps.append(rps)
                        row.errors += errors
            results[name] = list(rows.values())
        finally:
            for server in running:
                server.stop()
    return results


def paired(ours: Result, theirs: Result) -> tuple[float, float, float]:
    """twinframe's per-round ratio to a peer: (median, lowest, highest)."""
    ratios = [a / b for a, b in zip(ours.rps, theirs.rps, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def format_results(results: dict[str, list[Result]]) -> str:
    """Markdown: per server and scenario, each app's median req/s and twinframe's paired ratios."""
    lines = [
        "| server | scenario | app | median req/s | twinframe / app: median (low-high) | |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        label = SERVERS[name].label
        for scenario in dict.fromkeys(row.scenario for row in rows):
            group = [row for row in rows if row.scenario == scenario]
            ours = next(row for row in group if row.spec.app == "twinframe")
            for row in group:
                cells = [label, scenario, row.spec.app, f"{statistics.median(row.rps):,.0f}"]
                if row is ours:
                    cells += ["-", ""]
                else:
                    mid, low, high = paired(ours, row)
                    note = ""
                    if row.spec.app == "bare" and scenario == "hello":
                        verdict = "meets" if mid >= TARGET_SHARE else "misses"
                        note = f">= {TARGET_SHARE:.2f} of bare: {verdict}"
                    elif row.spec.app != "bare":
                        note = (
                            "ahead (whole spread > 1)"
                            if low > 1
                            else "behind (whole spread < 1)"
                            if high < 1
                            else "within the spread"
                        )
                    cells += [f"{mid:.3f} ({low:.3f}-{high:.3f})", note]
                if row.errors:
                    cells[-1] += f" ({row.errors} errors)"
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated, of: {','.join(SERVERS)} (default: {','.join(DEFAULT_SERVERS)})",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(LOAD_SCENARIOS),
        help=f"comma-separated, of: {','.join(LOAD_SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--duration", type=float, default=2, help="seconds per load run (default 2)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
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
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="twinframe-e2e-"))
    servers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    scenarios = [s for s in args.scenarios.split(",") if s]
    if [s for s in scenarios if s not in LOAD_SCENARIOS]:
        parser.error(f"scenarios are among: {', '.join(LOAD_SCENARIOS)}")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    results = run(
        servers, args.duration, args.rounds, args.connections, log_dir, args.python_load, scenarios
    )
    print(f"# end to end, {date}, Python {sys.version.split()[0]}, load {load:.1f}\n")
    print(format_results(results))
    for name, rows in results.items():
        for row in rows:
            runs = ", ".join(f"{r:,.0f}" for r in row.rps)
            print(f"{name} {row.scenario} {row.spec.app}: {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
