"""``req.session``: a dict kept across requests by ``twinframe.middleware.Sessions``.

Values are anything JSON can hold (str, int, float, bool, None, lists, dicts
with string keys). The session notes when it is changed, so the cookie is only
sent again when it was; a change *inside* a value (``session["cart"].append(x)``)
is invisible to it: assign the value again, or set ``session.modified = True``.

Flash messages are one-time notes for the next page a user sees::

    req.session.flash("Post published")                  # category "info"
    req.session.flash("Wrong password", "error")
    ...
    for message in req.session.pop_flashes():            # on the next page
        print(message.category, message.text)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["Flash", "Session"]

FLASHES_KEY = "_flashes"
"""The session key flash messages are kept under (a list of [category, text] pairs)."""


class Flash(NamedTuple):
    """One flash message: its ``category`` (e.g. "info", "error") and its ``text``."""

    category: str
    text: str


class Session(dict[str, Any]):
    """The session of one request: a dict that notes whether it was changed.

    ``modified`` is True once a key was set, deleted or the session cleared;
    ``clear()`` ends the session (the browser's cookie is deleted).
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        """Remove everything: the session ends and its cookie is deleted."""
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        """Remove ``key`` and return its value (``default`` if absent, else KeyError)."""
        if key in self:
            self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last (key, value) pair."""
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``session[key]``, set to ``default`` first if absent."""
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set several keys at once (as ``dict.update``)."""
        self.modified = True
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self

    # -- flash messages ---------------------------------------------------------

    def flash(self, text: str, category: str = "info") -> None:
        """Keep ``text`` for the next page that calls ``pop_flashes()``."""
        messages = list(self.get(FLASHES_KEY, ()))
        messages.append([str(category), str(text)])
        self[FLASHES_KEY] = messages

    def peek_flashes(self) -> list[Flash]:
        """The waiting flash messages, oldest first, left in place."""
        return _flashes(self.get(FLASHES_KEY, ()))

    def pop_flashes(self) -> list[Flash]:
        """The waiting flash messages, oldest first, removed from the session."""
        if FLASHES_KEY not in self:
            return []
        return _flashes(self.pop(FLASHES_KEY))


def _flashes(stored: Iterable[Any]) -> list[Flash]:
    # The cookie is signed, so this is what flash() wrote; stay lenient all the same.
    out = []
    for item in stored:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            out.append(Flash(str(item[0]), str(item[1])))
    return out
