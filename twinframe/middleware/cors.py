"""CORS: let pages of other origins call this app from a browser (``fetch``, XHR).

::

    app.add_middleware(CORS(allow_origins=["https://app.example.com", "https://*.example.com"]))

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered here,
without calling a handler: 204 with the ``Access-Control-Allow-*`` headers when the
origin, method and headers are allowed, 400 saying which is not otherwise. Other
requests from an allowed origin get ``Access-Control-Allow-Origin`` on their
response (error responses included); a disallowed origin gets no CORS header, so
the browser keeps the response from the page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable

from ..request import Request
from ..response import Response, problem_response
from ._vary import add_vary

__all__ = ["CORS"]

# Request headers a browser sends cross-origin without asking (the Fetch standard's
# CORS-safelisted names; Content-Type only for form and text types).
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_ORIGIN = re.compile(r"(https?)://(\*\.)?([A-Za-z0-9.-]+)(:[0-9]{1,5})?/?\Z")


class CORS:
    """Cross-Origin Resource Sharing for the origins in ``allow_origins``.

    ``allow_origins``: exact origins (``"https://app.example.com"``), patterns with
    one leading wildcard label (``"https://*.example.com"``: any subdomain, not the
    bare domain), or ``["*"]`` for any origin. ``allow_methods`` and
    ``allow_headers`` bound what a preflight accepts (``["*"]``: anything asked);
    ``expose_headers`` lists response headers the page may read;
    ``allow_credentials`` lets the page send cookies (the origin is then echoed,
    never ``*``); ``max_age`` is how long, in seconds, a browser may cache a preflight.
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(
        self,
        allow_origins: Iterable[str],
        *,
        allow_methods: Iterable[str] = _ALL_METHODS,
        allow_headers: Iterable[str] = ("Content-Type", "Authorization"),
        expose_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        max_age: int = 600,
    ) -> None:
        origins = list(allow_origins)
        if isinstance(allow_origins, str):
            raise TypeError("allow_origins is a list of origins, e.g. ['https://app.example.com']")
        self.allow_any_origin = "*" in origins
        exact: set[str] = set()
        patterns: list[str] = []
        for origin in origins:
            if origin == "*":
                continue
            match = _ORIGIN.match(origin)
            if match is None:
                raise ValueError(
                    f"CORS origin {origin!r} is not scheme://host[:port] or "
                    "scheme://*.domain[:port] (e.g. 'https://app.example.com')"
                )
            scheme, wildcard, host, port = match.groups()
            if wildcard:
                patterns.append(
                    re.escape(f"{scheme}://")
                    + r"[a-z0-9-]+(?:\.[a-z0-9-]+)*"
                    + re.escape(f".{host.lower()}{port or ''}")
                )
            else:
                exact.add(f"{scheme}://{host}{port or ''}".lower())
        self._exact = frozenset(exact)
        self._pattern = re.compile("|".join(patterns)) if patterns else None
        methods = [m.upper() for m in allow_methods]
        self._any_method = "*" in methods
        self._methods = frozenset(methods)
        headers = [h.lower() for h in allow_headers]
        self._any_header = "*" in headers
        self._headers = frozenset(headers) | _SAFELISTED
        self.allow_credentials = allow_credentials
        # Preflight answers, built once.
        self._allow_methods = ", ".join(sorted(self._methods))
        self._allow_headers = ", ".join(sorted(h for h in headers if h != "*"))
        self._max_age = str(int(max_age))
        self._expose = ", ".join(expose_headers)
        # A fixed "*" needs no Vary: Origin; everything else varies with the origin.
        self._star = self.allow_any_origin and not allow_credentials

    def __repr__(self) -> str:
        return f"<CORS origins={'*' if self.allow_any_origin else sorted(self._exact)}>"

    def origin_allowed(self, origin: str) -> bool:
        """True if ``origin`` (as the browser sent it) may use this app."""
        if self.allow_any_origin:
            return True
        origin = origin.lower()
        if origin in self._exact:
            return True
        return self._pattern is not None and self._pattern.fullmatch(origin) is not None

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        origin = req._header("origin")
        if origin is None:
            response = await call_next(req)
            if not self._star:
                add_vary(response, "Origin")
            return response
        if req.method == "OPTIONS":
            requested_method = req._header("access-control-request-method")
            if requested_method is not None:
                return self._preflight(req, origin, requested_method)
        response = await call_next(req)
        headers = response.headers
        if self.origin_allowed(origin):
            headers["Access-Control-Allow-Origin"] = "*" if self._star else origin
            if self.allow_credentials:
                headers["Access-Control-Allow-Credentials"] = "true"
            if self._expose:
                headers["Access-Control-Expose-Headers"] = self._expose
        if not self._star:
            add_vary(response, "Origin")
        return response

    def _preflight(self, req: Request, origin: str, method: str) -> Response:
        refused = None
        requested = [
            h.strip().lower()
            for h in (req._header("access-control-request-headers") or "").split(",")
            if h.strip()
        ]
        if not self.origin_allowed(origin):
            refused = f"origin {origin[:100]!r} is not allowed"
        elif not self._any_method and method not in self._methods:
            refused = f"method {method[:20]!r} is not allowed"
        elif not self._any_header:
            extra = [h for h in requested if h not in self._headers]
            if extra:
                refused = f"header {extra[0][:40]!r} is not allowed"
        if refused is not None:
            response = problem_response(
                400, f"CORS preflight refused: {refused}", None, req._header("accept")
            )
        else:
            response = Response(status=204)
            headers = response.headers
            headers["Access-Control-Allow-Origin"] = "*" if self._star else origin
            headers["Access-Control-Allow-Methods"] = (
                method if self._any_method else self._allow_methods
            )
            allowed = ", ".join(requested) if self._any_header else self._allow_headers
            if allowed:
                headers["Access-Control-Allow-Headers"] = allowed
            headers["Access-Control-Max-Age"] = self._max_age
            if self.allow_credentials:
                headers["Access-Control-Allow-Credentials"] = "true"
        if not self._star:
            add_vary(response, "Origin")
        return response
