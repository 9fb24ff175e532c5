"""The scenarios in Starlette (ASGI only), with async endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ..scenarios import DYNAMIC_ROUTES, dynamic_patterns

HANDLERS = {"asgi": "async endpoints"}


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


async def _user(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["id"]})


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


async def _search(request: Request) -> JSONResponse:
    query = request.query_params
    return JSONResponse(
        {"q": query.get("q"), "tags": query.getlist("tag"), "limit": int(query.get("limit", "20"))}
    )


async def _form(request: Request) -> JSONResponse:
    return JSONResponse(dict(await request.form()))


async def _upload(request: Request) -> JSONResponse:
    form = await request.form()
    file: Any = form["file"]
    data = await file.read()
    await form.close()  # the upload's spooled file
    return JSONResponse({"title": form.get("title"), "filename": file.filename, "size": len(data)})


async def _cookies(request: Request) -> JSONResponse:
    jar = request.cookies
    return JSONResponse(
        {"count": len(jar), "session": jar.get("sessionid"), "theme": jar.get("theme")}
    )


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A Starlette app serving every scenario."""
    table = [Route("/", _hello)]
    table += [Route(f"/{prefix}/{{id:int}}", _user) for prefix in dynamic_patterns(routes)]
    table += [Route("/echo", _echo, methods=["POST"]), Route("/search", _search)]
    table += [Route("/form", _form, methods=["POST"]), Route("/upload", _upload, methods=["POST"])]
    table += [Route("/cookies", _cookies)]
    return Starlette(routes=table)
