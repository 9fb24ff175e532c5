"""The benchmark harness keeps working: every implementation answers every scenario correctly.

Only correctness is asserted here; speed is measured by ``python -m benchmarks.inprocess``.
Instruction counts (``benchmarks.instructions``, under callgrind) are exact, so one
real count is compared with another: never a time.
"""

from __future__ import annotations

import io
import sys
import types
from typing import Any

import pytest
from realserver import ROOT
from system_programs import require_valgrind

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import inprocess
from benchmarks.scenarios import SCENARIO_NAMES, SCENARIOS


def test_inprocess_smoke_run_checks_every_response() -> None:
    out = io.StringIO()
    report = inprocess.run(smoke=True, out=out)
    assert report["failures"] == [], out.getvalue()
    measured = {(row["impl"], row["protocol"], row["scenario"]) for row in report["rows"]}
    for protocol in ("wsgi", "asgi"):
        for impl in ("bare", "twinframe"):
            for scenario in SCENARIO_NAMES:
                assert (impl, protocol, scenario) in measured
    # Every installed peer framework answered every scenario too (the checks passed).
    for label in report["versions"]:
        assert any(row["impl"] == label for row in report["rows"])
    scaling = {(row["impl"], row["protocol"]) for row in report["scaling"]}
    assert {("twinframe", "wsgi"), ("twinframe", "asgi"), ("twinframe", "matcher")} <= scaling
    assert "| hello |" in out.getvalue()


def _broken_module() -> types.ModuleType:
    """A benchmark implementation answering every scenario wrongly: "bad" for all (WSGI),
    a 500 (ASGI)."""
    module = types.ModuleType("benchmarks.apps.broken_app")

    def build_wsgi(routes: int) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
            return [b"bad"]

        return app

    def build_asgi(routes: int) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b""})

        return app

    module.HANDLERS = {"wsgi": "broken", "asgi": "broken"}  # type: ignore[attr-defined]
    module.build_wsgi = build_wsgi  # type: ignore[attr-defined]
    module.build_asgi = build_asgi  # type: ignore[attr-defined]
    return module


def test_a_wrong_answer_is_reported_not_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The broken implementation goes through the harness like any peer framework:
    # each of its answers is checked, reported as a failure and left out of the
    # timings, while the correct implementations are still timed.
    monkeypatch.setitem(sys.modules, "benchmarks.apps.broken_app", _broken_module())
    monkeypatch.setattr(
        inprocess,
        "IMPLEMENTATIONS",
        [*inprocess.IMPLEMENTATIONS, ("broken", "broken_app", ("wsgi", "asgi"))],
    )
    out = io.StringIO()
    report = inprocess.run(smoke=True, only={"broken"}, scaling=False, out=out)
    expected = {
        f"broken {protocol} {scenario}"
        for protocol in ("wsgi", "asgi")
        for scenario in SCENARIO_NAMES
    }
    reported = {failure.split(":", 1)[0] for failure in report["failures"]}
    assert reported == expected
    assert not [row for row in report["rows"] if row["impl"] == "broken"]
    timed = {(row["impl"], row["protocol"]) for row in report["rows"]}
    assert {("twinframe", "wsgi"), ("twinframe", "asgi"), ("bare", "wsgi")} <= timed
    assert out.getvalue().count("CHECK FAILED: broken") == len(expected)


def test_mounted_smoke_run_checks_every_pairing() -> None:
    from benchmarks import mounted

    out = io.StringIO()
    report = mounted.run(smoke=True, out=out)
    assert report["failures"] == [], out.getvalue()
    measured = {(row["impl"], row["pairing"]) for row in report["rows"]}
    for label, _, _ in mounted.PAIRINGS:
        assert ("twinframe", label) in measured and ("bare", label) in measured
    assert "| WSGI app under app.asgi | hello |" in out.getvalue()


def test_varied_scenarios_send_distinct_paths_each_checked() -> None:
    # dynamic and notfound cycle through VARIANTS distinct paths (a per-URL cache
    # cannot flatter them); a spread sample of them is checked before timing, and a
    # wrong answer for one of those paths is reported with the path.
    from benchmarks.drivers import WSGIDriver
    from benchmarks.scenarios import SCENARIOS, VARIANTS
    from twinframe import App

    for name in ("dynamic", "notfound"):
        scenario = next(s for s in SCENARIOS if s.name == name)
        driver = WSGIDriver(lambda environ, start_response: [], scenario)
        paths = {environ["PATH_INFO"] for environ in driver.environs}
        assert len(paths) == VARIANTS > 1200
    dynamic = next(s for s in SCENARIOS if s.name == "dynamic")
    app = App()
    app.add_route("/users/{id:d}", lambda req, id: {"id": id if id % 2 else id + 1})
    problem = WSGIDriver(app.wsgi, dynamic).check()
    assert problem is not None and problem.startswith("/users/")


def test_memory_script_reports_rss_per_scenario() -> None:
    # A token run (the opt-in benchmark serves 100,000 requests per scenario).
    from benchmarks import memory

    rows = memory.run(1500, ["hello", "notfound"], ["wsgi", "asgi"])
    assert [(r["protocol"], r["scenario"]) for r in rows] == [
        ("wsgi", "hello"),
        ("wsgi", "notfound"),
        ("asgi", "hello"),
        ("asgi", "notfound"),
    ]
    for row in rows:
        assert int(row["warm_kib"]) > 0 and int(row["after_kib"]) > 0  # type: ignore[call-overload]
    assert "| asgi | notfound |" in memory.format_rows(rows)


# About 10 s of CPU (Python starting and importing under callgrind, ~50x slower than
# native), which a machine shared with other runs can stretch past the default 60 s.
@pytest.mark.timeout(240)
def test_instruction_counts_under_callgrind() -> None:
    # A token run (the default counts 1,000 requests of every scenario and peer):
    # hello for the bare callables and twinframe, counted by callgrind in a child process.
    from benchmarks import instructions

    require_valgrind()
    hello = [s for s in SCENARIOS if s.name == "hello"]
    out = io.StringIO()
    report = instructions.run(hello, only=set(), requests=20, out=out)
    assert report["failures"] == [] and report["requests"] == 20
    rows = {(row["impl"], row["protocol"]): row for row in report["rows"]}
    assert set(rows) == {(i, p) for i in ("bare", "twinframe") for p in ("wsgi", "asgi")}
    for protocol in ("wsgi", "asgi"):
        bare, ours = rows["bare", protocol], rows["twinframe", protocol]
        assert bare["scenario"] == ours["scenario"] == "hello"
        # The bare callable still runs the driver's environ copy and its own code: thousands
        # of instructions; twinframe's routing, Request and Response cost more than that.
        assert bare["instructions"] > 1000
        assert ours["instructions"] > bare["instructions"]
        assert ours["ratio_bare"] == pytest.approx(ours["instructions"] / bare["instructions"])
        assert bare["ratio_bare"] == 1.0 and ours["ratio_falcon"] is None  # Falcon not asked for
    text = out.getvalue()
    assert "## wsgi" in text and "## asgi" in text and "| hello | " in text
