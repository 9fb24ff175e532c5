"""A small blog: sync handlers over SQLite or PostgreSQL, Jinja2 pages, an author login
and a JSON API.

    python -m examples.blog create-user ada  # the author account (and an API token)
    gunicorn examples.blog:app.wsgi          # WSGI (add -w 4 for four worker processes)
    uvicorn examples.blog:app.asgi           # ASGI (sync handlers run in a thread pool)

Pages come from examples/templates/, CSS from examples/static/ (app.static).
Reading is public; writing needs the login (HTML forms, kept in the session
cookie) or an API token (``Authorization: Bearer``, for the JSON API).

Settings (environment variables):
    BLOG_DATABASE_URL  postgresql://... to store everything in PostgreSQL (several machines)
    BLOG_POOL_SIZE     PostgreSQL connections per process, at most (default 10)
    BLOG_DB            SQLite file, when BLOG_DATABASE_URL is unset (default: blog.db here)
    BLOG_SECRET        key that signs the session cookie, 32+ bytes (default: a random key
                       kept in the database, the same for every worker process)

Storage lives in examples/blog_db.py. Several processes may serve the same SQLite
file (WAL mode, a connection per thread, each write a single statement), and any
number of machines one PostgreSQL database.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from examples.blog_db import Database, User, database_target
from examples.blog_live import add_live_index
from twinframe import App, BadRequest, HTTPError, NotFound, Request, Response, Unauthorized
from twinframe.middleware import CrossOriginProtection, Sessions
from twinframe.templates import Templates

logger = logging.getLogger("examples.blog")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
PAGE_SIZE = 20
MAX_LIMIT = 100
MAX_TITLE = 200
MAX_BODY = 100_000
H = TypeVar("H", bound=Callable[..., Any])
_UNSET: Any = object()

# -- HTML helpers ----------------------------------------------------------------------


def paragraphs(text: str) -> list[str]:
    """A post body as its paragraphs (blank-line separated), for ``post.body|paragraphs``."""
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, else ``/`` (no open redirect)."""
    # "//host" and "/\\host" are other sites to a browser, which also drops tabs and
    # newlines from URLs ("/\t/host"): only a plain path is kept.
    if not target or target[0] != "/" or target[1:2] in ("/", "\\"):
        return "/"
    if any(c < " " or c in "\\\x7f" for c in target):
        return "/"
    return target


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


