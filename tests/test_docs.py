"""The Python snippets of the docs run as written, each in a fresh namespace.

Every page in docs/ with a ``python`` block is included unless listed in
``FRAGMENTS``: pages whose snippets continue an app defined elsewhere or need a
running server (the server tests run those apps for real).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from twinframe import App

DOCS = Path(__file__).resolve().parent.parent / "docs"
FRAGMENTS = {
    "examples.md": "talks to the blog example served on port 8000",
    "lifespan.md": "snippets build on one another and on the reader's own create_pool()",
    "servers.md": "a fragment added to the app of the page's first snippet",
    "websockets.md": "a client for a running server, and fragments of one app",
}
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(page: str) -> list[str]:
    return [match.group(1) for match in _BLOCK.finditer((DOCS / page).read_text("utf-8"))]


PAGES = sorted(
    page.name for page in DOCS.glob("*.md") if page.name not in FRAGMENTS and _blocks(page.name)
)
SNIPPETS = [(page, index, code) for page in PAGES for index, code in enumerate(_blocks(page))]


def test_the_pages_with_runnable_snippets():
    # Adding snippets to a page runs them; a page moves to FRAGMENTS only with a reason.
    assert {"async.md", "errors.md", "request.md", "response.md", "routing.md"} <= set(PAGES)
    assert {"security.md", "signing.md", "streaming.md", "testing.md"} <= set(PAGES)
    assert all(_blocks(page) for page in FRAGMENTS), "a fragment page lost its snippets"
    assert len(_blocks("security.md")) >= 4


@pytest.mark.parametrize(
    ("page", "index", "code"), SNIPPETS, ids=[f"{p}#{i}" for p, i, _ in SNIPPETS]
)
def test_snippet_runs(page, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them there
    namespace: dict[str, object] = {"__name__": f"docs_{page[:-3]}_{index}"}
    exec(compile(code, f"docs/{page}#{index}", "exec"), namespace)


def test_security_page_lists_every_app_limit():
    text = (DOCS / "security.md").read_text("utf-8")
    options = [name for name in inspect.signature(App).parameters if name.startswith("max_")]
    assert options and all(f"`{name}`" in text for name in [*options, "debug"]), options
