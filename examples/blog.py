"""A small blog: sync handlers over SQLite or PostgreSQL, HTML pages and a JSON API.

    gunicorn examples.blog:app.wsgi          # WSGI (add -w 4 for four worker processes)
    uvicorn examples.blog:app.asgi           # ASGI (sync handlers run in a thread pool)

Settings (environment variables):
    BLOG_DATABASE_URL  postgresql://... to store everything in PostgreSQL (several machines)
    BLOG_POOL_SIZE     PostgreSQL connections per process, at most (default 10)
    BLOG_DB            SQLite file, when BLOG_DATABASE_URL is unset (default: blog.db here)
    BLOG_SECRET        key that signs the flash cookie (default: a random key in the database)

    python -m examples.blog create-user NAME    # the author account (see examples/blog_cli.py)

Storage lives in examples/blog_db.py. Several processes may serve the same SQLite
file (WAL mode, a connection per thread, each write a single statement), and any
number of machines one PostgreSQL database.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any

from examples.blog_db import Database, database_target
from twinframe import App, BadRequest, NotFound, Request, Response
from twinframe.signing import BadSignature, sign, unsign

logger = logging.getLogger("examples.blog")

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_SIZE = 20
MAX_LIMIT = 100
MAX_TITLE = 200
MAX_BODY = 100_000
FLASH_COOKIE = "flash"
FLASH_MAX_AGE = 60  # seconds: a flash is meant for the very next page

# -- HTML ------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _layout(title: str, content: str, flash: str | None = None) -> str:
    notice = f'<p class="flash" role="status">{_e(flash)}</p>' if flash else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · twinframe blog</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header>
<a href="/" class="brand">twinframe blog</a> <a href="/new" class="button">New post</a>
</header>
<main>
{notice}
{content}
</main>
</body>
</html>
"""


def _when(created_at: str) -> str:
    return created_at[:16].replace("T", " ") + " UTC"


def _paragraphs(text: str) -> str:
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return "\n".join(f"<p>{_e(block)}</p>" for block in blocks if block)


def _form(title: str = "", body: str = "", error: str | None = None) -> str:
    message = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    return f"""<h1>New post</h1>
{message}
<form method="post" action="/posts">
<label>Title <input name="title" value="{_e(title)}" maxlength="{MAX_TITLE}" required></label>
<label>Body <textarea name="body" rows="10">{_e(body)}</textarea></label>
<button type="submit">Publish</button>
</form>"""


def _not_found(post_id: int) -> str:
    return f'<h1>Not found</h1>\n<p>No post number {post_id}. <a href="/">All posts</a></p>'


