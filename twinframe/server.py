"""The development server: ``app.run()`` and ``python -m twinframe serve module:app``.

For a quick local run only (use gunicorn or uvicorn in production):

- ``interface="wsgi"`` serves ``app.wsgi`` with the standard library's
  ``wsgiref``, one thread per connection, so it works on a bare install;
- ``interface="asgi"`` serves ``app.asgi`` with uvicorn when it is installed
  (``pip install 'twinframe[servers]'``).

Startup hooks run before the first request is accepted; Ctrl-C (SIGINT) or
SIGTERM stops accepting, then runs the shutdown hooks. ``reload=True`` keeps a
small watcher process that restarts the server whenever a ``.py`` file under
the working directory (or the app's own directory) changes.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import socketserver
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

if TYPE_CHECKING:
    from .app import App

Interface = Literal["wsgi", "asgi"]

INSTALL_HINT = "pip install 'twinframe[servers]'"
# Set in the server process the reloader starts, so that it serves instead of watching.
_RELOAD_CHILD = "TWINFRAME_RELOAD_CHILD"
_POLL_SECONDS = 0.5
_MAX_WATCHED_FILES = 20000
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "build", "dist"}


class DevServerError(RuntimeError):
    """The development server cannot start: unknown app, missing server package, port in use..."""


def run(
    app: App | str,
    host: str = "127.0.0.1",
    port: int = 8000,
    interface: Interface = "wsgi",
    reload: bool = False,
) -> None:
    """Serve ``app`` (an App, or ``"module:attribute"``) until Ctrl-C; see the module docstring."""
    if interface not in ("wsgi", "asgi"):
        raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
    if reload and not os.environ.get(_RELOAD_CHILD):
        roots = _watch_roots(app)
        raise SystemExit(_reloader(roots))
    target = load_app(app) if isinstance(app, str) else app
    if interface == "asgi":
        _serve_asgi(target, host, port, _label(app))
    else:
        _serve_wsgi(target, host, port, _label(app))


def load_app(target: str) -> App:
    """Import ``"module:attribute"`` (the attribute defaults to ``app``) and return the App."""
    from .app import App

    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise DevServerError(
                f"cannot import {module_name!r} (run from the directory that contains it)"
            ) from exc
        raise
    for name in (attribute or "app").split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise DevServerError(f"module {module_name!r} has no attribute {name!r}") from None
    # Accept "module:app.wsgi" / "module:app.asgi" too: both adapters keep their app.
    obj = getattr(obj, "app", obj) if not isinstance(obj, App) else obj
    if not isinstance(obj, App):
        raise DevServerError(f"{target!r} is a {type(obj).__name__}, not a twinframe App")
    return obj


def _label(app: App | str) -> str:
    return app if isinstance(app, str) else repr(app)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _announce(label: str, how: str, host: str, port: int) -> None:
    print(
        f"twinframe: serving {label} with {how} at {_url(host, port)} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )


class _GracefulExit(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM to leave the serve loop.

    A BaseException, like KeyboardInterrupt: socketserver catches ``Exception``
    around starting a connection's thread and would log the signal and keep serving.
    """


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise _GracefulExit(signal.Signals(signum).name)


def _configure_logging() -> None:
    # Tracebacks of failing handlers go to the twinframe logger: show them.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


# -- WSGI: wsgiref, one thread per connection -------------------------------------------


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client must not keep the process alive after Ctrl-C
    allow_reuse_address = True


class _IPv6ThreadingWSGIServer(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} - {format % args}\n")


def _serve_wsgi(app: App, host: str, port: int, label: str) -> None:
    _configure_logging()
    server_class = _IPv6ThreadingWSGIServer if ":" in host else _ThreadingWSGIServer
    try:
        server = server_class((host, port), _QuietHandler)
    except OSError as exc:
        raise DevServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    server.set_app(app.wsgi)
    previous = _install_signal_handlers()
    try:
        app.wsgi._start()
        if app.wsgi._startup_error is not None:
            error = app.wsgi._startup_error
            raise DevServerError(f"application startup failed: {type(error).__name__}: {error}")
        _announce(label, "wsgiref (WSGI, threaded)", host, server.server_port)
        try:
            server.serve_forever(poll_interval=0.25)
        except (_GracefulExit, KeyboardInterrupt):
            pass
        # A second SIGTERM (the reloader forwards one after the terminal's SIGINT)
        # must not cut the shutdown hooks short; a second Ctrl-C still does.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("twinframe: shutting down", file=sys.stderr, flush=True)
        server.server_close()
        app.wsgi._stop()
    finally:
        server.server_close()
        _restore_signal_handlers(previous)


