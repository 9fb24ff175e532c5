"""The scenarios in Falcon: sync responders for falcon.App, async ones for falcon.asgi.App."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon
import falcon.asgi

from ..scenarios import DYNAMIC_ROUTES, dynamic_patterns

HANDLERS = {"wsgi": "sync responders", "asgi": "async responders (required)"}


class _Hello:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class _User:
    def on_get(self, req: Any, resp: Any, id: int) -> None:
        resp.media = {"id": id}


class _Echo:
    def on_post(self, req: Any, resp: Any) -> None:
        resp.media = req.get_media()


class _Search:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {
            "q": req.get_param("q"),
            "tags": req.get_param_as_list("tag") or [],
            "limit": req.get_param_as_int("limit", default=20),
        }


class _HelloAsync:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class _UserAsync:
    async def on_get(self, req: Any, resp: Any, id: int) -> None:
        resp.media = {"id": id}


class _EchoAsync:
    async def on_post(self, req: Any, resp: Any) -> None:
        resp.media = await req.get_media()


class _SearchAsync:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {
            "q": req.get_param("q"),
            "tags": req.get_param_as_list("tag") or [],
            "limit": req.get_param_as_int("limit", default=20),
        }


def _fill(app: Any, routes: int, hello: Any, user: Any, echo: Any, search: Any) -> Any:
    app.add_route("/", hello)
    for prefix in dynamic_patterns(routes):
        app.add_route(f"/{prefix}/{{id:int}}", user)
    app.add_route("/echo", echo)
    app.add_route("/search", search)
    return app


def build_wsgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A ``falcon.App`` serving every scenario."""
    return _fill(falcon.App(), routes, _Hello(), _User(), _Echo(), _Search())  # type: ignore[no-any-return]


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A ``falcon.asgi.App`` serving every scenario."""
    return _fill(  # type: ignore[no-any-return]
        falcon.asgi.App(), routes, _HelloAsync(), _UserAsync(), _EchoAsync(), _SearchAsync()
    )
