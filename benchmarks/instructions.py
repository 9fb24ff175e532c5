"""Instructions per request, counted by valgrind's callgrind: a measure that noise cannot move.

    python -m benchmarks.instructions                  # every scenario and peer, ~6 min of CPU
    python -m benchmarks.instructions --scenarios hello,notfound --only falcon -n 500
    python -m benchmarks.instructions --json out.json      # also write the raw numbers

Timed ratios swing on a shared machine; the number of instructions a request
executes does not. This script re-executes itself under ``valgrind
--tool=callgrind``, builds the same implementations as ``benchmarks.inprocess``
(the bare callables, twinframe, Falcon, Starlette, BlackSheep, Bottle, where
installed), checks every response with the drivers' check and warms each one
up on the last paths of a varied scenario (the count starts with the first
ones, so a per-path cache has none of them warm). Then each target
(implementation, protocol, scenario) runs its driver's loop twice, with 0 and
with N requests, each run between two ``os.getppid()`` calls: callgrind's
``--dump-before=getppid`` cuts the count there, and the difference of the two
runs is N requests without the loop's fixed cost. The report gives
instructions per request and the ratio to the bare callable of the same
protocol and to Falcon. Needs valgrind (Debian: ``apt-get install valgrind``);
callgrind runs the code ~50x slower, but one run is enough: it repeats exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .drivers import close_loop
from .inprocess import IMPLEMENTATIONS, PROTOCOLS, build
from .scenarios import SCENARIOS, VARIANTS, Scenario, select

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 1000  # per target; counts are exact, so N only has to cover the varied paths' mix
WARMUP = 100  # requests per target before counting: first-call costs, lazily built caches
INSTALL = "valgrind is not installed; on Debian/Ubuntu: sudo apt-get install -y valgrind"
CALLGRIND = [
    "--tool=callgrind",
    "--dump-before=getppid",  # each os.getppid() call ends one count (a "part")
    "--combine-dumps=yes",  # every part in one file
    "-q",
]


def _marker() -> None:
    # The libc call callgrind dumps before: nothing else here calls getppid().
    os.getppid()


def count_inside(
    scenarios: list[Scenario], only: set[str] | None, requests: int, meta_path: str
) -> None:
    """Under callgrind: build, check, warm up, then run every target between markers.

    Writes the targets' order (and the setup's failures, versions, missing peers)
    to ``meta_path``; the parts of the callgrind output follow that order.
    """
    loop = asyncio.new_event_loop()
    try:
        setup = build(loop, scenarios, only)
        for target in setup.targets:
            # On the paths the count ends with, not those it starts with: BlackSheep caches
            # route matches per path, which no varied workload would have warm.
            assert target.driver is not None
            target.driver.timed(WARMUP, first=-WARMUP)
        gc.collect()
        gc.freeze()  # the setup's objects (apps, environs, scopes) are not every target's GC work
        names = [[t.impl, t.protocol, t.scenario] for t in setup.targets]
        meta = {
            "targets": names,
            "failures": setup.failures,
            "versions": setup.versions,
            "missing": setup.missing,
        }
        Path(meta_path).write_text(json.dumps(meta))
        for target in setup.targets:
            gc.collect()
            _marker()  # ends the part before: discarded
            target.run(0)
            _marker()  # ends the loop's fixed cost
            target.run(requests)
            _marker()  # ends the fixed cost plus `requests` requests
    finally:
        close_loop(loop)


def parse_parts(text: str) -> list[int]:
    """The instruction count of each part of a combined callgrind output, in order."""
    parts = []
    for line in text.splitlines():
        if line.startswith("totals:"):
            parts.append(int(line.split()[1]))
    return parts


def per_request(parts: list[int], targets: int, requests: int) -> list[float]:
    """Instructions per request of each target from the parts (three markers per target)."""
    # Part 0 is the setup; then each target gives (fixed cost, fixed cost + requests,
    # the next target's gc.collect() or, after the last target, the exit).
    if len(parts) != 3 * targets + 1:
        raise RuntimeError(f"{len(parts)} callgrind parts for {targets} targets: a stray getppid?")
    return [(parts[3 * i + 2] - parts[3 * i + 1]) / requests for i in range(targets)]


def rows_of(names: list[list[str]], counts: list[float]) -> list[dict[str, Any]]:
    """One row per target: instructions per request, ratios to bare and to Falcon."""
    by_key = {tuple(name): count for name, count in zip(names, counts, strict=True)}
    rows = []
    for (impl, protocol, scenario), count in zip(map(tuple, names), counts, strict=True):
        bare = by_key.get(("bare", protocol, scenario))
        falcon = by_key.get(("falcon", protocol, scenario))
        rows.append(
            {
                "impl": impl,
                "protocol": protocol,
                "scenario": scenario,
                "instructions": count,
                "ratio_bare": count / bare if bare else None,
                "ratio_falcon": count / falcon if falcon else None,
            }
        )
    return rows


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    text = f"{row['instructions']:,.0f}"
    if row["impl"] == "bare":
        return text
    text += f" ({row['ratio_bare']:.2f}x"
    if row["impl"] != "falcon" and row["ratio_falcon"] is not None:
        text += f"; {row['ratio_falcon']:.2f}x Falcon"
    return text + ")"


def format_table(rows: list[dict[str, Any]], protocol: str) -> str:
    """A markdown table: one row per scenario, one column per implementation."""
    mine = [r for r in rows if r["protocol"] == protocol]
    impls = [label for label, _, _ in IMPLEMENTATIONS if any(r["impl"] == label for r in mine)]
    cells = {(r["impl"], r["scenario"]): r for r in mine}
    lines = ["| scenario | " + " | ".join(impls) + " |", "|---" * (len(impls) + 1) + "|"]
    for scenario in SCENARIOS:
        if any(r["scenario"] == scenario.name for r in mine):
            row = [_cell(cells.get((impl, scenario.name))) for impl in impls]
            lines.append(f"| {scenario.name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def print_report(report: dict[str, Any], out: Any = sys.stdout) -> None:
    """The report as markdown: one table per protocol, then any check failures."""
    print(f"# instructions per request (callgrind), {report['date']}", file=out)
    print(f"Python {report['python']}, {report['requests']} requests per target", file=out)
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if k != "bare")
    print(f"versions: {versions}", file=out)
    for name in report["missing"]:
        print(f"skipped: {name}", file=out)
    for protocol in PROTOCOLS:
        print(f"\n## {protocol} (ratio to the bare callable; to Falcon)\n", file=out)
        print(format_table(report["rows"], protocol), file=out)
    for failure in report["failures"]:
        print(f"CHECK FAILED: {failure}", file=out)


def run(
    scenarios: list[Scenario] = SCENARIOS,
    only: set[str] | None = None,
    requests: int = REQUESTS,
    out: Any = sys.stdout,
) -> dict[str, Any]:
    """Count under callgrind (a child process) and report; returns the raw numbers."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit(INSTALL)
    with tempfile.TemporaryDirectory(prefix="twinframe-callgrind-") as tmp:
        meta_path, dump = os.path.join(tmp, "meta.json"), os.path.join(tmp, "callgrind.out")
        command = [
            valgrind, *CALLGRIND, f"--callgrind-out-file={dump}",
            sys.executable, "-m", "benchmarks.instructions", "--inside", meta_path,
            "-n", str(requests), "--scenarios", ",".join(s.name for s in scenarios),
        ]  # fmt: skip
        if only is not None:
            command += ["--only", ",".join(sorted(only)) or "none"]
        # A fixed hash seed: str hashes decide dict and set layouts, so the counts repeat.
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
        subprocess.run(command, check=True, cwd=ROOT, env=env)
        meta = json.loads(Path(meta_path).read_text())
        parts = parse_parts(Path(dump).read_text())
    counts = per_request(parts, len(meta["targets"]), requests)
    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "valgrind": subprocess.run(
            [valgrind, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "requests": requests,
        "versions": meta["versions"],
        "missing": meta["missing"],
        "failures": meta["failures"],
        "rows": rows_of(meta["targets"], counts),
    }
    print_report(report, out)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", help="comma-separated scenarios (default: all of them)")
    peers = [label for label, _, _ in IMPLEMENTATIONS if label not in ("bare", "twinframe")]
    parser.add_argument(
        "--only",
        help=f"comma-separated peers beside bare and twinframe ({', '.join(peers)}; none)",
    )
    parser.add_argument(
        "-n", type=int, default=REQUESTS, help=f"requests per target (default {REQUESTS})"
    )
    parser.add_argument("--json", help="write the raw numbers to this file")
    parser.add_argument("--inside", help=argparse.SUPPRESS)  # the child under callgrind
    args = parser.parse_args(argv)
    try:
        scenarios = select(args.scenarios)
    except ValueError as exc:
        parser.error(str(exc))
    only = set(args.only.split(",")) - {"none"} if args.only else None
    if only is not None and not only <= {*peers, "twinframe"}:
        parser.error(f"peers are among: {', '.join(peers)} (or none)")
    if not 1 <= args.n <= VARIANTS - WARMUP:  # the count never reaches the warm-up's paths
        parser.error(f"-n is between 1 and {VARIANTS - WARMUP}")
    if args.inside:
        count_inside(scenarios, only, args.n, args.inside)
        return 0
    report = run(scenarios, only, args.n)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
