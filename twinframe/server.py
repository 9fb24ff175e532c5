"""The development server: ``app.run()`` and ``python -m twinframe serve module:app``.

For a quick local run only (use gunicorn or uvicorn in production):

- ``interface="wsgi"`` serves ``app.wsgi`` with the standard library's
  ``wsgiref``, one thread per connection, so it works on a bare install;
- ``interface="asgi"`` serves ``app.asgi`` with uvicorn when it is installed
  (``pip install 'twinframe[servers]'``).

Startup hooks run before the first request is accepted; Ctrl-C (SIGINT) or
SIGTERM stops accepting, then runs the shutdown hooks. ``reload=True`` keeps a
small watcher process that restarts the server on source changes
(``twinframe.reload``).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import socketserver
import sys
from types import FrameType
from typing import Any, Literal, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .asgi import ASGIAdapter
from .reload import RELOAD_CHILD, run_reloader, watch_roots
from .wsgi import WSGIAdapter


class Servable(Protocol):
    """What the server needs of an App: its two entrypoints (``twinframe.App`` is one)."""

    @property
    def wsgi(self) -> WSGIAdapter: ...

    @property
    def asgi(self) -> ASGIAdapter: ...


def _is_app(obj: Any) -> bool:
    # Duck-typed rather than isinstance(obj, App): this module sits below app.py
    # (App.run calls it), so importing App here would be an import cycle.
    return isinstance(getattr(obj, "wsgi", None), WSGIAdapter) and isinstance(
        getattr(obj, "asgi", None), ASGIAdapter
    )


Interface = Literal["wsgi", "asgi"]

INSTALL_HINT = "pip install 'twinframe[servers]'"


class DevServerError(RuntimeError):
    """The development server cannot start: unknown app, missing server package, port in use..."""


def run(
    app: Servable | str,
    host: str = "127.0.0.1",
    port: int = 8000,
    interface: Interface = "wsgi",
    reload: bool = False,
) -> None:
    """Serve ``app`` (an App, or ``"module:attribute"``) until Ctrl-C; see the module docstring."""
    if interface not in ("wsgi", "asgi"):
        raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
    if reload and not os.environ.get(RELOAD_CHILD):
        raise SystemExit(run_reloader(watch_roots(app)))
    target = load_app(app) if isinstance(app, str) else app
    if interface == "asgi":
        _serve_asgi(target, host, port, _label(app))
    else:
        _serve_wsgi(target, host, port, _label(app))


def load_app(target: str) -> Servable:
    """Import ``"module:attribute"`` (the attribute defaults to ``app``) and return the App."""
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
    obj = getattr(obj, "app", obj) if not _is_app(obj) else obj
    if not _is_app(obj):
        raise DevServerError(f"{target!r} is a {type(obj).__name__}, not a twinframe App")
    return obj  # type: ignore[no-any-return]


def _label(app: Servable | str) -> str:
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


def _serve_wsgi(app: Servable, host: str, port: int, label: str) -> None:
    _configure_logging()
    server_class = _IPv6ThreadingWSGIServer if ":" in host else _ThreadingWSGIServer
    try:
        server = server_class((host, port), _QuietHandler)
    except OSError as exc:
        raise DevServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    server.set_app(app.wsgi)
    previous = _install_signal_handlers()
    try:
        try:
            app.wsgi.startup()
        except Exception as error:  # already logged with its traceback
            raise DevServerError(
                f"application startup failed: {type(error).__name__}: {error}"
            ) from None
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
        app.wsgi.shutdown()
    finally:
        server.server_close()
        _restore_signal_handlers(previous)


# -- ASGI: uvicorn, when installed ----------------------------------------------------


def _serve_asgi(app: Servable, host: str, port: int, label: str) -> None:
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