# -- ASGI: uvicorn, when installed ----------------------------------------------------


def _serve_asgi(app: App, host: str, port: int, label: str) -> None:
    try:
        import uvicorn
    except ImportError:
        raise DevServerError(
            "serving app.asgi needs uvicorn, which is not installed.\n"
            f"    {INSTALL_HINT}    (or: pip install uvicorn)\n"
            "or serve app.wsgi with the standard library: interface='wsgi' / --interface wsgi"
        ) from None
    _configure_logging()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DevServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound_port = sock.getsockname()[1]

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # lifespan startup done, listening: now announce
                _announce(label, "uvicorn (ASGI)", host, bound_port)

    config = uvicorn.Config(app.asgi, lifespan="on", log_level="info")
    server = _Server(config)
    previous = _install_signal_handlers()
    try:
        # uvicorn handles SIGINT/SIGTERM itself (graceful shutdown, lifespan
        # shutdown), then re-raises the signal: our handler turns it into _GracefulExit.
        server.run(sockets=[sock])
    except (_GracefulExit, KeyboardInterrupt):
        pass
    except SystemExit as exc:
        if not server.started:
            raise DevServerError("application startup failed (see the log above)") from exc
        raise
    finally:
        sock.close()
        _restore_signal_handlers(previous)
    if not server.started:
        raise DevServerError("the server did not start (see the log above)")


def _install_signal_handlers() -> dict[int, Any]:
    return {int(sig): signal.signal(sig, _raise_exit) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


# -- reload: a watcher process that re-executes this command on source changes --------


def _watch_roots(app: App | str) -> list[Path]:
    roots = [Path.cwd()]
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file:
        roots.append(Path(main_file).resolve().parent)
    if isinstance(app, str):
        import importlib.util

        try:
            spec = importlib.util.find_spec(app.partition(":")[0])
        except (ImportError, ValueError):
            spec = None  # the server process reports it; we watch the working directory
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            roots.append(Path(spec.origin).resolve().parent)
    unique: list[Path] = []
    for root in roots:
        if not any(root == r or r in root.parents for r in unique):
            unique = [r for r in unique if root not in r.parents] + [root]
    return unique


def _python_files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            # Skip hidden directories, caches and virtualenvs: they are not the user's source.
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and d not in _SKIP_DIRS
                and not os.path.exists(os.path.join(directory, d, "pyvenv.cfg"))
            ]
            for name in filenames:
                if name.endswith(".py"):
                    yield Path(directory, name)


def _snapshot(roots: list[Path]) -> dict[Path, int]:
    mtimes: dict[Path, int] = {}
    for path in _python_files(roots):
        try:
            mtimes[path] = path.stat().st_mtime_ns
        except OSError:
            continue  # deleted while we looked
        if len(mtimes) >= _MAX_WATCHED_FILES:
            break
    return mtimes


def _changed(before: dict[Path, int], after: dict[Path, int]) -> Path | None:
    for path, mtime in after.items():
        if before.get(path) != mtime:
            return path
    for path in before:
        if path not in after:
            return path
    return None


def _reloader(roots: list[Path]) -> int:
    command = [sys.executable, *sys.orig_argv[1:]]
    env = {**os.environ, _RELOAD_CHILD: "1"}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {int(sig): signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(
        "twinframe: reload on: watching " + ", ".join(str(r) for r in roots),
        file=sys.stderr,
        flush=True,
    )
    snapshot = _snapshot(roots)
    child = subprocess.Popen(command, env=env)
    reported_exit = False
    try:
        while not stopping:
            time.sleep(_POLL_SECONDS)
            current = _snapshot(roots)
            changed = _changed(snapshot, current)
            if changed is not None:
                print(f"twinframe: {changed} changed, restarting", file=sys.stderr, flush=True)
                _stop_child(child)
                snapshot = current
                child = subprocess.Popen(command, env=env)
                reported_exit = False
            elif child.poll() is not None and not reported_exit:
                print(
                    f"twinframe: the server exited (code {child.returncode}); "
                    "it restarts when a source file changes",
                    file=sys.stderr,
                    flush=True,
                )
                reported_exit = True
    finally:
        _stop_child(child)
        _restore_signal_handlers(previous)
    return 0


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)  # the server runs its shutdown hooks, then exits
    try:
        child.wait(15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
