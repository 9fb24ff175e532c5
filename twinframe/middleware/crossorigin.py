"""CrossOriginProtection: refuse form posts and other unsafe requests from other sites (CSRF).

Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current
browser) and ``Origin``. This middleware refuses a POST, PUT, PATCH or DELETE
(any method but GET, HEAD, OPTIONS and TRACE) that a browser marks as coming from
another site, so no token has to be threaded through forms:

1. ``Sec-Fetch-Site: same-origin`` or ``none`` (typed in, a bookmark): allowed;
   ``same-site`` or ``cross-site``: refused, unless ``Origin`` is trusted.
2. No ``Sec-Fetch-Site`` (older browsers): ``Origin`` must name this host
   (the ``Host`` header) or a trusted origin.
3. Neither header: not a browser (curl, a server, a test) or a very old one;
   allowed, since a cross-site forgery needs a browser.

Refusals are ``403 Forbidden`` (problem+json, or the app's own 403 handler).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from ..errors import Forbidden
from ..request import Request
from ..response import Response

__all__ = ["SAFE_METHODS", "CrossOriginProtection"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods that must not change anything, so are never refused."""


class CrossOriginProtection:
    """Refuse unsafe-method requests a browser marks as cross-site (403).

    ``trusted_origins`` lists origins allowed to post here all the same, written
    as browsers send them: ``"https://app.example.com"`` (scheme, host, and the
    port unless it is the default).
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(self, trusted_origins: Iterable[str] = ()) -> None:
        trusted = set()
        for origin in trusted_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(
                    f"trusted origin {origin!r} is not scheme://host[:port] "
                    "(e.g. 'https://app.example.com')"
                )
            trusted.add(f"{parts.scheme}://{parts.netloc}".lower())
        self.trusted_origins = frozenset(trusted)

    def __repr__(self) -> str:
        return f"<CrossOriginProtection trusted={sorted(self.trusted_origins)}>"

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if req.method not in SAFE_METHODS:
            self.check(req)
        return await call_next(req)

    def check(self, req: Request) -> None:
        """Raise ``Forbidden`` if ``req`` is a cross-site request from a browser."""
        origin = req._header("origin")
        site = req._header("sec-fetch-site")
        if site is not None:
            site = site.strip().lower()
            if site in ("same-origin", "none"):
                return
            if origin is not None and origin.lower() in self.trusted_origins:
                return
            raise Forbidden(
                f"cross-origin {req.method} request refused (Sec-Fetch-Site: {site[:20]})"
            )
        if origin is None:
            return
        origin = origin.strip().lower()
        if origin in self.trusted_origins:
            return
        # req.host: the Host header, or what ProxyHeaders found the client asked for.
        if origin != "null" and urlsplit(origin).netloc == req.host.lower():
            return
        raise Forbidden(
            f"cross-origin {req.method} request refused (Origin {origin[:100]!r} is not this site)"
        )
