"""The scenarios in Bottle (WSGI only), with plain functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from ..scenarios import DYNAMIC_ROUTES, dynamic_patterns

HANDLERS = {"wsgi": "plain functions"}


def build_wsgi(routes: int = DYNAMIC_ROUTES) -> Callable[..., Any]:
    """A Bottle app serving every scenario (dicts become JSON through its JSON plugin)."""
    app = bottle.Bottle()
    request, response = bottle.request, bottle.response

    def hello() -> str:
        response.content_type = "text/plain; charset=utf-8"
        return "Hello, World!"

    def user(id: int) -> dict[str, int]:
        return {"id": id}

    def echo() -> Any:
        return request.json

    def search() -> dict[str, Any]:
        query = request.query
        return {
            "q": query.get("q"),
            "tags": query.getall("tag"),
            "limit": int(query.get("limit", "20")),
        }

    def form() -> dict[str, str]:
        forms = request.forms
        return {name: forms.getunicode(name) for name in forms}

    def upload() -> dict[str, Any]:
        file = request.files["file"]
        return {
            "title": request.forms.getunicode("title"),
            "filename": file.raw_filename,
            "size": len(file.file.read()),
        }

    def cookies() -> dict[str, Any]:
        jar = request.cookies
        return {"count": len(jar), "session": jar.get("sessionid"), "theme": jar.get("theme")}

    app.route("/", "GET", hello)
    for prefix in dynamic_patterns(routes):
        app.route(f"/{prefix}/<id:int>", "GET", user)
    app.route("/echo", "POST", echo)
    app.route("/search", "GET", search)
    app.route("/form", "POST", form)
    app.route("/upload", "POST", upload)
    app.route("/cookies", "GET", cookies)
    return app
