"""HTTP errors that handlers raise (``raise NotFound(...)``), and ClientDisconnect.

A leaf module: the rendering of an error as an RFC 9457 problem response is
``twinframe.response.problem_response``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .status import status_phrase


class HTTPError(Exception):
    """Raise from a handler or hook to answer with an HTTP error status.

    ``detail`` is shown to the client; ``headers`` are added to the error response.
    """

    status: int = 500

    def __init__(
        self,
        status: int | None = None,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if status is None:
            status = type(self).status
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(
                f"HTTPError status must be an int, got {status!r}; a subclass with a fixed "
                "status takes the detail as a keyword: MyError(detail=...)"
            )
        if not 300 <= status <= 599:
            raise ValueError(f"HTTPError status must be 300-599, got {status}")
        self.status = status
        self.detail = detail
        self.headers: dict[str, str] = dict(headers) if headers else {}
        message = f"{status} {status_phrase(status)}"
        super().__init__(f"{message}: {detail}" if detail else message)

    @property
    def title(self) -> str:
        """The reason phrase of the status, e.g. "Not Found"."""
        return status_phrase(self.status)


class _StatusError(HTTPError):
    """Base of the named errors: their status is fixed, so they take only detail and headers."""

    def __init__(self, detail: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(type(self).status, detail, headers)


class BadRequest(_StatusError):
    """400: the request is malformed."""

    status = 400


class Unauthorized(_StatusError):
    """401: authentication is required."""

    status = 401


class Forbidden(_StatusError):
    """403: the client may not access this resource."""

    status = 403


class NotFound(_StatusError):
    """404: nothing is served at this path."""

    status = 404


class MethodNotAllowed(HTTPError):
    """405: the path exists but not for this method; sets ``Allow``."""

    status = 405

    def __init__(self, allowed: Iterable[str], detail: str | None = None) -> None:
        self.allowed = sorted(set(allowed))
        allow = ", ".join(self.allowed)
        HTTPError.__init__(self, 405, detail or f"allowed methods: {allow}", {"Allow": allow})


class NotAcceptable(_StatusError):
    """406: no representation matches the request's Accept headers."""

    status = 406


class Conflict(_StatusError):
    """409: the request conflicts with the current state."""

    status = 409


class Gone(_StatusError):
    """410: the resource existed but was removed for good."""

    status = 410


class LengthRequired(_StatusError):
    """411: the request body's end can't be found without a Content-Length."""

    status = 411


class PayloadTooLarge(_StatusError):
    """413: the request body exceeds the configured limit."""

    status = 413


class URITooLong(_StatusError):
    """414: the request target exceeds the configured limit."""

    status = 414


class UnsupportedMediaType(_StatusError):
    """415: the body's Content-Type is not one this handler reads."""

    status = 415


class UnprocessableContent(_StatusError):
    """422: the body is well-formed but its content is invalid."""

    status = 422


class UpgradeRequired(_StatusError):
    """426: this path only speaks another protocol (e.g. WebSocket)."""

    status = 426


class TooManyRequests(_StatusError):
    """429: the client sent too many requests."""

    status = 429


class InternalServerError(_StatusError):
    """500: the server failed; the detail never includes internals unless debug is on."""

    status = 500


class ServiceUnavailable(_StatusError):
    """503: the server can't answer right now (maintenance, overload); add Retry-After."""

    status = 503


class ClientDisconnect(Exception):
    """The client went away before the request body was fully received."""
