"""The benchmark harness keeps working: every implementation answers every scenario correctly.

Only correctness is asserted here; speed is measured by ``python -m benchmarks.inprocess``.
"""

from __future__ import annotations

import io
import sys

from realserver import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import inprocess
from benchmarks.scenarios import SCENARIO_NAMES


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


def test_a_wrong_answer_is_reported_not_timed() -> None:
    import asyncio

    from benchmarks.scenarios import SCENARIOS

    def broken(environ: dict[str, object], start_response: object) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])  # type: ignore[operator]
        return [b"bad"]

    scenario = SCENARIOS[0]
    from benchmarks.drivers import WSGIDriver

    status, headers, body = WSGIDriver(broken, scenario).once()
    assert scenario.check(status, headers, body) is not None
    loop = asyncio.new_event_loop()
    try:
        setup = inprocess.build(loop, [scenario], only={"twinframe"})
    finally:
        loop.close()
    assert setup.failures == []
    assert {(t.impl, t.protocol) for t in setup.targets} >= {
        ("twinframe", "wsgi"),
        ("bare", "asgi"),
    }
