"""Sign short values (cookies, tokens) with HMAC-SHA256 so the client can't forge them.

A signed value is readable by the client (it is only encoded, not encrypted)
but any change to it, or to its timestamp, makes ``unsign`` refuse it::

    from twinframe.signing import BadSignature, sign, unsign

    token = sign("Post created", secret)           # safe in a cookie or a URL
    try:
        message = unsign(token, secret, max_age=60)  # seconds; None = no expiry
    except BadSignature:
        message = None                             # forged, garbled, or too old

The format is ``<value>.<timestamp>.<mac>``: the value as unpadded URL-safe
base64 of its UTF-8 bytes, the signing time in whole seconds (decimal), and the
HMAC-SHA256 of the first two parts, URL-safe base64. Every character is one a
cookie value may hold. Use one long random secret per purpose
(``secrets.token_urlsafe(32)``) and keep it out of the repository.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

__all__ = ["BadSignature", "SignatureExpired", "sign", "unsign"]


class BadSignature(ValueError):
    """The signed value was tampered with, garbled, or signed with another secret."""


class SignatureExpired(BadSignature):
    """The signature is valid but older than ``max_age`` seconds."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("the signing secret must not be empty")
    return key


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _mac(key: bytes, message: str) -> str:
    return _b64encode(hmac.new(key, message.encode("ascii"), hashlib.sha256).digest())


def sign(value: str, secret: str | bytes) -> str:
    """Return ``value`` with a timestamp and an HMAC-SHA256 signature, cookie- and URL-safe."""
    message = f"{_b64encode(value.encode('utf-8'))}.{int(time.time())}"
    return f"{message}.{_mac(_key(secret), message)}"


def unsign(signed: str, secret: str | bytes, max_age: float | None = None) -> str:
    """Check a value made by ``sign`` and return the original string.

    Raises ``BadSignature`` if it was altered or signed with another secret, and
    ``SignatureExpired`` (a ``BadSignature``) if it is older than ``max_age`` seconds.
    """
    key = _key(secret)
    message, dot, mac = signed.rpartition(".")
    if not dot or not signed.isascii() or not hmac.compare_digest(mac, _mac(key, message)):
        raise BadSignature("signature does not match")
    encoded, _, stamp = message.rpartition(".")
    try:
        value = _b64decode(encoded).decode("utf-8")
        signed_at = int(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        # Only reachable with a valid MAC over a malformed message: not made by sign().
        raise BadSignature("signed value is malformed") from None
    if max_age is not None and time.time() - signed_at > max_age:
        raise SignatureExpired(f"signature is older than {max_age} seconds")
    return value
