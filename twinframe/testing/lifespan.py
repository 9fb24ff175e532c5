"""The ASGI lifespan protocol, driven from a test: startup on entering, shutdown on leaving."""

from __future__ import annotations

from .portal import AppCall, ASGIApp, Message, Portal


class LifespanDriver:
    """Runs the ASGI lifespan protocol against the app on the portal's loop."""

    def __init__(self, asgi_app: ASGIApp, portal: Portal, timeout: float) -> None:
        self.app = asgi_app
        self.portal = portal
        self.timeout = timeout
        self._call: AppCall | None = None

    def _exchange(self, message_type: str) -> Message:
        assert self._call is not None
        self._call.put({"type": message_type})
        reply = self._call.next(f"the answer to {message_type}")
        if reply is None:
            raise RuntimeError(
                f"the app ended the lifespan protocol before answering {message_type}"
            )
        return reply

    def startup(self) -> None:
        """Send ``lifespan.startup``; raise ``RuntimeError`` if the app reports a failure."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._call = AppCall(self.portal, self.app, scope, self.timeout)
        reply = self._exchange("lifespan.startup")
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"startup failed: {reply.get('message', '')}")

    def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the app to return."""
        reply = self._exchange("lifespan.shutdown")
        assert self._call is not None
        self._call.wait("lifespan.shutdown")
        if reply["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"shutdown failed: {reply.get('message', '')}")
