"""``HTTPConnection``: what HTTP requests and websockets share (path, params, query,
headers, cookies, host, url), built lazily on first access.

The adapters' subclasses fill in the adapter contract (``twinframe.contract``):
where headers come from, how code runs, the client and the scheme.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from .cookies import parse_cookie_header
from .errors import BadRequest
from .forms import split_urlencoded
from .target import BAD_ESCAPE, HOST, PATH_SAFE, decode_target

if TYPE_CHECKING:
    from .contract import Application
    from .contract import Connection as _Contract
    from .routing import Route
else:
    _Contract = object  # a Protocol base only for the type checker: no runtime cost


class HTTPConnection(_Contract):
    """What requests and websockets share: path, params, query, headers, cookies, client, url."""

    # Set by the protocol adapter.
    app: Application
    path: str
    query_string: str  # the raw query, each byte as one latin-1 character
    root_path: str = ""
    params: dict[str, Any]
    route: Route | None = None
    # An error the adapter found in the request target (bad path encoding,
    # over-long URL): answered before routing.
    _error: Exception | None = None

    # PERF: built lazily; class-level defaults keep construction cheap.
    _headers: CIMultiDictProxy[str] | None = None
    _query: MultiDictProxy[str] | None = None
    _cookies: dict[str, str] | None = None
    _state: SimpleNamespace | None = None

    # The adapter contract (twinframe.contract.Connection) is filled in by the
    # adapters' subclasses; the defaults here are the slow paths.
    _sync_inline = False
    _async_inline = False

    # -- built from what the adapter supplied ---------------------------------------

    def _set_target(
        self,
        path: str,
        query_string: str,
        raw_target: str | bytes | None,
        root_path: str,
        *,
        wsgi: bool,
    ) -> None:
        """Set ``path``, ``query_string`` and ``root_path`` from what the server passed.

        ``raw_target`` is the target as sent (latin-1 characters or bytes, perhaps
        with the query), when the server says.
        ``wsgi`` picks the protocol's conventions (see ``target.decode_target``).
        A target the app refuses (bad encoding, dot segments, too long) goes to
        ``_error``, answered before routing.
        """
        self.path = path
        self.query_string = query_string
        max_length = self.app.max_url_length
        # PERF: the common case, checked inline first (a call to a function costs more
        # than this test): nothing to decode, strip or refuse. Anything
        # target_error() refuses must fail this test (keep the two in step).
        if (
            not root_path
            and path.isascii()
            and "%" not in path
            and "/." not in path
            and len(path) + len(query_string) <= max_length
        ):
            return
        path, root_path, self._error = decode_target(
            path, query_string, raw_target, root_path, max_length, wsgi=wsgi
        )
        self.path = path
        if root_path:
            self.root_path = root_path

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """Request headers, a read-only case-insensitive multidict."""
        headers = self._headers
        if headers is None:
            headers = self._headers = CIMultiDictProxy(CIMultiDict(self._header_items()))
        return headers

    @property
    def query(self) -> MultiDictProxy[str]:
        """Query parameters, a read-only multidict (``get``, ``getall``); 400 if undecodable."""
        query = self._query
        if query is None:
            query = self._query = MultiDictProxy(MultiDict(self._parse_query()))
        return query

    def _parse_query(self) -> list[tuple[str, str]]:
        qs = self.query_string
        if not qs:
            return []
        limit = self.app.max_query_params
        if "%" in qs and BAD_ESCAPE.search(qs):
            raise BadRequest("invalid percent-encoding in the query string")
        try:
            if not qs.isascii():
                qs = qs.encode("latin-1").decode("utf-8")
            return split_urlencoded(qs, limit)
        except UnicodeError:
            raise BadRequest("query string is not valid UTF-8") from None
        except ValueError:
            raise BadRequest(f"query string has more than {limit} parameters") from None

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent by the client, as a dict (malformed pairs are skipped)."""
        cookies = self._cookies
        if cookies is None:
            header = self._header("cookie")
            # PERF: repeats come joined with ", " (the adapter contract): without one
            # there is a single header, and no need to build the headers multidict.
            if header and ", " in header:
                # HTTP/2 and 3 may split cookies over several headers (RFC 9113
                # 8.2.3); ASGI servers pass them on as they came.
                values = self.headers.getall("cookie")
                if len(values) > 1:
                    header = "; ".join(values)
            cookies = self._cookies = parse_cookie_header(header) if header else {}
        return cookies

    @property
    def state(self) -> SimpleNamespace:
        """A namespace for data hooks attach to this request (e.g. ``req.state.user``)."""
        state = self._state
        if state is None:
            state = self._state = SimpleNamespace()
        return state

    # -- what a trusted proxy says (ProxyHeaders) -----------------------------------

    _forwarded_host: str | None = None

    def _set_forwarded(
        self, client: tuple[str, int] | None, scheme: str | None, host: str | None
    ) -> None:
        """Take what a trusted proxy says the client sent (``ProxyHeaders``); None: unchanged."""
        if host is not None:
            self._forwarded_host = host
        if client is not None or scheme is not None:
            self._set_peer(client, scheme)

    @property
    def host(self) -> str:
        """The ``Host`` the client asked for (may include the port), else the server's name.

        400 if it is not a plain host name or IP literal with an optional port, so
        it is safe to put in a URL; it is still client-chosen, so never trust it
        for anything else (e.g. building password-reset links).
        """
        host = self._forwarded_host or self._header("host")
        if not host:
            return self._server_host()
        if not HOST.match(host):
            raise BadRequest("invalid Host header")
        return host

    @property
    def url(self) -> str:
        """The full URL: scheme, host, path (percent-encoded) and query string."""
        path = quote(self.root_path + self.path, safe=PATH_SAFE)
        qs = self.query_string
        return f"{self.scheme}://{self.host}{path}" + (f"?{qs}" if qs else "")

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of route ``name`` as the client reaches it: ``req.root_path`` (the
        mount prefix) + ``req.app.url_for(name, **params)``."""
        path = self.app.url_for(name, **params)
        return quote(self.root_path, safe=PATH_SAFE) + path if self.root_path else path
