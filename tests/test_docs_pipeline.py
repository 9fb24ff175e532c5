"""The Python snippets in docs/routing.md, errors.md and async.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["routing.md", "errors.md", "async.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _snippets() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        for index, match in enumerate(_BLOCK.finditer((DOCS / page).read_text("utf-8"))):
            found.append((page, index, match.group(1)))
    return found


SNIPPETS = _snippets()


def test_every_page_has_snippets():
    assert {page for page, _, _ in SNIPPETS} == set(PAGES)


@pytest.mark.parametrize(
    ("page", "index", "code"), SNIPPETS, ids=[f"{p}#{i}" for p, i, _ in SNIPPETS]
)
def test_snippet_runs(page, index, code):
    namespace: dict[str, object] = {"__name__": f"docs_{page[:-3]}_{index}"}
    exec(compile(code, f"docs/{page}#{index}", "exec"), namespace)
