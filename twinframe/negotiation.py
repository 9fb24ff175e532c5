"""Reading what a client accepts: ``Accept-Encoding`` for compression and precompressed files."""

from __future__ import annotations

__all__ = ["accepts_encoding"]


def accepts_encoding(accept_encoding: str | None, coding: str, *aliases: str) -> bool:
    """True if an ``Accept-Encoding`` value allows ``coding`` or an alias (by name or ``*``, q > 0).

    An entry naming the coding decides, whatever ``*`` says; ``q=0`` or an
    unreadable q refuses it.
    """
    if not accept_encoding:
        return False
    names = (coding, *aliases)
    star = False
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        name = name.strip()
        if name != "*" and name not in names:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name != "*":
            return q > 0  # named explicitly: that decides, whatever "*" says
        star = q > 0
    return star
