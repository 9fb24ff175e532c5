"""In-process benchmark: twinframe vs bare WSGI/ASGI callables, Falcon, Starlette and Bottle.

    python -m benchmarks.inprocess                 # full run (about half a minute)
    python -m benchmarks.inprocess --smoke         # correctness checks and a token timing
    python -m benchmarks.inprocess --json out.json # also write the raw numbers

Every implementation serves the five scenarios of ``benchmarks.scenarios``; each
response is checked once for correctness before anything is timed. Timing is
interleaved: many rounds, each running a short batch of every (implementation,
scenario) pair in shuffled order, so a drift in the machine's speed hits all of
them alike. The report gives the minimum time per request over the rounds and
its ratio to the bare callable of the same protocol measured in the same run.
A second part times a match on the last-registered route with 100 and with
1,000 routes registered.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .drivers import ASGIDriver, WSGIDriver, close_loop
from .scenarios import DYNAMIC_ROUTES, SCENARIOS, Scenario, select

# (label, module under benchmarks.apps, protocols it serves)
IMPLEMENTATIONS = [
    ("bare", "bare", ("wsgi", "asgi")),
    ("twinframe", "twinframe_app", ("wsgi", "asgi")),
    ("falcon", "falcon_app", ("wsgi", "asgi")),
    ("bottle", "bottle_app", ("wsgi",)),
    ("starlette", "starlette_app", ("asgi",)),
    ("blacksheep", "blacksheep_app", ("asgi",)),
]
# The targets: twinframe's time per request / the bare callable's.
TARGETS = {"hello": 3.0, "dynamic": 2.0, "echo": 1.4, "query": 1.6, "notfound": 4.0}
# Issue 17: a 404 at most 1.5x a hello (twinframe's own hello, same protocol, same run).
NOTFOUND_OVER_HELLO = 1.5
SCALING_TARGET = 1.10
PROTOCOLS = ("wsgi", "asgi")


@dataclass
class Target:
    """One thing to time: an implementation answering one scenario over one protocol."""

    impl: str
    protocol: str
    scenario: str
    run: Callable[[int], float]  # seconds for n requests
    count: int = 1  # requests per batch, set by calibration
    samples: list[float] = field(default_factory=list)  # seconds per request, one per round
    driver: WSGIDriver | ASGIDriver | None = None  # the one behind ``run``, if any
    cursor: int = 0  # the varied path the next batch begins with

    @property
    def best(self) -> float:
        return min(self.samples)

    def batch(self, count: int) -> float:
        """Seconds for ``count`` requests, going on through the varied paths where the
        last batch stopped: a batch that restarted at the first path would let a
        framework's per-path cache (BlackSheep keeps 1,200 matches) serve every batch
        after the first from the cache."""
        if self.driver is None:
            return self.run(count)
        seconds = self.driver.timed(count, first=self.cursor)
        self.cursor += count
        return seconds


@dataclass
class Setup:
    """The built apps, their versions and the handler style each one uses."""

    targets: list[Target]
    failures: list[str]
    versions: dict[str, str]
    handlers: dict[str, dict[str, str]]
    missing: list[str]


def _version(name: str) -> str:
    if name == "bare":
        return "-"
    package = "twinframe" if name == "twinframe" else name
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return "?"


def build(
    loop: asyncio.AbstractEventLoop,
    scenarios: list[Scenario] = SCENARIOS,
    only: set[str] | None = None,
    routes: int = DYNAMIC_ROUTES,
) -> Setup:
    """Build every installed implementation and check each scenario's response once."""
    targets: list[Target] = []
    failures: list[str] = []
    versions: dict[str, str] = {}
    handlers: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for label, module_name, protocols in IMPLEMENTATIONS:
        # bare and twinframe always run: every other row is compared with them.
        if only is not None and label not in only and label not in ("bare", "twinframe"):
            continue
        try:
            module = importlib.import_module(f"benchmarks.apps.{module_name}")
        except ImportError as exc:
            missing.append(f"{label} ({exc.name} not installed)")
            continue
        versions[label] = _version(label)
        handlers[label] = dict(module.HANDLERS)
        for protocol in protocols:
            app = getattr(module, f"build_{protocol}")(routes)
            for scenario in scenarios:
                driver: WSGIDriver | ASGIDriver
                driver = (
                    WSGIDriver(app, scenario)
                    if protocol == "wsgi"
                    else ASGIDriver(app, scenario, loop)
                )
                try:
                    problem = driver.check()
                except Exception as exc:  # report, don't time, a broken implementation
                    problem = f"raised {exc!r}"
                if problem:
                    failures.append(f"{label} {protocol} {scenario.name}: {problem}")
                    continue
                targets.append(Target(label, protocol, scenario.name, driver.timed, driver=driver))
    return Setup(targets, failures, versions, handlers, missing)


