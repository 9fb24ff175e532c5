"""Sessions: ``req.session``, a dict kept in a signed cookie (``twinframe.signing``).

::

    from twinframe.middleware import Sessions

    app.add_middleware(Sessions(os.environ["SECRET_KEY"]))

    @app.post("/login")
    def login(req):
        req.session["user"] = req.form["name"]
        req.session.flash("Welcome back")
        return Response.redirect("/")

The cookie holds the session's JSON, signed (readable by the user, not
changeable): keep secrets out of it. It is sent again only when the session was
changed, and then lives ``max_age`` seconds; a tampered, garbled or expired
cookie gives an empty session, never an error.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable

from ..connection import HTTPConnection
from ..cookies import format_set_cookie
from ..request import Request
from ..response import Response
from ..session import Session
from ..signing import BadSignature, sign, unsign

__all__ = ["MIN_KEY_BYTES", "Sessions"]

logger = logging.getLogger("twinframe")

MIN_KEY_BYTES = 32
"""The shortest secret key Sessions accepts (``secrets.token_urlsafe(32)`` makes 43 characters)."""
_COOKIE_LIMIT = 4093  # bytes browsers keep of one cookie (name, value and attributes)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Sessions:
    """Keep ``req.session`` in a signed cookie.

    ``secret_key`` signs the cookie: at least 32 bytes, random, kept out of the
    repository; changing it logs everyone out. ``max_age`` (seconds, 14 days by
    default) bounds a session's life after its last change; ``https_only`` marks
    the cookie Secure; ``same_site`` is "lax", "strict" or "none" (which needs
    ``https_only``). The cookie is always HttpOnly.
    """

    inline = True  # awaits nothing but call_next (see twinframe.chain)

    def __init__(
        self,
        secret_key: str | bytes | None,
        *,
        cookie_name: str = "session",
        max_age: int = 14 * 24 * 3600,
        https_only: bool = False,
        same_site: str = "lax",
        path: str = "/",
        domain: str | None = None,
    ) -> None:
        if not secret_key:
            raise ValueError(
                "Sessions needs a secret_key; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))' "
                "and pass it from the environment"
            )
        key = secret_key.encode("utf-8") if isinstance(secret_key, str) else bytes(secret_key)
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"Sessions' secret_key is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if same_site.lower() == "none" and not https_only:
            raise ValueError(
                "same_site='none' needs https_only=True (browsers refuse it otherwise)"
            )
        if max_age <= 0:
            raise ValueError("max_age must be a positive number of seconds")
        # Fails now, not at the first request, for a bad name, path, domain or same_site.
        format_set_cookie(cookie_name, "", path=path, domain=domain, samesite=same_site)
        self._key = key
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.https_only = https_only
        self.same_site = same_site
        self.path = path
        self.domain = domain

    def __repr__(self) -> str:
        return f"<Sessions cookie={self.cookie_name!r}>"

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # PERF: the cookie is read and checked only if the handler touches req.session.
        req._load_session = functools.partial(self.load, req)
        response = await call_next(req)
        session = req._session
        if session is not None and session.modified:
            self.save(req, session, response)
        return response

    def load(self, conn: HTTPConnection) -> Session:
        """The session ``conn``'s cookie holds; empty when absent, tampered, garbled or expired.

        ``conn`` may be a websocket too: ``sessions.load(ws)`` in a hook reads the
        session of the page that opened it.
        """
        value = conn.cookies.get(self.cookie_name)
        if not value:
            return Session()
        try:
            data = json.loads(unsign(value, self._key, max_age=self.max_age))
        except (BadSignature, ValueError) as exc:
            logger.debug("session cookie refused (%s): starting an empty session", exc)
            return Session()
        if not isinstance(data, dict):
            return Session()
        return Session(data)

    def save(self, req: Request, session: Session, response: Response) -> None:
        """Put ``session`` on ``response``: a new cookie, or its deletion when it is empty."""
        if not session:
            if self.cookie_name in req.cookies:
                response.delete_cookie(self.cookie_name, path=self.path, domain=self.domain)
            return
        try:
            data = _encode(session)
        except TypeError as exc:
            raise TypeError(f"session values must be JSON-serialisable: {exc}") from None
        value = sign(data, self._key)
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=self.max_age,
            path=self.path,
            domain=self.domain,
            secure=self.https_only,
            httponly=True,
            samesite=self.same_site,
        )
        if len(value) + len(self.cookie_name) > _COOKIE_LIMIT:
            logger.warning(
                "session cookie of %d bytes for %s %s: browsers drop cookies over 4 KB; "
                "keep large data on the server and only its key in the session",
                len(value),
                req.method,
                req.path,
            )
