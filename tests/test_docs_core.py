"""The Python snippets in docs/request.md, response.md and testing.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["request.md", "response.md", "testing.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def snippets() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        for index, match in enumerate(_BLOCK.finditer((DOCS / page).read_text("utf-8"))):
            found.append((page, index, match.group(1)))
    return found


@pytest.mark.parametrize(
    ("page", "index", "code"), snippets(), ids=[f"{p}#{i}" for p, i, _ in snippets()]
)
def test_snippet_runs(page, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page[:-3]}_{index}"}
    exec(compile(code, f"docs/{page}#{index}", "exec"), namespace)
