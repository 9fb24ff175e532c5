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


class _Form:
    def on_post(self, req: Any, resp: Any) -> None:
        resp.media = dict(req.get_media())


class _Upload:
    def on_post(self, req: Any, resp: Any) -> None:
        answer: dict[str, Any] = {}
        for part in req.get_media():
            if part.filename:
                answer["filename"] = part.filename
                answer["size"] = len(part.stream.read())
            elif part.name == "title":
                answer["title"] = part.text
        resp.media = answer


class _Cookies:
    def on_get(self, req: Any, resp: Any) -> None:
        jar = req.cookies
        resp.media = {"count": len(jar), "session": jar.get("sessionid"), "theme": jar.get("theme")}


class _FormAsync:
    async def on_post(self, req: Any, resp: Any) -> None:
        resp.media = dict(await req.get_media())


class _UploadAsync:
    async def on_post(self, req: Any, resp: Any) -> None:
        answer: dict[str, Any] = {}
        async for part in await req.get_media():
            if part.filename:
                answer["filename"] = part.filename
                answer["size"] = len(await part.stream.read())
            elif part.name == "title":
                answer["title"] = await part.get_text()
        resp.media = answer


class _CookiesAsync:
    async def on_get(self, req: Any, resp: Any) -> None:
        jar = req.cookies
        resp.media = {"count": len(jar), "session": jar.get("sessionid"), "theme": jar.get("theme")}


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


def _fill(app: Any, routes: int, *resources: Any) -> Any:
    hello, user, echo, search, form, upload, cookies = resources
    app.add_route("/", hello)
    for prefix in dynamic_patterns(routes):
        app.add_route(f"/{prefix}/{{id:int}}", user)
    app.add_route("/echo", echo)
    app.add_route("/search", search)
    app.add_route("/form", form)
    app.add_route("/upload", upload)
    app.add_route("/cookies", cookies)
    return app


def build_wsgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A ``falcon.App`` serving every scenario."""
    resources = (_Hello(), _User(), _Echo(), _Search(), _Form(), _Upload(), _Cookies())
    return _fill(falcon.App(), routes, *resources)  # type: ignore[no-any-return]


def build_asgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A ``falcon.asgi.App`` serving every scenario."""
    resources = (
        _HelloAsync(),
        _UserAsync(),
        _EchoAsync(),
        _SearchAsync(),
        _FormAsync(),
        _UploadAsync(),
        _CookiesAsync(),
    )
    return _fill(falcon.asgi.App(), routes, *resources)  # type: ignore[no-any-return]
