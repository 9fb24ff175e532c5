"""The Request object handlers receive: one API under both app.wsgi and app.asgi.

The protocol adapters subclass it to say where headers and body bytes come
from (the adapter contract, ``twinframe.contract``); everything a handler
reads (query, cookies, json, form...) is built here or in ``HTTPConnection``,
lazily, on first access.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from multidict import MultiDict, MultiDictProxy
from python_multipart.multipart import parse_options_header

from .concurrency import inside_event_loop
from .connection import HTTPConnection
from .errors import BadRequest, LengthRequired, PayloadTooLarge, UnsupportedMediaType
from .forms import UploadedFile, parse_multipart, parse_urlencoded
from .session import Session

if TYPE_CHECKING:
    from .contract import RequestBody as _Contract
else:
    _Contract = object  # a Protocol base only for the type checker: no runtime cost

_UNSET: Any = object()
_NO_FILES: MultiDictProxy[UploadedFile] = MultiDictProxy(MultiDict())


# The methods whose body the adapters skip reading when HTTP/1.x framing says there
# is none: neither Content-Length nor Transfer-Encoding (RFC 9112 section 6.3),
# so no server can deliver one. Only methods whose content has no defined meaning
# (RFC 9110 sections 9.3.1 and 9.3.2): a test harness that hands some other request
# a body without those headers still has it read.
BODILESS_METHODS = frozenset({"GET", "HEAD"})


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


class Request(HTTPConnection, _Contract):
    """An HTTP request: method, path, params, query, headers, cookies and body.

    Unless its route was registered with ``stream=True``, the body has been read
    (up to ``App.max_body_size``) before the handler runs, so ``body``, ``text``,
    ``json``, ``form`` and ``files`` are plain properties in sync and async code.
    """

    method: str
    # The event loop the request's async code runs on while its sync part is in a
    # worker thread (ASGI: the server's; WSGI: the worker thread's, once an async
    # middleware moved the routed part to the pool). None until then.
    _loop: asyncio.AbstractEventLoop | None = None
    _body: bytes | None = None
    _json: Any = _UNSET
    _form: MultiDictProxy[str] | None = None
    _files: MultiDictProxy[UploadedFile] | None = None
    _consumed = False
    # What req.after_response() registered: (fn, args, kwargs), in order; None for
    # none, so a request that registers nothing costs one attribute read.
    _after_response: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] | None = None
    # The context the handler ran in, noted by the middleware chain (see twinframe.chain).
    _context: contextvars.Context | None = None
    # Set by middleware; class-level defaults cost nothing to requests that go without.
    request_id: str | None = None
    """This request's id, set by ``twinframe.middleware.RequestID`` (else None)."""
    _session: Session | None = None
    _load_session: Callable[[], Session] | None = None  # set by the Sessions middleware

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"

    def after_response(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` (sync or async) once the whole response has been sent.

        Functions run in registration order, for this request only; one that
        raises is logged and the others still run. In-process work that dies with
        the process: use a job queue for work that must survive (docs/streaming.md).
        """
        tasks = self._after_response
        if tasks is None:
            tasks = self._after_response = []
        tasks.append((fn, args, kwargs))

    @property
    def last_event_id(self) -> str | None:
        """The ``Last-Event-ID`` header a reconnecting ``EventSource`` sends, or None."""
        return self._header("last-event-id")

    @property
    def session(self) -> Session:
        """The user's session, a dict kept in a signed cookie (``twinframe.middleware.Sessions``).

        Read from the cookie on first use; written back only if changed;
        ``req.session.clear()`` ends it. ``flash()`` / ``pop_flashes()`` keep one-time
        messages for the next page. RuntimeError without the Sessions middleware.
        """
        session = self._session
        if session is None:
            load = self._load_session
            if load is None:
                raise RuntimeError(
                    "req.session needs the Sessions middleware: "
                    "app.add_middleware(twinframe.middleware.Sessions(secret_key))"
                )
            session = self._session = load()
        return session

    # -- the adapter contract's body part (twinframe.contract.RequestBody) ---------

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
        value = self._header("content-length")
        if value is not None:  # PERF: no parse call for the common request without one
            length = parse_content_length(value)
            if length is not None and length > limit:
                raise PayloadTooLarge(
                    f"request body of {length} bytes exceeds the {limit}-byte limit"
                )
        return limit

    def _body_length(self) -> int:
        """The Content-Length (0 when absent), after refusing one over ``app.max_body_size``."""
        limit = self.app.max_body_size
        length = self.content_length
        if length is None:
            return 0
        if length > limit:
            raise PayloadTooLarge(f"request body of {length} bytes exceeds the {limit}-byte limit")
        return length

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
            self._form = MultiDictProxy(parse_urlencoded(self.body, app.max_form_fields))
            self._files = _NO_FILES  # PERF: one read-only empty multidict for every such form
            return
        files: MultiDict[UploadedFile]
        if mimetype == "multipart/form-data":
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
