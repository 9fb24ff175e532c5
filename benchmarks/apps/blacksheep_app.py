"""The scenarios in BlackSheep (ASGI only, its core compiled with Cython), with async handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blacksheep import Application, Request, Response, json, text

from ..scenarios import DYNAMIC_ROUTES, dynamic_patterns

HANDLERS = {"asgi": "async handlers"}


async def _hello(request: Request) -> Response:
    return text("Hello, World!")


async def _user(request: Request) -> Response:
    return json({"id": int(request.route_values["id"])})


async def _echo(request: Request) -> Response:
    return json(await request.json())


async def _search(request: Request) -> Response:
    query = request.query
    return json(
        {
            "q": query["q"][0] if "q" in query else None,
            "tags": query.get("tag", []),
            "limit": int(query["limit"][0]) if "limit" in query else 20,
        }
    )


async def _form(request: Request) -> Response:
    return json(dict(await request.form()))


async def _upload(request: Request) -> Response:
    form = await request.form()
    file = form["file"][0]  # the FormParts of that name; the data is in memory
    name = file.file_name.decode()
    return json({"title": form.get("title"), "filename": name, "size": len(file.data)})


async def _cookies(request: Request) -> Response:
    jar = request.cookies
    return json({"count": len(jar), "session": jar.get("sessionid"), "theme": jar.get("theme")})


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A BlackSheep app serving every scenario (``{int:id}`` routes match digits only)."""
    app = Application()
    router = app.router
    router.add_get("/", _hello)
    for prefix in dynamic_patterns(routes):
        router.add_get(f"/{prefix}/{{int:id}}", _user)
    router.add_post("/echo", _echo)
    router.add_get("/search", _search)
    router.add_post("/form", _form)
    router.add_post("/upload", _upload)
    router.add_get("/cookies", _cookies)
    return app