def calibrate(targets: list[Target], batch_seconds: float) -> None:
    """Choose each target's batch size so one batch takes about ``batch_seconds``."""
    for target in targets:
        target.batch(20)  # warm-up: first-call costs, lazily built structures
        per_request = min(target.batch(20) / 20 for _ in range(3))
        target.count = max(10, int(batch_seconds / per_request))


def measure(targets: list[Target], rounds: int, seed: int = 0) -> None:
    """Interleave: every round times one batch of each target, in shuffled order."""
    order = list(targets)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for target in order:
            target.samples.append(target.batch(target.count) / target.count)


def _find(targets: list[Target], impl: str, protocol: str, scenario: str) -> Target | None:
    for target in targets:
        if (target.impl, target.protocol, target.scenario) == (impl, protocol, scenario):
            return target
    return None


def paired_ratio(target: Target, reference: Target) -> float:
    """Ratio of the minimum times; both measured in the same interleaved run."""
    return target.best / reference.best


def round_ratio_median(target: Target, reference: Target) -> float:
    """The median of the per-round ratios (a cross-check of the ratio of minimums)."""
    return statistics.median(a / b for a, b in zip(target.samples, reference.samples, strict=True))


def results(targets: list[Target]) -> list[dict[str, Any]]:
    """One row per target: time per request (µs) and ratios to the same protocol's bare callable."""
    rows = []
    for target in targets:
        bare = _find(targets, "bare", target.protocol, target.scenario)
        rows.append(
            {
                "impl": target.impl,
                "protocol": target.protocol,
                "scenario": target.scenario,
                "us": target.best * 1e6,
                "ratio": paired_ratio(target, bare) if bare else None,
                "ratio_median": round_ratio_median(target, bare) if bare else None,
                "batch": target.count,
                "rounds": len(target.samples),
            }
        )
    return rows


def _cell(rows: list[dict[str, Any]], impl: str, protocol: str, scenario: str) -> str:
    for row in rows:
        if (row["impl"], row["protocol"], row["scenario"]) == (impl, protocol, scenario):
            if impl == "bare":
                return f"{row['us']:.2f} µs"
            return f"{row['us']:.2f} µs ({row['ratio']:.2f}x)"
    return "-"


def format_table(rows: list[dict[str, Any]], protocol: str) -> str:
    """A markdown table: one row per scenario, one column per implementation."""
    impls = [label for label, _, protocols in IMPLEMENTATIONS if protocol in protocols]
    impls = [i for i in impls if any(r["impl"] == i and r["protocol"] == protocol for r in rows)]
    lines = [
        "| scenario | " + " | ".join(f"{i} {protocol}" for i in impls) + " | target | twinframe |",
        "|---" * (len(impls) + 3) + "|",
    ]
    for scenario in SCENARIOS:
        if not any(r["scenario"] == scenario.name and r["protocol"] == protocol for r in rows):
            continue
        verdict = _verdict(rows, protocol, scenario.name)
        cells = [_cell(rows, i, protocol, scenario.name) for i in impls]
        target = f"<= {TARGETS[scenario.name]}x" if scenario.name in TARGETS else "Falcon's"
        lines.append(f"| {scenario.name} | " + " | ".join(cells) + f" | {target} | {verdict} |")
    return "\n".join(lines)