def _int_param(req: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    if (
        not (raw.isascii() and raw.isdigit() and len(raw) <= 9)
        or not minimum <= int(raw) <= maximum
    ):
        raise BadRequest(f"{name} must be an integer from {minimum} to {maximum}, got {raw[:20]!r}")
    return int(raw)


def _validated(title: Any, body: Any) -> tuple[str, str]:
    """The stripped title and body, or a BadRequest saying what is wrong."""
    if not isinstance(title, str) or not isinstance(body, str):
        raise BadRequest("'title' and 'body' must be strings")
    title = title.strip()
    if not title:
        raise BadRequest("the title must not be empty")
    if len(title) > MAX_TITLE:
        raise BadRequest(f"the title must be at most {MAX_TITLE} characters")
    if len(body) > MAX_BODY:
        raise BadRequest(f"the body must be at most {MAX_BODY} characters")
    return title, body


# -- the app ---------------------------------------------------------------------------


def create_app(db_path: str | None = None, secret: str | None = None) -> App:
    """Build the blog on ``db_path`` (a SQLite file or a ``postgresql://`` URL; default
    from the environment: ``blog_db.database_target()``), signing flashes with ``secret``."""
    app = App()
    db = Database(db_path or database_target())
    keys: dict[str, str] = {}

    @app.on_startup
    def open_database() -> None:
        db.setup()
        keys["flash"] = secret or os.environ.get("BLOG_SECRET") or db.stored_secret()

    @app.on_shutdown
    def close_database() -> None:
        db.close()

    def render(req: Request, title: str, content: str, status: int = 200) -> Response:
        """An HTML page, showing (and clearing) the flash message if the request carries one."""
        flash = None
        token = req.cookies.get(FLASH_COOKIE)
        if token:
            try:
                flash = unsign(token, keys["flash"], max_age=FLASH_MAX_AGE)
            except BadSignature:
                pass  # forged or stale: drop it silently
        response = Response.html(_layout(title, content, flash), status)
        if token is not None:
            response.delete_cookie(FLASH_COOKIE)
        return response

    def redirect_with_flash(location: str, message: str) -> Response:
        response = Response.redirect(location)
        response.set_cookie(FLASH_COOKIE, sign(message, keys["flash"]), max_age=FLASH_MAX_AGE)
        return response

    @app.after_request
    def security_headers(req: Request, response: Response) -> None:
        if (response.content_type or "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", "default-src 'self'")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")

    # HTML pages

    @app.get("/")
    def index(req: Request) -> Response:
        page = _int_param(req, "page", 1, 1, 1_000_000)
        posts = db.list_posts(PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        items = "\n".join(
            f'<li><a href="{_e(app.url_for("show_post", id=p["id"]))}">{_e(p["title"])}</a> '
            f'<time datetime="{_e(p["created_at"])}">{_e(p["created_at"][:10])}</time></li>'
            for p in posts[:PAGE_SIZE]
        )
        content = (
            f'<h1>Posts</h1>\n<ul class="posts">\n{items}\n</ul>'
            if items
            else '<h1>Posts</h1>\n<p>No posts on this page. <a href="/">Back to the newest</a>.</p>'
            if page > 1
            else '<h1>Posts</h1>\n<p>No posts yet. <a href="/new">Write the first one</a>.</p>'
        )
        nav = []
        if page > 1:
            nav.append(f'<a href="/?page={page - 1}">Newer posts</a>')
        if len(posts) > PAGE_SIZE:
            nav.append(f'<a href="/?page={page + 1}">Older posts</a>')
        if nav:
            content += f'\n<nav class="pages">{" ".join(nav)}</nav>'
        return render(req, "Posts", content)

    @app.get("/posts/{id:d}")
    def show_post(req: Request, id: int) -> Response:
        post = db.get_post(id)
        if post is None:
            return render(req, "Not found", _not_found(id), 404)
        delete = app.url_for("delete_post_form", id=id)
        content = f"""<article>
<h1>{_e(post["title"])}</h1>
<p class="meta"><time datetime="{_e(post["created_at"])}">{_e(_when(post["created_at"]))}</time></p>
{_paragraphs(post["body"])}
</article>
<form method="post" action="{_e(delete)}" class="delete">
<button type="submit">Delete this post</button>
</form>"""
        return render(req, post["title"], content)

    @app.get("/new")
    def new_post(req: Request) -> Response:
        return render(req, "New post", _form())

    @app.post("/posts")
    def create_post_form(req: Request) -> Response:
        title, body = req.form.get("title", ""), req.form.get("body", "")
        try:
            title, body = _validated(title, body)
        except BadRequest as exc:
            return render(req, "New post", _form(title, body, exc.detail), 400)
        post = db.create_post(title, body)
        return redirect_with_flash(app.url_for("show_post", id=post["id"]), "Post created")

    @app.post("/posts/{id:d}/delete")
    def delete_post_form(req: Request, id: int) -> Response:
        if not db.delete_post(id):
            return render(
                req, "Not found", f"<h1>Not found</h1>\n<p>There is no post number {id}.</p>", 404
            )
        return redirect_with_flash("/", "Post deleted")

    # JSON API

    @app.get("/api/posts")
    def api_list_posts(req: Request) -> dict[str, Any]:
        limit = _int_param(req, "limit", PAGE_SIZE, 1, MAX_LIMIT)
        offset = _int_param(req, "offset", 0, 0, 1_000_000_000)
        return {
            "posts": db.list_posts(limit, offset),
            "total": db.count_posts(),
            "limit": limit,
            "offset": offset,
        }

    @app.post("/api/posts")
    def api_create_post(req: Request) -> Response:
        data = req.json
        if not isinstance(data, dict):
            raise BadRequest('expected a JSON object {"title": ..., "body": ...}')
        missing = [name for name in ("title", "body") if name not in data]
        if missing:
            raise BadRequest(f"missing field(s): {', '.join(missing)}")
        post = db.create_post(*_validated(data["title"], data["body"]))
        location = app.url_for("api_get_post", id=post["id"])
        return Response.json(post, status=201, headers={"Location": location})

    @app.get("/api/posts/{id:d}")
    def api_get_post(req: Request, id: int) -> dict[str, Any]:
        post = db.get_post(id)
        if post is None:
            raise NotFound(f"no post with id {id}")
        return post

    @app.delete("/api/posts/{id:d}")
    def api_delete_post(req: Request, id: int) -> None:
        if not db.delete_post(id):
            raise NotFound(f"no post with id {id}")

    # Static files: the path is resolved inside STATIC_DIR, anything escaping it is a 404.

    @app.get("/static/{path:path}")
    def static(req: Request, path: str) -> Response:
        return Response.file(path, root=STATIC_DIR)

    return app


app = create_app()


if __name__ == "__main__":  # python -m examples.blog create-user NAME (see examples/blog_cli.py)
    from examples.blog_cli import main

    raise SystemExit(main())
