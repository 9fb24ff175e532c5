"""Flash messages: a note for the next page the user sees, kept in the session.

``flash(req, "Post created")`` before a redirect; the next page shows
``get_flashed_messages(req)`` (templates call ``get_flashed_messages()``), which
removes them, so each message is shown once. Needs a session (the ``Sessions``
middleware).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from .request import Request

__all__ = ["FLASH_KEY", "flash", "get_flashed_messages", "session_of"]

FLASH_KEY = "_flashes"
"""The session key holding the pending messages, a list of ``[category, message]`` pairs."""


def session_of(req: Request) -> MutableMapping[str, Any] | None:
    """``req.session`` when a session middleware provides one, else None."""
    try:
        session = req.session
    except (AttributeError, RuntimeError):
        return None
    return session if isinstance(session, MutableMapping) else None


def _session(req: Request) -> MutableMapping[str, Any]:
    session = session_of(req)
    if session is None:
        raise RuntimeError(
            "flash messages live in the session: add the Sessions middleware "
            "(app.add_middleware(Sessions(secret_key)))"
        )
    return session


def flash(req: Request, message: str, category: str = "info") -> None:
    """Keep ``message`` in the session for the next page (``category``: e.g. info, error)."""
    session = _session(req)
    pending = session.get(FLASH_KEY)
    # A new list, assigned: the session notices assignments, not changes inside values.
    session[FLASH_KEY] = [*(pending if isinstance(pending, list) else []), [category, message]]


@overload
def get_flashed_messages(req: Request, with_categories: Literal[False] = False) -> list[str]: ...


@overload
def get_flashed_messages(req: Request, with_categories: Literal[True]) -> list[tuple[str, str]]: ...


@overload
def get_flashed_messages(
    req: Request, with_categories: bool
) -> list[str] | list[tuple[str, str]]: ...


def get_flashed_messages(
    req: Request, with_categories: bool = False
) -> list[str] | list[tuple[str, str]]:
    """The pending messages, oldest first, removed from the session (each is shown once).

    ``with_categories=True`` gives ``(category, message)`` pairs. Without a
    session, or with nothing pending, an empty list (and the session is untouched).
    """
    session = session_of(req)
    if session is None or FLASH_KEY not in session:
        return []
    pending = session.pop(FLASH_KEY)
    pairs = [
        (str(item[0]), str(item[1]))
        for item in (pending if isinstance(pending, list) else [])
        if isinstance(item, (list, tuple)) and len(item) == 2
    ]
    if with_categories:
        return pairs
    return [message for _, message in pairs]