def _verdict(rows: list[dict[str, Any]], protocol: str, scenario: str) -> str:
    def ratio(impl: str) -> float | None:
        for row in rows:
            if (row["impl"], row["protocol"], row["scenario"]) == (impl, protocol, scenario):
                return row["ratio"]  # type: ignore[no-any-return]
        return None

    ours = ratio("twinframe")
    if ours is None:
        return "-"
    notes = []
    if scenario in TARGETS:
        notes.append("meets target" if ours <= TARGETS[scenario] else "misses target")
    for peer in ("falcon", "blacksheep"):
        theirs = ratio(peer)
        if theirs is not None:
            name = "Falcon" if peer == "falcon" else "BlackSheep"
            notes.append(f"ahead of {name}" if ours < theirs else f"behind {name}")
    if scenario == "notfound":
        hello = _us(rows, "twinframe", protocol, "hello")
        mine = _us(rows, "twinframe", protocol, "notfound")
        if hello and mine:
            over = mine / hello
            verdict = "meets" if over <= NOTFOUND_OVER_HELLO else "misses"
            notes.append(f"{over:.2f}x its hello ({verdict} <= {NOTFOUND_OVER_HELLO}x)")
    return ", ".join(notes)


def _us(rows: list[dict[str, Any]], impl: str, protocol: str, scenario: str) -> float | None:
    for row in rows:
        if (row["impl"], row["protocol"], row["scenario"]) == (impl, protocol, scenario):
            return row["us"]  # type: ignore[no-any-return]
    return None


# -- route table scaling ----------------------------------------------------------------


def _item(req: Any, id: int) -> int:
    return id


def scaling_targets(
    loop: asyncio.AbstractEventLoop, only: set[str] | None
) -> tuple[list[Target], list[str]]:
    """The dynamic scenario with 100 and 1,000 routes, plus twinframe's matcher alone
    (on those routes and on routes that differ only inside a mixed segment)."""
    from twinframe import App

    from .apps import twinframe_app

    dynamic = next(s for s in SCENARIOS if s.name == "dynamic")
    targets: list[Target] = []
    failures: list[str] = []
    for routes in (100, 1000):
        setup = build(loop, [dynamic], only, routes)
        failures += setup.failures
        for target in setup.targets:
            if target.impl != "bare":
                target.scenario = f"dynamic/{routes}"
                targets.append(target)
        app: App = twinframe_app.build_app(routes)
        matcher = app.matcher

        def match(count: int, match: Callable[..., Any] = matcher.match) -> float:
            start = time.perf_counter()
            for _ in range(count):
                match("GET", "/users/42")
            return time.perf_counter() - start

        if matcher.match("GET", "/users/42") is None:
            failures.append(f"twinframe matcher with {routes} routes: /users/42 not matched")
        targets.append(Target("twinframe", "matcher", f"dynamic/{routes}", match))

        # Routes that differ only inside a segment mixing text and a field.
        mixed = App()
        for i in range(routes):
            mixed.add_route(f"/item{i}-{{id:d}}", _item, name=f"item{i}")
        last = f"/item{routes - 1}-42"

        def match_mixed(
            count: int, match: Callable[..., Any] = mixed.matcher.match, path: str = last
        ) -> float:
            start = time.perf_counter()
            for _ in range(count):
                match("GET", path)
            return time.perf_counter() - start

        if mixed.matcher.match("GET", last) is None:
            failures.append(f"twinframe matcher with {routes} mixed routes: {last} not matched")
        label = "matcher, /item{i}-{id}"
        targets.append(Target("twinframe", label, f"dynamic/{routes}", match_mixed))
    return targets, failures


