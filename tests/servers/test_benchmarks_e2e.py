"""The end-to-end benchmark script keeps working: servers start, answer correctly, stop.

A token load (half a second, Python load generator); speed itself is measured by
``python -m benchmarks.e2e``, never asserted.
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
def test_e2e_script_serves_both_apps_under_every_server(tmp_path: Path) -> None:
    servers = ["gunicorn", "uvicorn", "granian-wsgi", "granian-asgi"]
    results = e2e.run(servers, 0.5, 1, 2, tmp_path, python_load=True)
    assert list(results) == servers
    for rows in results.values():
        assert [row.spec.app for row in rows] == ["bare", "twinframe"]
        for row in rows:
            assert row.errors == 0
            assert row.rps and row.rps[0] > 0
    table = e2e.format_results(results)
    assert "| uvicorn --loop uvloop --http httptools |" in table
    assert "| granian --interface wsgi |" in table
    assert "| granian --interface asgi |" in table
