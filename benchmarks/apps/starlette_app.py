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


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A Starlette app serving every scenario."""
    table = [Route("/", _hello)]
    table += [Route(f"/{prefix}/{{id:int}}", _user) for prefix in dynamic_patterns(routes)]
    table += [Route("/echo", _echo, methods=["POST"]), Route("/search", _search)]
    return Starlette(routes=table)
