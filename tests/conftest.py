"""Shared fixtures: a TestClient parametrized over both entrypoints.

Real-server fixtures live in ``tests/servers/conftest.py``; helpers shared by
modules (apps, assertions, the server starter) live in ``helpers.py`` and
``realserver.py``, imported by name (never from conftest).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from system_programs import PostgresServer, run_postgres

from twinframe import App
from twinframe.testing import TestClient

INTERFACES = ["wsgi", "asgi"]


def pytest_configure(config: pytest.Config) -> None:
    """Check the coverage floor on a whole run only.

    ``fail_under`` ([tool.coverage.report]) is the figure for the whole suite; a
    run of one file, or with ``-k``/``-m``/``--lf``, covers less by design and
    must not fail for it. Coverage is still measured and reported.
    """
    option = config.option
    whole_run = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not getattr(option, "keyword", "")
        and not getattr(option, "markexpr", "")
        and not getattr(option, "deselect", None)
        and not getattr(option, "lf", False)
        and not option.collectonly
    )
    coverage = config.pluginmanager.get_plugin("_cov")  # pytest-cov's, when measuring
    if not whole_run and coverage is not None:
        coverage.options.cov_fail_under = None


@pytest.fixture(params=INTERFACES)
def interface(request: pytest.FixtureRequest) -> str:
    """'wsgi' or 'asgi': every test using it runs once per entrypoint."""
    return str(request.param)


@pytest.fixture
def make_client(interface: str) -> Iterator[Callable[[App], TestClient]]:
    """Build a TestClient for an app on the current entrypoint (closed after the test)."""
    clients: list[TestClient] = []

    def make(app: App, **kwargs: object) -> TestClient:
        client = TestClient(app, interface, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One private PostgreSQL cluster for the whole run (started on first use)."""
    yield from run_postgres()


@pytest.fixture(params=["sqlite", "postgresql"])
def blog_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database for the blog example: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "blog.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


# Per-test timeouts (pytest-timeout): the pytest config's `timeout` (60 s) for
# in-process tests; a real-server test starts processes and talks to them over
# sockets on a machine shared with other runs, so it gets longer; the long
# TWINFRAME_LONG=1 soak runs longer still. A test's own @pytest.mark.timeout wins.
LONG = os.environ.get("TWINFRAME_LONG") == "1"
SERVER_TIMEOUT = 1800 if LONG else 240
IN_PROCESS_LONG_TIMEOUT = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give real-server tests (and every test of a long run) a longer per-test timeout."""
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        if item.get_closest_marker("servers") is not None:
            item.add_marker(pytest.mark.timeout(SERVER_TIMEOUT))
        elif LONG:
            item.add_marker(pytest.mark.timeout(IN_PROCESS_LONG_TIMEOUT))
