"""Cookie header parsing: twinframe.cookies.parse_cookie_header vs http.cookies.SimpleCookie.

Run: python -m benchmarks.cookie_parsing
"""

from __future__ import annotations

import timeit
from http.cookies import SimpleCookie

from twinframe.cookies import parse_cookie_header

# What a browser sends to a typical site: analytics, session, CSRF, preferences,
# one value with a space and one JSON-ish value with brackets.
BROWSER = (
    "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; "
    "sessionid=8f14e45fceea167a5a36dedd4bea2543; csrftoken=Yk3vQ9pLr2TxW8mN4bZc7HdJ; "
    "theme=dark; lang=en-US; cart=[12,34,56]; greeting=hello world; "
    'consent="analytics=1,ads=0"; tz=Europe/Paris'
)
# The same without the value SimpleCookie refuses, for a like-for-like timing.
STRICT = BROWSER.replace("greeting=hello world; ", "")


def simple_cookie(header: str) -> dict[str, str]:
    """Parse with the standard library, the way frameworks built on it do."""
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    return {name: morsel.value for name, morsel in cookie.items()}


PARSERS = (("parse_cookie_header", parse_cookie_header), ("SimpleCookie", simple_cookie))


def main(number: int = 100_000) -> None:
    for label, header in (("browser header (10 cookies)", BROWSER), ("strict header (9)", STRICT)):
        print(f"{label}:")
        for name, parse in PARSERS:
            best = min(timeit.repeat(lambda: parse(header), number=number, repeat=5))  # noqa: B023
            found = len(parse(header))
            print(f"  {name:20} {best / number * 1e6:6.2f} us/header, {found} cookies parsed")


if __name__ == "__main__":
    main()
