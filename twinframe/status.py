"""The one table of HTTP reason phrases: problem titles and the WSGI status line use it."""

from __future__ import annotations

from http import HTTPStatus

_PHRASES = {s.value: s.phrase for s in HTTPStatus}
# RFC 9110 names, which Python only adopted in 3.13: the same titles on every version.
_PHRASES.update(
    {
        413: "Content Too Large",
        414: "URI Too Long",
        416: "Range Not Satisfiable",
        422: "Unprocessable Content",
    }
)
# PERF: the WSGI adapter sends one of these per request; built once, not formatted each time.
STATUS_LINES = {status: f"{status} {phrase}" for status, phrase in _PHRASES.items()}


def status_phrase(status: int) -> str:
    """The standard reason phrase for ``status`` ("Not Found"), or "Unknown"."""
    return _PHRASES.get(status, "Unknown")


def status_line(status: int) -> str:
    """``"404 Not Found"``: the status as PEP 3333's ``start_response`` takes it."""
    return STATUS_LINES.get(status) or f"{status} Unknown"
