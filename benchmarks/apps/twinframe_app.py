"""The scenarios in twinframe: sync handlers for ``app.wsgi``, async ones for ``app.asgi``.

Under ASGI a sync handler runs in the thread pool (so it never blocks the event
loop); the peers' ASGI apps use async handlers too, so the comparison is like
for like. Both styles are the same code otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twinframe import App, Request, Response

from ..scenarios import DYNAMIC_ROUTES, dynamic_patterns

HANDLERS = {"wsgi": "sync def", "asgi": "async def"}


def build_app(routes: int = DYNAMIC_ROUTES, async_handlers: bool = False) -> App:
    """The benchmark app with ``routes`` dynamic routes (``/users/{id:d}`` registered last)."""
    app = App()

    def hello(req: Request) -> str:
        return "Hello, World!"

    def user(req: Request, id: int) -> dict[str, int]:
        return {"id": id}

    def echo(req: Request) -> Response:
        return Response.json(req.json)

    def search(req: Request) -> dict[str, Any]:
        query = req.query
        return {
            "q": query.get("q"),
            "tags": query.getall("tag", []),
            "limit": int(query.get("limit", "20")),
        }

    def form(req: Request) -> dict[str, str]:
        return dict(req.form)

    def upload(req: Request) -> dict[str, Any]:
        file = req.files["file"]
        return {"title": req.form.get("title"), "filename": file.filename, "size": file.size}

    def cookies(req: Request) -> dict[str, Any]:
        jar = req.cookies
        return {"count": len(jar), "session": jar.get("sessionid"), "theme": jar.get("theme")}

    async def form_async(req: Request) -> dict[str, str]:
        return form(req)

    async def upload_async(req: Request) -> dict[str, Any]:
        return upload(req)

    async def cookies_async(req: Request) -> dict[str, Any]:
        return cookies(req)

    async def hello_async(req: Request) -> str:
        return hello(req)

    async def user_async(req: Request, id: int) -> dict[str, int]:
        return {"id": id}

    async def echo_async(req: Request) -> Response:
        return echo(req)

    async def search_async(req: Request) -> dict[str, Any]:
        return search(req)

    a = async_handlers
    app.add_route("/", hello_async if a else hello)
    for prefix in dynamic_patterns(routes):
        app.add_route(f"/{prefix}/{{id:d}}", user_async if a else user, name=prefix)
    app.add_route("/echo", echo_async if a else echo, methods=["POST"])
    app.add_route("/search", search_async if a else search)
    app.add_route("/form", form_async if a else form, methods=["POST"])
    app.add_route("/upload", upload_async if a else upload, methods=["POST"])
    app.add_route("/cookies", cookies_async if a else cookies)
    return app


def build_wsgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """``app.wsgi`` of the benchmark app with sync handlers."""
    return build_app(routes, async_handlers=False).wsgi


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """``app.asgi`` of the benchmark app with async handlers."""
    return build_app(routes, async_handlers=True).asgi
