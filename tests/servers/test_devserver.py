"""The development server: ``python -m twinframe serve`` and ``app.run`` on both interfaces."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from realserver import ROOT

pytestmark = pytest.mark.servers

APP = "servers.devserver_app"
# Importing any of these fails in the WSGI runs: the stdlib server needs none of them.
NOT_INSTALLED = ("uvicorn", "gunicorn", "gevent")


def _env(tmp_path: Path, interface: str) -> dict[str, str]:
    paths = [str(ROOT), str(ROOT / "tests")]
    if interface == "wsgi":
        blocker = tmp_path / "not-installed"
        blocker.mkdir(exist_ok=True)
        for name in NOT_INSTALLED:
            (blocker / f"{name}.py").write_text(f"raise ImportError('{name} is not installed')\n")
        paths.insert(0, str(blocker))
    return {"PYTHONPATH": os.pathsep.join(paths), "TWINFRAME_TEST_MARKERS": str(tmp_path)}


LAUNCHERS = {
    "cli": lambda interface: [
        *("twinframe", "serve", f"{APP}:app"),
        *("--interface", interface, "--port", "{port}"),
    ],
    "app.run": lambda interface: [APP, "{port}", interface],
}


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_serves_runs_hooks_and_stops_cleanly_on_ctrl_c(
    server_factory, tmp_path, launcher, interface
):
    server = server_factory(LAUNCHERS[launcher](interface), env=_env(tmp_path, interface))
    assert (tmp_path / "startup").read_text() == str(server.proc.pid)
    assert f"http://127.0.0.1:{server.port}/" in server.output
    response = httpx.get(server.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.text == "dev server"
    assert httpx.get(server.url + "/async", timeout=10).json() == {"async": True, "started": True}
    assert httpx.get(server.url + "/nope", timeout=10).status_code == 404
    assert not (tmp_path / "shutdown").exists()
    assert server.stop(signal.SIGINT) == 0, server.output
    assert (tmp_path / "shutdown").read_text() == str(server.proc.pid)
    assert "Traceback" not in server.output


def test_sigterm_also_runs_the_shutdown_hooks(server_factory, tmp_path):
    server = server_factory(LAUNCHERS["cli"]("wsgi"), env=_env(tmp_path, "wsgi"))
    assert server.stop(signal.SIGTERM) == 0, server.output
    assert (tmp_path / "shutdown").exists()


def test_sigterm_while_connections_arrive_still_stops_the_server(server_factory, tmp_path):
    # The signal lands in the main thread, often while it starts a connection's
    # thread, where socketserver catches Exception: the stop must not be swallowed.
    server = server_factory(LAUNCHERS["cli"]("wsgi"), env=_env(tmp_path, "wsgi"))
    stop = threading.Event()

    def connect_repeatedly() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    sock.recv(100)
            except OSError:
                pass  # refused once the server stopped listening

    clients = [threading.Thread(target=connect_repeatedly) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        time.sleep(0.3)  # let connections pile up; any moment is a valid moment to stop
        assert server.stop(signal.SIGTERM) == 0, server.output
    finally:
        stop.set()
        for client in clients:
            client.join(10)
    assert (tmp_path / "shutdown").exists()
    assert "_GracefulExit" not in server.output


def _run_cli(
    *args: str, hide: tuple[str, ...] = (), cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"for name in {hide!r}: sys.modules[name] = None  # as if not installed\n"
        "from twinframe.__main__ import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=30
    )


def test_asgi_without_uvicorn_says_how_to_install_it():
    args = ("serve", "examples.hello:app", "--interface", "asgi", "--port", "0")
    result = _run_cli(*args, hide=("uvicorn",))
    assert result.returncode == 1
    assert "needs uvicorn" in result.stderr
    assert "pip install 'twinframe[servers]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_app_is_a_clear_error():
    result = _run_cli("serve", "examples.hello:nope", "--port", "0")
    assert result.returncode == 1
    assert "has no attribute 'nope'" in result.stderr
    result = _run_cli("serve", "no_such_module:app", "--port", "0")
    assert result.returncode == 1
    assert "cannot import 'no_such_module'" in result.stderr


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_failing_startup_hook_stops_the_server_with_its_error(tmp_path, interface):
    (tmp_path / "failing.py").write_text(
        textwrap.dedent(
            """
            from twinframe import App

            app = App()


            @app.on_startup
            def connect():
                raise ValueError("database unreachable")
            """
        )
    )
    result = _run_cli("serve", "failing:app", "--interface", interface, "--port", "0", cwd=tmp_path)
    assert result.returncode == 1
    assert "database unreachable" in result.stderr
    assert "twinframe: application startup failed" in result.stderr
    assert "(Ctrl-C to stop)" not in result.stderr  # it never announced itself as serving


def _module(version: str) -> str:
    return textwrap.dedent(
        f"""
        from twinframe import App

        app = App()


        @app.get("/")
        def index(req):
            return {version!r}
        """
    )


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    # Move the mtime forward explicitly: coarse filesystem clocks must not hide the edit.
    later = time.time() + 2
    os.utime(path, (later, later))


def _wait_for(url: str, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2).text
            if last == text:
                return
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"never saw {text!r}; last answer: {last!r}")


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_reload_restarts_on_source_changes(server_factory, tmp_path, interface):
    source = tmp_path / "reloadme.py"
    _write(source, _module("v1"))
    command = ["twinframe", "serve", "reloadme:app", "--reload", "--interface", interface]
    server = server_factory([*command, "--port", "{port}"], cwd=tmp_path)
    assert httpx.get(server.url + "/", timeout=10).text == "v1"
    _write(source, _module("v2"))
    _wait_for(server.url + "/", "v2")
    # A broken edit stops the server process; the watcher stays and recovers on the next fix.
    _write(source, "this is not python\n")
    deadline = time.monotonic() + 20
    while "the server exited" not in server.output:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.1)
    _write(source, _module("v3"))
    _wait_for(server.url + "/", "v3")
    assert server.stop(signal.SIGINT) == 0, server.output
    assert "changed, restarting" in server.output
