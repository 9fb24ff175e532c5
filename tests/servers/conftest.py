"""Real-server fixtures: servers started as subprocesses, each stopped by pid after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from realserver import Server, start_server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start real servers for a test; every one is stopped by pid afterwards."""
    servers: list[Server] = []

    def factory(args: list[str], **kwargs: object) -> Server:
        server = start_server(args, tmp_path, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
