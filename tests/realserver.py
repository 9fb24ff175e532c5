"""Real servers for tests: start ``python -m <server>`` on 127.0.0.1 with a free port, stop by pid.

Test modules under ``tests/servers/`` get them through the ``server_factory``
fixture (``tests/servers/conftest.py``); modules that start a server by hand
import ``start_server`` and the base command lines from here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gunicorn.config
import httpx

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (examples/, benchmarks/, docs/ and the package live under it)."""


# gunicorn >= 25.1 opens a control socket at one per-user path; servers started in
# parallel (several tests, several helpers' suites) would fight over it.
_NO_CONTROL_SOCKET = (
    ["--no-control-socket"]
    if any(s.name == "control_socket_disable" for s in gunicorn.config.KNOWN_SETTINGS)
    else []
)
GUNICORN_BASE_ARGS = ["gunicorn", "--bind", "127.0.0.1:{port}", *_NO_CONTROL_SOCKET]
"""``gunicorn`` on a loopback ``{port}``: append options and the ``module:app.wsgi`` target."""
UVICORN_BASE_ARGS = ["uvicorn", "--host", "127.0.0.1", "--port", "{port}"]
"""``uvicorn`` on a loopback ``{port}``: append options and the ``module:app.asgi`` target."""
GRANIAN_BASE_ARGS = ["granian", "--host", "127.0.0.1", "--port", "{port}"]
"""``granian`` on a loopback ``{port}``: append ``--interface wsgi|asgi`` and the target."""


def server_commands(app: str) -> dict[str, list[str]]:
    """The three setups the load and fault tests run ``app`` (``module:app``) under.

    gunicorn with two sync worker processes, gunicorn with one gthread worker
    of 8 threads (both serving ``app.wsgi``) and one uvicorn process (``app.asgi``).
    """
    return {
        "gunicorn-sync": [*GUNICORN_BASE_ARGS, "--workers", "2", f"{app}.wsgi"],
        "gunicorn-gthread": [
            *GUNICORN_BASE_ARGS,
            *("--worker-class", "gthread", "--workers", "1", "--threads", "8"),
            f"{app}.wsgi",
        ],
        "uvicorn": [*UVICORN_BASE_ARGS, f"{app}.asgi"],
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real server process on 127.0.0.1, stopped by pid."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_server(
    args: list[str],
    tmp_path: Path,
    port: int | None = None,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    ready_path: str = "/",
    wait: bool = True,
    timeout: float = 30,
) -> Server:
    """Start ``python -m <args>`` with ``{port}`` filled in; wait until it answers HTTP."""
    port = port or free_port()
    log = tmp_path / f"server-{port}.log"
    python_path = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    full_env = {**os.environ, "PYTHONPATH": python_path, **(env or {})}
    command = [sys.executable, "-m", *[a.format(port=port) for a in args]]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=full_env
        )
    server = Server(proc, port, log)
    if wait:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.output}")
            try:
                httpx.get(server.url + ready_path, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    server.stop(signal.SIGKILL)
                    raise RuntimeError(
                        f"server did not answer within {timeout}s:\n{server.output}"
                    ) from None
                time.sleep(0.1)
    return server
