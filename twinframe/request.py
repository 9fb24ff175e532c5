"""The Request object handlers receive: one API under both app.wsgi and app.asgi.

The protocol adapters subclass it to say where headers and body bytes come
from; everything a handler reads (query, cookies, json, form...) is built here,
lazily, on first access.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote_to_bytes

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from python_multipart.multipart import parse_options_header

from .concurrency import inside_event_loop
from .cookies import parse_cookie_header
from .errors import (
    BadRequest,
    HTTPError,
    LengthRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
    URITooLong,
)
from .forms import BAD_ESCAPE, UploadedFile, parse_multipart, parse_urlencoded, split_urlencoded

if TYPE_CHECKING:
    from .app import App
    from .routing import Route

T = TypeVar("T")
_UNSET: Any = object()

PATH_SAFE = "/:@!$&'()*+,;=-._~"
"""Characters a URL path keeps as they are when quoted (RFC 3986 pchar, plus '/')."""

# Host names as DNS spells them (IDNs arrive as punycode) or a bracketed IPv6
# literal, with an optional port: anything else is refused rather than echoed.
_HOST = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")


def target_error(
    path: str, query_string: str, raw_path: str | None, max_length: int
) -> HTTPError | None:
    """The error to answer before routing for a request target the app refuses, or None.

    ``path`` is the decoded path, ``raw_path`` the path as sent (when the server
    says), ``max_length`` the app's ``max_url_length``. Checked by both adapters.
    """
    if len(path) + len(query_string) > max_length:
        return URITooLong(f"request target longer than {max_length} characters")
    # A decoded path holds '%' only if the client sent '%25' or an invalid escape.
    if raw_path is not None and "%" in path and BAD_ESCAPE.search(raw_path):
        return BadRequest("invalid percent-encoding in the request path")
    if "/." in path and any(segment in (".", "..") for segment in path.split("/")):
        return BadRequest("request path has '.' or '..' segments")
    return None


def host_and_port(name: str, port: int | str | None, scheme: str) -> str:
    """``name``, with ``:port`` unless it is absent or the scheme's default (80, 443)."""
    if port is None or port == "":
        return name
    default = "443" if scheme in ("https", "wss") else "80"
    return name if str(port) == default else f"{name}:{port}"


def parse_content_length(value: str | None) -> int | None:
    """A Content-Length value as an int (None when absent); 400 if invalid or conflicting.

    Repeated headers arrive joined with commas; identical repeats are accepted
    (RFC 9110 section 8.6), different ones are refused.
    """
    if value is None or value == "":
        return None
    if "," in value:
        values = {v.strip() for v in value.split(",")}
        if len(values) != 1:
            raise BadRequest("conflicting Content-Length headers")
        value = values.pop()
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise BadRequest(f"invalid Content-Length {value[:40]!r}")
    return int(value)


