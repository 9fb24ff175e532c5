"""Memory over a long run: a process's RSS after 100,000 requests of a scenario vs after 1,000.

    python -m benchmarks.memory                    # every scenario, both entrypoints (~2 min)
    python -m benchmarks.memory --requests 20000 --scenarios hello,upload
    python -m benchmarks.memory --servers uvicorn,gunicorn   # real workers under wrk (~5 min)

Opt-in (not part of the test run). Each (entrypoint, scenario) runs in a fresh
Python process, as one worker would serve it: twinframe's benchmark app driven
in-process by ``benchmarks.drivers`` (a fresh environ or scope per request, the
whole body consumed), every answer checked first. RSS (``VmRSS`` from
``/proc/self/status``, Linux) is read after the first 1,000 requests (warm:
lazily built structures exist) and after the whole run, each time after a full
garbage collection; the report gives both and the growth.

With ``--servers``, the same for a real worker: ``benchmarks.e2e``'s servers
serving twinframe, loaded with ``wrk`` (hello, dynamic over varied paths, echo)
until it has answered 1,000 and then at least 100,000 requests, the worker's
RSS read from ``/proc/PID/status`` at both points.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM = 1_000


def rss_kib() -> int:
    """This process's resident set size in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure_one(protocol: str, scenario_name: str, requests: int) -> dict[str, int]:
    """In this process: RSS after WARM requests and after ``requests`` of one scenario."""
    from .apps import twinframe_app
    from .drivers import ASGIDriver, WSGIDriver, close_loop
    from .scenarios import SCENARIOS

    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    loop = asyncio.new_event_loop()
    driver: WSGIDriver | ASGIDriver
    if protocol == "wsgi":
        driver = WSGIDriver(twinframe_app.build_wsgi(), scenario)
    else:
        driver = ASGIDriver(twinframe_app.build_asgi(), scenario, loop)
    problem = driver.check()
    if problem:
        raise SystemExit(f"{protocol} {scenario_name}: {problem}")
    driver.timed(WARM)
    gc.collect()
    warm = rss_kib()
    driver.timed(requests - WARM)
    gc.collect()
    after = rss_kib()
    close_loop(loop)
    return {"warm_kib": warm, "after_kib": after, "requests": requests}


def run(requests: int, scenarios: list[str], protocols: list[str]) -> list[dict[str, object]]:
    """Each (protocol, scenario) in a fresh interpreter; one row each."""
    rows: list[dict[str, object]] = []
    for protocol in protocols:
        for name in scenarios:
            command = [sys.executable, "-m", "benchmarks.memory", "--one", protocol, name]
            out = subprocess.run(
                [*command, "--requests", str(requests)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rows.append({"protocol": protocol, "scenario": name, **json.loads(out)})
    return rows


def format_rows(rows: list[dict[str, object]]) -> str:
    """A markdown table: RSS after the warm-up and after the run, and the growth."""
    lines = [
        "| entrypoint | scenario | RSS after 1,000 | RSS after the run | growth |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        warm, after = int(row["warm_kib"]), int(row["after_kib"])  # type: ignore[call-overload]
        lines.append(
            f"| {row['protocol']} | {row['scenario']} | {warm / 1024:.1f} MiB "
            f"| {after / 1024:.1f} MiB | {(after - warm) / 1024:+.2f} MiB |"
        )
    return "\n".join(lines)


def run_servers(servers: list[str], scenarios: list[str], requests: int) -> list[str]:
    """Markdown rows: a real twinframe worker's RSS after WARM and ``requests`` requests."""
    import re
    import tempfile

    from . import e2e

    def worker_rss(pid: int) -> int:
        # gunicorn's worker is the arbiter's child; uvicorn and granian serve in pid
        # itself or in its child.
        children = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True
        ).stdout.split()
        target = int(children[0]) if children else pid
        with open(f"/proc/{target}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    log_dir = Path(tempfile.mkdtemp(prefix="twinframe-memory-"))
    rows = []
    for name in servers:
        for scenario_name in scenarios:
            kind = e2e.SERVERS[name]
            server = e2e.Server(e2e.ServerSpec(name, "twinframe", kind), log_dir)
            try:
                server.wait_ready()
                scenario = e2e.LOAD_SCENARIOS[scenario_name]
                problem = e2e.check_answers(server.url, [scenario])
                if problem:
                    raise SystemExit(f"{name} {scenario_name}: {problem}")
                command = ["wrk", "-t1", "-c4"]
                script = e2e._wrk_script(scenario)
                if script:
                    path = log_dir / f"{scenario_name}.lua"
                    path.write_text(script)
                    command += ["-s", str(path)]
                url = server.url.rstrip("/") + scenario.path(0)

                def load(seconds: int, command: list[str] = command, url: str = url) -> int:
                    out = subprocess.run(
                        [*command, f"-d{seconds}s", url], capture_output=True, text=True
                    ).stdout
                    found = re.search(r"(\d+) requests in", out)
                    if found is None:
                        raise RuntimeError(f"unexpected wrk output:\n{out}")
                    return int(found.group(1))

                done = 0
                while done < WARM:
                    done += load(1)
                warm, first = worker_rss(server.proc.pid), done
                while done < requests:
                    done += load(5)
                after = worker_rss(server.proc.pid)
            finally:
                server.stop()
            rows.append(
                f"| {kind.label} | {scenario_name} | {first:,} | {warm / 1024:.1f} MiB "
                f"| {done:,} | {after / 1024:.1f} MiB | {(after - warm) / 1024:+.2f} MiB |"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    from .scenarios import SCENARIO_NAMES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000, help="requests per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIO_NAMES))
    parser.add_argument("--protocols", default="wsgi,asgi")
    parser.add_argument("--servers", help="real workers instead, e.g. uvicorn,gunicorn (wrk)")
    parser.add_argument("--one", nargs=2, metavar=("PROTOCOL", "SCENARIO"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.requests <= WARM:
        parser.error(f"--requests must be more than {WARM}")
    if args.one:
        print(json.dumps(measure_one(args.one[0], args.one[1], args.requests)))
        return 0
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.servers:
        scenarios = [s for s in args.scenarios.split(",") if s in ("hello", "dynamic", "echo")]
        print(f"# memory of a real worker, {date}\n")
        print("| server | scenario | requests | RSS | requests | RSS | growth |")
        print("|---|---|---|---|---|---|---|")
        for line in run_servers(args.servers.split(","), scenarios, args.requests):
            print(line, flush=True)
        return 0
    rows = run(args.requests, args.scenarios.split(","), args.protocols.split(","))
    print(f"# memory, {args.requests:,} requests per scenario, {date}\n")
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
