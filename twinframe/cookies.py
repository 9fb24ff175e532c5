"""Reading the Cookie header and writing Set-Cookie headers.

The standard library's ``http.cookies.SimpleCookie`` is slow and drops cookies
that browsers really send (e.g. values with spaces or brackets), so reading
follows what browsers do (RFC 6265 section 5.4): split on ``;``, split each pair
on the first ``=``, keep going past anything malformed.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import format_datetime

# Cookie names are RFC 7230 tokens; values may not hold separators a browser would
# split on. Anything else is refused when *writing*, never when reading.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VALUE = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*\Z")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` request header into a dict; malformed pairs are skipped.

    The first occurrence of a name wins, as browsers send the most specific first.
    """
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        if not sep:
            continue
        name = name.strip()
        if not name or name in cookies:
            continue
        value = value.strip()
        if len(value) > 1 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


def format_set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    expires: datetime | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = True,
    samesite: str | None = "Lax",
) -> str:
    """Build a ``Set-Cookie`` header value; raises ValueError for unsafe names or values."""
    if not _NAME.match(name):
        raise ValueError(f"invalid cookie name {name!r}")
    if not _VALUE.match(value):
        raise ValueError(
            f"cookie {name!r} value has characters browsers split on (space, comma, "
            "semicolon, quote, backslash or non-ASCII); encode it first"
        )
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        parts.append("Expires=" + format_datetime(expires.astimezone(timezone.utc), usegmt=True))
    for attribute, attr_value in (("Path", path), ("Domain", domain)):
        if attr_value is not None:
            if any(c in attr_value for c in ";\r\n\x00"):
                raise ValueError(f"cookie {attribute} {attr_value!r} contains a separator")
            parts.append(f"{attribute}={attr_value}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        try:
            parts.append("SameSite=" + _SAMESITE[samesite.lower()])
        except KeyError:
            raise ValueError("samesite must be 'Lax', 'Strict', 'None' or None") from None
    return "; ".join(parts)