class HTTPConnection:
    """What requests and websockets share: path, params, query, headers, cookies, client, url."""

    # Set by the protocol adapter.
    app: App
    path: str
    query_string: str  # the raw query, each byte as one latin-1 character
    root_path: str = ""
    params: dict[str, Any]
    route: Route | None = None
    # An error the adapter found in the request target (bad path encoding,
    # over-long URL): answered before routing.
    _error: Exception | None = None

    # Built lazily; class-level defaults keep construction cheap.
    _headers: CIMultiDictProxy[str] | None = None
    _query: MultiDictProxy[str] | None = None
    _cookies: dict[str, str] | None = None
    _state: SimpleNamespace | None = None

    # -- supplied by the protocol adapter -----------------------------------------

    def _header_items(self) -> list[tuple[str, str]]:
        """All request headers as (lower-case name, latin-1 value) pairs."""
        raise NotImplementedError

    def _header(self, name: str) -> str | None:
        """One header by lower-case name (adapters override with a faster lookup)."""
        return self.headers.get(name)

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port), or None when the server doesn't say."""
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        """``http`` or ``https`` (``ws``/``wss`` for websockets)."""
        raise NotImplementedError

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a sync function the way this protocol wants (directly, or in a thread)."""
        raise NotImplementedError

    async def _await(self, awaitable: Awaitable[T]) -> T:
        """Run an awaitable the way this protocol wants (awaited, or on the thread's loop)."""
        raise NotImplementedError

    # Where ``_call`` just calls the function (WSGI) or ``_await`` just awaits (ASGI),
    # ``_invoke`` does it itself: one coroutine less per request on the hot path.
    _sync_inline = False
    _async_inline = False

    def _server_host(self) -> str:
        """The server's own name and port (see ``host_and_port``), for a request without Host."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------

    async def _invoke(
        self, fn: Callable[..., Any], is_async: bool, *args: Any, **kwargs: Any
    ) -> Any:
        """Call a handler, hook or error handler, sync or async, as this protocol runs it.

        Sync code: called directly under WSGI, in the thread pool under ASGI; async
        code: awaited under ASGI, on the worker thread's loop under WSGI.
        """
        if is_async:
            if self._async_inline:
                return await fn(*args, **kwargs)
            return await self._await(fn(*args, **kwargs))
        if self._sync_inline:
            return fn(*args, **kwargs)
        return await self._call(fn, *args, **kwargs)

    def _set_target(
        self, path: str, query_string: str, raw_target: str | bytes | None, root_path: str,
        *, wsgi: bool,
    ) -> None:
        """Set ``path``, ``query_string`` and ``root_path`` from what the server passed.

        ``raw_target`` is the target as sent (latin-1 characters or bytes, perhaps
        with the query), when the server says.
        ``wsgi`` picks the protocol's conventions: PEP 3333 hands the path as the raw
        bytes in latin-1 characters, relative to ``root_path``; ASGI servers decode it
        as UTF-8 (invalid bytes as U+FFFD) and include the mount point in it.
        A target the app refuses (bad encoding, dot segments, too long) goes to
        ``_error``, answered before routing.
        """
        self.path = path
        self.query_string = query_string
        # The common case, checked first: nothing to decode, strip or refuse. Anything
        # target_error() refuses must fail this test (keep the two in step).
        if (
            not root_path
            and path.isascii()
            and "%" not in path
            and "/." not in path
            and len(path) + len(query_string) <= self.app.max_url_length
        ):
            return
        raw_path: str | None = None
        if raw_target:
            if isinstance(raw_target, bytes):
                raw_target = raw_target.decode("latin-1")
            raw_path = raw_target.split("?", 1)[0]
        error: HTTPError | None = None
        if not path.isascii():
            if wsgi:
                try:
                    path = path.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    error = BadRequest("request path is not valid UTF-8")
            elif "\ufffd" in path and raw_path and not _is_utf8(
                unquote_to_bytes(raw_path.encode("latin-1"))
            ):
                error = BadRequest("request path is not valid UTF-8")
        if root_path:
            root_path = root_path.rstrip("/")
            # Strip the mount point for routing, only on a segment boundary
            # ("/api" is not a prefix of "/apiary").
            if not wsgi and (path == root_path or path.startswith(root_path + "/")):
                path = path[len(root_path) :] or "/"
            self.root_path = root_path
        self.path = path
        self._error = error or target_error(path, query_string, raw_path, self.app.max_url_length)

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
            if header:
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

    @property
    def host(self) -> str:
        """The ``Host`` the client asked for (may include the port), else the server's name.

        400 if it is not a plain host name or IP literal with an optional port, so
        it is safe to put in a URL; it is still client-chosen, so never trust it
        for anything else (e.g. building password-reset links).
        """
        host = self._header("host")
        if not host:
            return self._server_host()
        if not _HOST.match(host):
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


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class RequestBodyStream:
    """The request body, chunk by chunk: ``for chunk in req.stream()`` or ``async for``."""

    def __init__(
        self, sync: Callable[[], Iterator[bytes]], async_: Callable[[], AsyncIterator[bytes]]
    ):
        self._sync = sync
        self._async = async_

    def __iter__(self) -> Iterator[bytes]:
        # Sync reads block: inside the event loop they would freeze the server
        # (ASGI) or nest loops (WSGI). Refused alike on both entrypoints.
        if inside_event_loop():
            raise RuntimeError(
                "req.stream() iterated with 'for' in async code: use 'async for' there"
            )
        return self._sync()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._async()


class Request(HTTPConnection):
    """An HTTP request: method, path, params, query, headers, cookies and body.

    Unless its route was registered with ``stream=True``, the body has been read
    (up to ``App.max_body_size``) before the handler runs, so ``body``, ``text``,
    ``json``, ``form`` and ``files`` are plain properties in sync and async code.
    """

    method: str
    _body: bytes | None = None
    _json: Any = _UNSET
    _form: MultiDictProxy[str] | None = None
    _files: MultiDictProxy[UploadedFile] | None = None
    _consumed = False

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"

    # -- supplied by the protocol adapter -----------------------------------------

    def _start_body(self) -> Awaitable[Any] | None:
        """Start reading the whole body into ``_body``, before the handler (routes
        without ``stream=True``).

        Returns None once the body is in (WSGI reads in place), else what to await
        (ASGI: the next message); the pipeline hands its result to ``_continue_body``
        until that returns None. So the pipeline awaits the server directly, with no
        coroutine of twinframe's own per request. PayloadTooLarge past
        ``app.max_body_size``, ClientDisconnect if the body is cut short.
        """
        raise NotImplementedError

    def _continue_body(self, received: Any) -> Awaitable[Any] | None:
        """Take what ``_start_body``'s awaitable gave; return the next one to await, or None."""
        raise NotImplementedError

    def _body_end_known(self) -> bool:
        """True when the body can be read to its end without a Content-Length
        (ASGI messages; a WSGI input the server marks terminated)."""
        return True

    def _has_no_body(self) -> bool:
        """True when the request certainly has no body, False when it may have one.

        411 for a body the server can't delimit: chunked, under a WSGI server that
        doesn't decode it (PEP 3333 forbids reading past a missing length).
        """
        if self._body_end_known():
            return False
        length = self._header("content-length")
        if length:
            return length == "0"
        if self._header("transfer-encoding"):
            raise LengthRequired("this server needs a Content-Length on request bodies")
        return True

    def _iter_body(self) -> Iterator[bytes]:
        raise NotImplementedError

    def _aiter_body(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    # -- headers --------------------------------------------------------------------

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header as sent, or None."""
        return self._header("content-type")

    @property
    def mimetype(self) -> str:
        """The media type of the body without parameters, lower-cased ('' if none)."""
        content_type = self._header("content-type")
        if not content_type:
            return ""
        return content_type.partition(";")[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        """The ``Content-Length`` header as an int, or None; 400 if it is not a number."""
        return parse_content_length(self._header("content-length"))

    # -- body -----------------------------------------------------------------------

    def _body_limit(self) -> int:
        """``app.max_body_size``, after refusing (413) a body whose Content-Length exceeds it."""
        limit = self.app.max_body_size
        length = self.content_length
        if length is not None and length > limit:
            raise PayloadTooLarge(f"request body of {length} bytes exceeds the {limit}-byte limit")
        return limit

    def stream(self) -> RequestBodyStream:
        """The body as it arrives: ``for chunk in req.stream()`` (sync) or ``async for`` (async).

        Only on routes registered with ``stream=True``; it can be consumed once.
        """
        if self._body is not None:
            body = self._body
            return RequestBodyStream(
                lambda: iter((body,) if body else ()), lambda: _aiter_one(body)
            )
        if self._consumed:
            raise RuntimeError("the request body stream was already consumed")
        self._consumed = True
        if self._has_no_body():
            self._body = b""
            return self.stream()
        return RequestBodyStream(self._iter_body, self._aiter_body)

    @property
    def body(self) -> bytes:
        """The raw body bytes (b"" when there is none)."""
        if self._body is None:
            raise RuntimeError(
                f"{self.method} {self.path}: the route streams its body (stream=True); "
                "read it with req.stream()"
            )
        return self._body

    @property
    def charset(self) -> str:
        """The body's declared charset (utf-8 when none is given)."""
        content_type = self._header("content-type")
        if content_type and "charset" in content_type.lower():
            _, params = parse_options_header(content_type)
            charset = params.get(b"charset")
            if charset:
                return charset.decode("latin-1").lower()
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with its charset; 400 if it doesn't decode."""
        charset = self.charset
        try:
            return self.body.decode(charset)
        except LookupError:
            raise BadRequest(f"unknown charset {charset!r}") from None
        except UnicodeDecodeError:
            raise BadRequest(f"request body is not valid {charset}") from None

    @property
    def json(self) -> Any:
        """The body parsed as JSON.

        415 if a non-JSON Content-Type was sent, 400 if the body is empty, not UTF-8
        or not valid JSON. The result is cached.
        """
        value = self._json
        if value is _UNSET:
            mimetype = self.mimetype
            if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
                raise UnsupportedMediaType(f"expected an application/json body, got {mimetype!r}")
            body = self.body
            if not body:
                raise BadRequest("request body is empty; expected JSON")
            try:
                value = json.loads(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest("JSON body is not valid UTF-8") from None
            except RecursionError:
                raise BadRequest("JSON body is nested too deeply") from None
            except ValueError as exc:
                raise BadRequest(f"malformed JSON: {exc}") from None
            self._json = value
        return value

    def _parse_form(self) -> None:
        mimetype = self.mimetype
        app = self.app
        if mimetype == "application/x-www-form-urlencoded":
            fields = parse_urlencoded(self.body, app.max_form_fields)
            files: MultiDict[UploadedFile] = MultiDict()
        elif mimetype == "multipart/form-data":
            fields, files = parse_multipart(self.body, self.content_type or "", app.max_form_fields)
        elif not mimetype and not self.body:
            fields, files = MultiDict(), MultiDict()
        else:
            raise UnsupportedMediaType(
                "expected an application/x-www-form-urlencoded or multipart/form-data body, "
                f"got {mimetype or 'no Content-Type'!r}"
            )
        self._form = MultiDictProxy(fields)
        self._files = MultiDictProxy(files)

    @property
    def form(self) -> MultiDictProxy[str]:
        """Form fields (urlencoded or multipart), a read-only multidict; 415 for other bodies."""
        if self._form is None:
            self._parse_form()
        assert self._form is not None
        return self._form

    @property
    def files(self) -> MultiDictProxy[UploadedFile]:
        """Uploaded files of a multipart form, by field name."""
        if self._files is None:
            self._parse_form()
        assert self._files is not None
        return self._files


async def _aiter_one(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body