class StartupSessions:
    """``Sessions`` whose secret key is only known at startup (read from the database)."""

    inline = True  # awaits nothing but call_next, like Sessions itself (see twinframe.chain)

    def __init__(self, secret_key: Callable[[], str]) -> None:
        self._secret_key = secret_key
        self._sessions: Sessions | None = None

    def start(self) -> None:
        """Make the Sessions middleware (from the startup hook, once the database is open)."""
        self._sessions = Sessions(self._secret_key())

    async def __call__(
        self, req: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if self._sessions is None:
            raise RuntimeError("the blog's sessions start with the app: run its startup hooks")
        return await self._sessions(req, call_next)


# -- the app ---------------------------------------------------------------------------


def create_app(db_path: str | None = None, secret: str | None = None) -> App:
    """Build the blog on ``db_path`` (a SQLite file or a ``postgresql://`` URL; default
    from the environment: ``blog_db.database_target()``), signing sessions with ``secret``
    (default ``$BLOG_SECRET``, else a random key kept in the database)."""
    app = App()
    db = Database(db_path or database_target())
    templates = Templates(
        TEMPLATES_DIR, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    templates.env.filters["paragraphs"] = paragraphs
    # The session key may live in the database, which opens at startup: the
    # Sessions middleware is made then (a short BLOG_SECRET fails the startup).
    sessions = StartupSessions(
        lambda: secret or os.environ.get("BLOG_SECRET") or db.stored_secret()
    )
    app.add_middleware(sessions)
    # Forms post without tokens: the browser's Sec-Fetch-Site / Origin headers tell a
    # cross-site post apart, and it is refused before any handler runs.
    app.add_middleware(CrossOriginProtection())
    app.static("/static", STATIC_DIR)

    @app.on_startup
    def open_database() -> None:
        db.setup()
        sessions.start()

    @app.on_shutdown
    def close_database() -> None:
        db.close()

    # -- who is asking ---------------------------------------------------------------

    def current_user(req: Request) -> User | None:
        """The logged-in author (the session's user, if the account still exists)."""
        cached = getattr(req.state, "user", _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[no-any-return]
        name = req.session.get("user")
        user = db.get_user(name) if isinstance(name, str) else None
        req.state.user = user
        return user

    def author_page(handler: H) -> H:
        """HTML routes for the logged-in author; anyone else is sent to the login page."""

        @functools.wraps(handler)
        def wrapper(req: Request, **params: Any) -> Any:
            if current_user(req) is None:
                # After logging in, come back to the page (a form post can't be replayed).
                back = req.path if req.method == "GET" else "/"
                req.session.flash("Log in to write or delete posts.", "error")
                return Response.redirect(app.url_for("login_form", next=back))
            return handler(req, **params)

        return wrapper  # type: ignore[return-value]

    def api_author(req: Request) -> User:
        """The author an ``Authorization: Bearer <token>`` header names, else 401."""
        scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "this needs an API token: 'Authorization: Bearer <token>' "
                "(python -m examples.blog create-token NAME prints one)",
                headers={"WWW-Authenticate": 'Bearer realm="blog"'},
            )
        user = db.verify_token(token)
        if user is None:
            raise Unauthorized(
                "invalid API token",
                headers={"WWW-Authenticate": 'Bearer realm="blog", error="invalid_token"'},
            )
        return user

    def page(req: Request, template: str, /, status: int = 200, **context: Any) -> Response:
        """Render ``template``; every page knows who is logged in."""
        return templates.render(req, template, status=status, user=current_user(req), **context)

    @app.after_request
    def security_headers(req: Request, response: Response) -> None:
        if (response.content_type or "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", "default-src 'self'")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")

    @app.errorhandler(404)
    def not_found_page(req: Request, exc: HTTPError) -> Response | None:
        # Browsers get a page in the site's layout; the API and other clients keep
        # the problem+json answer (None: the default rendering).
        if req.path.startswith("/api/") or "text/html" not in (req.headers.get("accept") or ""):
            return None
        return page(req, "404.html", 404, message="There is nothing at this address.")

    # -- HTML pages ------------------------------------------------------------------

    @app.get("/")
    def index(req: Request) -> Response:
        page_number = _int_param(req, "page", 1, 1, 1_000_000)
        posts = db.list_posts(PAGE_SIZE + 1, (page_number - 1) * PAGE_SIZE)
        return page(
            req,
            "index.html",
            posts=posts[:PAGE_SIZE],
            page=page_number,
            more=len(posts) > PAGE_SIZE,
        )

    @app.get("/posts/{id:d}")
    def show_post(req: Request, id: int) -> Response:
        post = db.get_post(id)
        if post is None:
            return page(req, "404.html", 404, message=f"No post number {id}.")
        return page(req, "post.html", post=post)

    @app.get("/new")
    @author_page
    def new_post(req: Request) -> Response:
        return page(req, "form.html", title="", body="", error=None, max_title=MAX_TITLE)

    @app.post("/posts")
    @author_page
    def create_post_form(req: Request) -> Response:
        title, body = req.form.get("title", ""), req.form.get("body", "")
        try:
            title, body = _validated(title, body)
        except BadRequest as exc:
            return page(
                req,
                "form.html",
                400,
                title=title,
                body=body,
                error=exc.detail,
                max_title=MAX_TITLE,
            )
        post = db.create_post(title, body)
        req.session.flash("Post created")
        return Response.redirect(app.url_for("show_post", id=post["id"]))

    @app.post("/posts/{id:d}/delete")
    @author_page
    def delete_post_form(req: Request, id: int) -> Response:
        if not db.delete_post(id):
            return page(req, "404.html", 404, message=f"There is no post number {id}.")
        req.session.flash("Post deleted")
        return Response.redirect(app.url_for("index"))

    # -- logging in and out ----------------------------------------------------------

    @app.get("/login")
    def login_form(req: Request) -> Response:
        return page(req, "login.html", next=safe_next(req.query.get("next")), name="", error=None)

    @app.post("/login")
    def login(req: Request) -> Response:
        name = req.form.get("name", "").strip()
        password = req.form.get("password", "")
        next_page = safe_next(req.form.get("next"))
        user = db.verify_password(name, password) if name and password else None
        if user is None:
            return page(
                req,
                "login.html",
                400,
                next=next_page,
                name=name,
                error="Wrong name or password.",
            )
        # A fresh session for the new login: nothing from before it carries over.
        req.session.clear()
        req.session["user"] = user.name
        req.session.flash(f"Logged in as {user.name}")
        return Response.redirect(next_page)

    @app.post("/logout")
    def logout(req: Request) -> Response:
        req.session.clear()
        req.session.flash("Logged out")
        return Response.redirect(app.url_for("index"))

    # -- JSON API (reading is public, writing needs a token) -------------------------

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
        api_author(req)
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
        api_author(req)
        if not db.delete_post(id):
            raise NotFound(f"no post with id {id}")

    # Live index: server-sent events for new posts (examples/blog_live.py).
    add_live_index(app, db, lambda post_id: app.url_for("show_post", id=post_id))

    return app


app = create_app()


if __name__ == "__main__":  # python -m examples.blog create-user NAME (see examples/blog_cli.py)
    from examples.blog_cli import main

    raise SystemExit(main())
