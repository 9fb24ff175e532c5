"""The Vary header, which several middleware extend."""

from __future__ import annotations

from ..response import Response


def add_vary(response: Response, name: str) -> None:
    """Add ``name`` to ``response``'s Vary header, once (a ``Vary: *`` stays as it is)."""
    headers = response.headers
    current = headers.get("Vary")
    if not current:
        headers["Vary"] = name
    elif current.strip() != "*" and name.lower() not in (
        part.strip().lower() for part in current.split(",")
    ):
        headers["Vary"] = f"{current}, {name}"
