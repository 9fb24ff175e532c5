"""What a template render costs, against handing it to the thread pool (docs/templates.md).

    python -m benchmarks.templates_render

Renders the blog's post page (one post, three paragraphs) and index page (20
posts) with ``twinframe.templates.Templates`` and times, from inside a running
event loop: rendering in place, and the same render through
``app.thread_pool.run`` (what an async handler would pay to move it off the loop).
Minimum per call over several rounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twinframe import App
from twinframe.templates import Templates
from twinframe.testing import TestClient

TEMPLATES = Path(__file__).resolve().parent.parent / "examples" / "templates"
ROUNDS, CALLS = 15, 300


def _paragraphs(text: str) -> list[str]:
    return [block for block in text.split("\n\n") if block]


async def _interleaved(
    render: Callable[[], Any], pool_run: Callable[..., Any]
) -> tuple[float, float]:
    """Best time per call in place and through the pool, batches alternating (fair under load)."""
    in_place = pooled = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            render()
        in_place = min(in_place, (time.perf_counter() - start) / CALLS)
        start = time.perf_counter()
        for _ in range(CALLS):
            await pool_run(render)
        pooled = min(pooled, (time.perf_counter() - start) / CALLS)
    return in_place, pooled


def main() -> None:
    templates = Templates(TEMPLATES, trim_blocks=True, lstrip_blocks=True)
    templates.env.filters["paragraphs"] = _paragraphs
    app = App()
    for name, pattern in [
        ("index", "/"),
        ("show_post", "/posts/{id:d}"),
        ("new_post", "/new"),
        ("login_form", "/login"),
        ("logout", "/logout"),
        ("delete_post_form", "/posts/{id:d}/delete"),
    ]:
        app.add_route(pattern, lambda req, **kw: "", name=name)
    app.static("/static", TEMPLATES)
    captured: list[Any] = []

    @app.get("/capture")
    def capture(req: Any) -> str:
        captured.append(req)
        return ""

    TestClient(app, "asgi").get("/capture")
    req = captured[0]
    post = {
        "id": 7,
        "title": "A post",
        "created_at": "2026-12-01T20:00:00+00:00",
        "body": "First paragraph.\n\nSecond one, longer.\n\nThird.",
    }
    posts = [{**post, "id": i, "title": f"Post number {i}"} for i in range(20)]
    pages = {
        "post.html": {"post": post, "user": None},
        "index.html": {"posts": posts, "page": 1, "more": True, "user": None},
    }

    async def run() -> None:
        for name, context in pages.items():

            def render(name: str = name, context: dict[str, Any] = context) -> str:
                return templates.render_string(req, name, **context)

            in_place, pooled = await _interleaved(render, app.thread_pool.run)
            print(
                f"{name:11} in place {in_place * 1e6:7.1f} us   "
                f"via thread pool {pooled * 1e6:7.1f} us"
            )
        app.thread_pool.shutdown()

    asyncio.run(run())


if __name__ == "__main__":
    main()