def scaling_rows(targets: list[Target]) -> list[dict[str, Any]]:
    """Per implementation and protocol: µs with 100 and 1,000 routes, and their ratio."""
    rows = []
    for target in targets:
        if target.scenario != "dynamic/100":
            continue
        big = _find(targets, target.impl, target.protocol, "dynamic/1000")
        if big is None:
            continue
        rows.append(
            {
                "impl": target.impl,
                "protocol": target.protocol,
                "us_100": target.best * 1e6,
                "us_1000": big.best * 1e6,
                "ratio": paired_ratio(big, target),
                "ratio_median": round_ratio_median(big, target),
            }
        )
    return rows


def format_scaling(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the route-table scaling check."""
    lines = [
        "| implementation | 100 routes | 1,000 routes | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        target = f"<= {SCALING_TARGET:.2f}x" if row["impl"] == "twinframe" else ""
        lines.append(
            f"| {row['impl']} {row['protocol']} | {row['us_100']:.2f} µs | {row['us_1000']:.2f} µs "
            f"| {row['ratio']:.2f}x | {target} |"
        )
    return "\n".join(lines)


# -- entry point ------------------------------------------------------------------------


def run(
    rounds: int = 80,
    batch_ms: float = 3.0,
    smoke: bool = False,
    only: set[str] | None = None,
    scaling: bool = True,
    out: Any = sys.stdout,
    scenarios: list[Scenario] = SCENARIOS,
) -> dict[str, Any]:
    """Build, check, time and report; returns the raw numbers (and any check failures)."""
    loop = asyncio.new_event_loop()
    try:
        setup = build(loop, scenarios, only=only)
        failures = list(setup.failures)
        scale_targets: list[Target] = []
        if scaling:
            scale_targets, scale_failures = scaling_targets(loop, only)
            failures += scale_failures
        everything = setup.targets + scale_targets
        if smoke:
            rounds = 2
            for target in everything:
                target.count = 3
        else:
            calibrate(everything, batch_ms / 1000)
        measure(setup.targets, rounds)
        measure(scale_targets, rounds, seed=1)
    finally:
        close_loop(loop)
    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()}",
        "rounds": rounds,
        "batch_ms": batch_ms,
        "smoke": smoke,
        "versions": setup.versions,
        "handlers": setup.handlers,
        "missing": setup.missing,
        "failures": failures,
        "rows": results(setup.targets),
        "scaling": scaling_rows(scale_targets),
    }
    print_report(report, out)
    return report


def print_report(report: dict[str, Any], out: Any = sys.stdout) -> None:
    """The report as markdown: versions, one table per protocol, the scaling table."""
    print(f"# in-process benchmark, {report['date']}, Python {report['python']}", file=out)
    print(
        f"rounds={report['rounds']} batch~{report['batch_ms']} ms"
        + (" (smoke)" if report["smoke"] else ""),
        file=out,
    )
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if k != "bare")
    print(f"versions: {versions}", file=out)
    for label, styles in report["handlers"].items():
        print(f"  {label}: " + "; ".join(f"{p}: {s}" for p, s in styles.items()), file=out)
    for name in report["missing"]:
        print(f"skipped: {name}", file=out)
    for protocol in PROTOCOLS:
        print(f"\n## {protocol}\n", file=out)
        print(format_table(report["rows"], protocol), file=out)
    if report["scaling"]:
        print("\n## route table: match on the last-registered route\n", file=out)
        print(format_scaling(report["scaling"]), file=out)
    for failure in report["failures"]:
        print(f"CHECK FAILED: {failure}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=80, help="interleaved rounds (default 80)")
    parser.add_argument(
        "--batch-ms", type=float, default=3.0, help="duration of one batch (default 3 ms)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="check responses, time only a few requests"
    )
    parser.add_argument(
        "--only", help="comma-separated peers to include besides bare and twinframe"
    )
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip the route-table scaling check"
    )
    parser.add_argument(
        "--scenarios", help="comma-separated scenarios to run (default: all of them)"
    )
    parser.add_argument("--json", help="write the raw numbers to this file")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    try:
        scenarios = select(args.scenarios)
    except ValueError as exc:
        parser.error(str(exc))
    report = run(
        args.rounds, args.batch_ms, args.smoke, only, not args.no_scaling, scenarios=scenarios
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
