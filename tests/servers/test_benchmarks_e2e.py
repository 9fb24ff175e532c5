"""The end-to-end benchmark script keeps working: servers start, answer correctly, stop.

A token load (a quarter second per run, Python load generator); speed itself is
measured by ``python -m benchmarks.e2e``, never asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from realserver import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import e2e


@pytest.mark.servers
def test_e2e_script_serves_every_app_under_every_server(tmp_path: Path) -> None:
    servers = ["gunicorn", "uvicorn", "granian-wsgi", "granian-asgi"]
    results = e2e.run(servers, 0.25, 1, 2, tmp_path, python_load=True)
    assert list(results) == servers
    for name, rows in results.items():
        apps, _ = e2e.available_apps(e2e.SERVERS[name].interface)
        assert {"bare", "twinframe"} <= set(apps)
        # Every app ran every scenario, with no error (answers were checked first).
        assert {(row.spec.app, row.scenario) for row in rows} == {
            (app, scenario) for app in apps for scenario in e2e.LOAD_SCENARIOS
        }
        for row in rows:
            assert row.errors == 0, (name, row.spec.app, row.scenario)
            assert len(row.rps) == 1 and row.rps[0] > 0
    table = e2e.format_results(results)
    assert "| uvicorn --loop uvloop --http httptools | hello | bare |" in table
    assert "| gunicorn -k gthread (keep-alive) | echo | twinframe |" in table
    assert "| granian --interface wsgi | dynamic |" in table
    assert "| granian --interface asgi | hello |" in table


def test_a_wrong_answer_stops_the_run_before_any_load() -> None:
    # check_answers() compares each scenario's answers with what it must be: a
    # server answering hello where a dynamic path's JSON is due is refused.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b"Hello, World!")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert e2e.check_answers(url, [e2e.LOAD_SCENARIOS["hello"]]) is None
        problem = e2e.check_answers(url, [e2e.LOAD_SCENARIOS["dynamic"]])
        assert problem is not None and problem.startswith("/users/0 answered 200")
    finally:
        server.shutdown()
        server.server_close()
