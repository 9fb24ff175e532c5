"""TrustedHost: answer only requests for this site's host names (400 for any other ``Host``).

::

    app.add_middleware(TrustedHost(["example.com", "*.example.com"]))

Code that builds absolute URLs from ``req.host`` (``req.url``, redirects, links in
emails) then never writes a host an attacker chose. The check also guards
websocket handshakes (registered as a ``before_websocket`` hook).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from ..connection import HTTPConnection
from ..errors import BadRequest
from ..request import Request
from ..response import Response

__all__ = ["TrustedHost"]


class TrustedHost:
    """Refuse (400) requests whose ``Host`` is not one of ``allowed_hosts``.

    Entries are host names without port: ``"example.com"`` (exactly that name),
    ``"*.example.com"`` (any subdomain, not ``example.com`` itself; list both for
    both), or ``"*"`` (anything: e.g. to switch the check off in development).
    IP literals are written as sent: ``"127.0.0.1"``, ``"[::1]"``.
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts is a list of host names, e.g. ['example.com']")
        hosts = [host.strip().lower() for host in allowed_hosts]
        if not hosts:
            raise ValueError("TrustedHost needs at least one allowed host (or '*')")
        for host in hosts:
            if not host or ("*" in host and host != "*" and not host.startswith("*.")):
                raise ValueError(
                    f"allowed host {host!r}: write 'example.com', '*.example.com' or '*'"
                )
            if ":" in host.rpartition("]")[2]:
                raise ValueError(f"allowed host {host!r}: leave the port out")
        self.allow_any = "*" in hosts
        self._exact = frozenset(h for h in hosts if not h.startswith("*."))
        self._suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))  # ".example.com"

    def __repr__(self) -> str:
        return f"<TrustedHost {sorted(self._exact) + ['*' + s for s in self._suffixes]}>"

    def allowed(self, host: str) -> bool:
        """True if ``host`` (a Host header value, port allowed) is one this app serves."""
        if self.allow_any:
            return True
        name = host.lower()
        if name.startswith("["):
            name = name[: name.find("]") + 1]
        else:
            name = name.partition(":")[0]
        name = name.rstrip(".")  # "example.com." is the same name, fully qualified
        return name in self._exact or name.endswith(self._suffixes)

    def check(self, conn: HTTPConnection) -> None:
        """Raise ``BadRequest`` unless the request's host is allowed."""
        if self.allow_any:
            return
        host = conn._header("host")
        if not host:
            raise BadRequest("the request has no Host header")
        if not self.allowed(conn.host):  # conn.host: 400 for a malformed one
            raise BadRequest(f"host {host[:100]!r} is not served here")

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        self.check(req)
        return await call_next(req)

    def before_websocket(self, ws: HTTPConnection) -> None:
        """The same check on websocket handshakes (``add_middleware`` registers it)."""
        self.check(ws)
