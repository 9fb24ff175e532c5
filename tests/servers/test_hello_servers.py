"""examples/hello.py under the commands the README and docs/servers.md promise."""

from __future__ import annotations

import signal

import httpx
import pytest
from realserver import GRANIAN_BASE_ARGS, GUNICORN_BASE_ARGS

pytestmark = pytest.mark.servers

COMMANDS = {
    "gunicorn": [*GUNICORN_BASE_ARGS, "examples.hello:app.wsgi"],
    "gunicorn-gthread": [
        *GUNICORN_BASE_ARGS,
        "--workers=2",
        "--worker-class=gthread",
        "examples.hello:app.wsgi",
    ],
    "uvicorn": ["uvicorn", "--port", "{port}", "examples.hello:app.asgi"],
    "uvicorn-workers": ["uvicorn", "--port", "{port}", "examples.hello:app.asgi", "--workers", "4"],
    "granian-wsgi": [*GRANIAN_BASE_ARGS, "--interface", "wsgi", "examples.hello:app.wsgi"],
    "granian-asgi": [*GRANIAN_BASE_ARGS, "--interface", "asgi", "examples.hello:app.asgi"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_hello_serves(server_factory, name):
    server = server_factory(COMMANDS[name], timeout=60)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        # Several requests: with several workers they may land on different processes.
        for _ in range(8):
            response = client.get("/")
            assert response.status_code == 200
            assert response.text == "Hello, World!"
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert client.get("/missing").status_code == 404
    # uvicorn re-raises the signal it caught after a graceful shutdown (exit -15).
    assert server.stop() in (0, -signal.SIGTERM)
    if name.startswith("uvicorn"):
        assert "Application shutdown complete" in server.output
    elif name.startswith("granian"):
        assert "Granian shutdown completed" in server.output
    else:
        assert "Shutting down: Master" in server.output
