"""Startup once per process, shutdown once: for servers that do not drive the app's lifespan.

WSGI has no lifespan protocol, and some ASGI servers never send one (``uvicorn
--lifespan off``, Granian's ``asginl``, some serverless adapters). There the
adapter asks a ``Lifecycle`` to start the app before the first request it
serves, and the ``Lifecycle`` makes sure that:

- startup runs once, however many requests arrive together: the first runs
  it, the others wait for it (threads under WSGI, tasks under ASGI);
- a failed startup is logged once, and every request is then refused with a
  500 (``refusal``), without retrying;
- shutdown runs once, at the first of: the adapter's own ``stop``, the end of
  the event loop startup ran on (``watch_loop``), SIGTERM/SIGINT
  (``watch_signals``: the hooks run, then the server gets the signal), or the
  normal exit of the process (``atexit``).

Nothing here knows WSGI or ASGI; the adapters say which server-driven events
they saw.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import TYPE_CHECKING, Any

from .response import Response, problem_response

if TYPE_CHECKING:
    from .contract import Application
    from .request import Request

logger = logging.getLogger("twinframe")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Lifecycle:
    """The startup/shutdown state of one app under one adapter, in this process."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.started = False
        """True once startup has run (whether it succeeded: see ``error``)."""
        self.error: BaseException | None = None
        """Why startup failed, or None."""
        self._lock = threading.Lock()
        self._starting: asyncio.Future[None] | None = None  # an async startup under way
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None
        self._previous: dict[int, SignalHandler] = {}
        self._exit_stop: Callable[[], object] = self._stop_on_new_loop
        self.on_stop: Callable[[], None] | None = None
        """Called when a shutdown claims the app (so an adapter can reset its fast path)."""

    @property
    def starting(self) -> bool:
        """True while an async startup runs (concurrent callers are waiting for it)."""
        return self._starting is not None

    # -- startup ----------------------------------------------------------------------

    def start(self, run: Callable[[], object], stop: Callable[[], object]) -> None:
        """Run startup with ``run()`` (blocking) unless it ran; threads wait for the first one.

        ``stop()`` is how shutdown runs at the process's exit.
        """
        with self._lock:
            if self.started:
                return
            self._exit_stop = stop
            try:
                run()
            except Exception as exc:
                self._failed(exc)
            else:
                atexit.register(self._at_exit)
            self.started = True

    async def start_async(self) -> None:
        """Run ``app.startup()`` on the running loop unless it ran; concurrent callers wait.

        The waiting callers are not cancelled with the first: startup runs in a
        task of its own, so a client that leaves does not abort it.
        """
        if self.started:
            return
        if self._starting is None:
            self._exit_stop = self._stop_on_new_loop
            self._starting = asyncio.get_running_loop().create_task(self._run_startup())
        await asyncio.shield(self._starting)

    async def _run_startup(self) -> None:
        try:
            await self.app.startup()
        except Exception as exc:
            self._failed(exc)
        else:
            atexit.register(self._at_exit)
            self.watch_loop()
            self.watch_signals()
        self.started = True
        self._starting = None

    def _failed(self, exc: BaseException) -> None:
        logger.error("startup failed; every request will answer 500", exc_info=exc)
        self.error = exc

    def refuse(self, what: str) -> None:
        """Log that ``what`` (``"GET /path"``) is refused because startup failed."""
        logger.error("refusing %s: startup failed: %r", what, self.error)

    def refusal(self, req: Request) -> Response:
        """The 500 for a request that arrives after a failed startup (logged, not retried)."""
        self.refuse(f"{req.method} {req.path}")
        return problem_response(500, None, None, req._header("accept"))

    # -- shutdown ---------------------------------------------------------------------

    def _claim_stop(self) -> bool:
        """True for the one caller that must run the shutdown hooks (startup succeeded)."""
        with self._lock:
            if not self.started or self._stopping:
                return False
            failed = self.error is not None
            self.started = False
            self.error = None
            atexit.unregister(self._at_exit)
            if failed:
                return False  # nothing was started, so there is nothing to shut down
            self._stopping = True
        self._unwatch()
        if self.on_stop is not None:
            self.on_stop()
        return True

    def stop(self, run: Callable[[], object]) -> None:
        """Run shutdown with ``run()`` (blocking), once, if startup succeeded."""
        if not self._claim_stop():
            return
        try:
            run()
        except Exception:
            logger.exception("shutdown failed")
        finally:
            self._stopping = False

    async def stop_async(self) -> None:
        """Run ``app.shutdown()`` on the running loop, once, if startup succeeded."""
        if not self._claim_stop():
            return
        try:
            await self.app.shutdown()
        except Exception:
            logger.exception("shutdown failed")
        finally:
            self._stopping = False

    def _at_exit(self) -> None:
        self.stop(self._exit_stop)

    def _stop_on_new_loop(self) -> None:
        # The process ends normally: the loop startup ran on may be gone, so use a new one.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.app.shutdown())
        finally:
            loop.close()

    # -- noticing the end, for an async startup ---------------------------------------

    def watch_loop(self) -> None:
        """Run shutdown on this loop when it ends: when its remaining tasks are cancelled
        (``asyncio.run`` and servers built on it do that before closing the loop)."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self._watcher = None
            await self.stop_async()
            raise

    def watch_signals(self) -> None:
        """On SIGTERM/SIGINT, run shutdown on the loop first, then hand the signal on.

        Some servers end the process from their own signal handler, or by
        re-raising the signal once they have stopped, so ``atexit`` never runs:
        the hooks must run before the server learns of the signal. Only the
        main thread can set signal handlers; elsewhere this does nothing.
        """
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal(loop))
            except (ValueError, OSError):  # pragma: no cover - not the main interpreter
                continue

    def _on_signal(self, loop: asyncio.AbstractEventLoop) -> Callable[[int, Any], None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            previous = self._previous.get(signum)
            if self._stopping or not self.started or loop.is_closed():
                # A second signal while the hooks run (or nothing to stop): pass it on now.
                self._unwatch()
                _hand_on(signum, frame, previous)
                return

            async def shutdown_then_hand_on() -> None:
                await self.stop_async()
                _hand_on(signum, None, previous)

            loop.call_soon_threadsafe(_spawn, loop, shutdown_then_hand_on)

        return handler

    def _unwatch(self) -> None:
        """Give the signals back to the handlers we found, and stop watching the loop."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError, TypeError):
                pass  # not the main thread now: leave ours, which hands the signal on
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            try:
                current = asyncio.current_task()
            except RuntimeError:
                current = None
            loop = watcher.get_loop()
            # A loop closed without cancelling its tasks (a process ending, a test's own
            # loop) can take no more callbacks: there is nothing left to stop on it.
            if watcher is not current and not loop.is_closed():
                loop.call_soon_threadsafe(watcher.cancel)


_background: set[asyncio.Task[None]] = set()


def _spawn(loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    task = loop.create_task(make())
    _background.add(task)  # keep a reference until it is done
    task.add_done_callback(_background.discard)


def _hand_on(signum: int, frame: FrameType | None, previous: SignalHandler) -> None:
    """Do what the handler we replaced would have done with this signal."""
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # The default action (or a handler set outside Python): restore it and re-raise.
    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    signal.raise_signal(signum)
