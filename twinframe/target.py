"""The request target: checking and decoding the path and query the server passed.

Both adapters feed what their server gave them (PEP 3333 ``PATH_INFO``,
ASGI ``path``/``raw_path``) through here, so a target is refused or decoded
the same way under either entrypoint. Answers come back as ``HTTPError``
values (not raised): the pipeline answers them before routing.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from .errors import BadRequest, HTTPError, URITooLong

PATH_SAFE = "/:@!$&'()*+,;=-._~"
"""Characters a URL path keeps as they are when quoted (RFC 3986 pchar, plus '/')."""

# A '%' not followed by two hex digits: the standard library would keep it as a
# literal '%', so the app could not tell it from a correctly escaped '%25'.
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

# Host names as DNS spells them (IDNs arrive as punycode) or a bracketed IPv6
# literal, with an optional port: anything else is refused rather than echoed.
HOST = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")


def decode_target(
    path: str,
    query_string: str,
    raw_target: str | bytes | None,
    root_path: str,
    max_length: int,
    *,
    wsgi: bool,
) -> tuple[str, str, HTTPError | None]:
    """The routing path, the mount point and the error to answer (or None) for a target.

    ``raw_target`` is the target as sent (latin-1 characters or bytes, perhaps
    with the query), when the server says.
    ``wsgi`` picks the protocol's conventions: PEP 3333 hands the path as the raw
    bytes in latin-1 characters, relative to ``root_path``; ASGI servers decode it
    as UTF-8 (invalid bytes as U+FFFD) and include the mount point in it.
    """
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
        elif (
            "\ufffd" in path
            and raw_path
            and not _is_utf8(unquote_to_bytes(raw_path.encode("latin-1")))
        ):
            error = BadRequest("request path is not valid UTF-8")
    if root_path:
        root_path = root_path.rstrip("/")
        # Strip the mount point for routing, only on a segment boundary
        # ("/api" is not a prefix of "/apiary").
        if not wsgi and (path == root_path or path.startswith(root_path + "/")):
            path = path[len(root_path) :] or "/"
    return path, root_path, error or target_error(path, query_string, raw_path, max_length)


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


def default_port(scheme: str) -> str:
    """The port a URL of ``scheme`` means when it names none: 443 for https/wss, else 80."""
    return "443" if scheme in ("https", "wss") else "80"


def host_and_port(name: str, port: int | str | None, scheme: str) -> str:
    """``name``, with ``:port`` unless it is absent or the scheme's default (80, 443)."""
    if port is None or port == "":
        return name
    return name if str(port) == default_port(scheme) else f"{name}:{port}"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
