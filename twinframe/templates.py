"""HTML pages from Jinja2 templates: ``Templates(directory).render(req, "page.html", **context)``.

Needs the ``templates`` extra (``pip install 'twinframe[templates]'``). Every
template sees ``req``, ``url_for``, ``session`` and ``get_flashed_messages()``
(the session's flash messages, see ``twinframe.session``);
errors while loading or rendering a template name the template and the line.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable
from os import PathLike
from types import TracebackType
from typing import TYPE_CHECKING, Any

try:
    import jinja2
except ImportError as exc:  # pragma: no cover - exercised by a test that hides jinja2
    raise ImportError(
        "twinframe.templates needs Jinja2, which is not installed: "
        "pip install 'twinframe[templates]'"
    ) from exc

from .errors import HTTPError
from .response import HTML, Response

if TYPE_CHECKING:
    from .request import Request
    from .session import Flash, Session

__all__ = ["TemplateRenderError", "Templates"]

# Extensions whose templates are escaped by default: markup, where an unescaped
# value is a cross-site scripting hole.
AUTOESCAPED = ("html", "htm", "xml", "xhtml", "svg")


class TemplateRenderError(Exception):
    """A template failed to load or render; the message starts with ``name, line N:``.

    The original Jinja2 (or Python) exception is its ``__cause__``. The client
    gets a plain 500 (the traceback, this message included, only with ``debug=True``);
    the log gets the message and the traceback.
    """

    def __init__(self, message: str, name: str | None, lineno: int | None) -> None:
        super().__init__(message)
        self.template_name = name
        self.lineno = lineno


@jinja2.pass_context
def _url_for(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
    """``url_for("show_post", id=3)`` in a template: the route's path, mount prefix included."""
    req: Request = context["req"]
    return req.url_for(name, **params)


@jinja2.pass_context
def _flashed(context: jinja2.runtime.Context) -> list[Flash]:
    """The session's flash messages, ``(category, text)`` pairs, removed: each is shown once."""
    session = _session_of(context["req"])
    return session.pop_flashes() if session is not None else []


def _session_of(req: Request) -> Session | None:
    try:
        return req.session
    except RuntimeError:  # no Sessions middleware: templates get None
        return None


class Templates:
    """A Jinja2 environment loading templates from ``directory`` (a path or a list of paths).

    Keyword options go to ``jinja2.Environment`` (``auto_reload=False`` skips the
    per-render modification check in production, ``undefined=jinja2.StrictUndefined``
    turns a misspelt variable into an error...). Autoescaping is on for
    ``.html``, ``.htm``, ``.xml``, ``.xhtml`` and ``.svg`` templates unless
    ``autoescape=`` says otherwise. ``templates.env`` is the environment itself:
    add filters and globals there.
    """

    def __init__(
        self,
        directory: str | PathLike[str] | Iterable[str | PathLike[str]],
        **jinja_options: Any,
    ) -> None:
        if jinja_options.get("enable_async"):
            # Jinja's async mode makes render() start an event loop of its own,
            # which fails inside the server's loop: refuse it here, not per request.
            raise ValueError(
                "Templates does not support enable_async=True: render() is synchronous "
                "(load the data in the handler, then render)"
            )
        if isinstance(directory, (str, PathLike)):
            directories = [os.fspath(directory)]
        else:
            directories = [os.fspath(d) for d in directory]
        self.directories = [os.path.abspath(d) for d in directories]
        jinja_options.setdefault("loader", jinja2.FileSystemLoader(self.directories))
        jinja_options.setdefault(
            "autoescape",
            jinja2.select_autoescape(enabled_extensions=AUTOESCAPED, default_for_string=True),
        )
        self.env = jinja2.Environment(**jinja_options)
        """The ``jinja2.Environment``: add filters, tests and globals to it."""
        self.env.globals.setdefault("url_for", _url_for)
        self.env.globals.setdefault("get_flashed_messages", _flashed)

    def __repr__(self) -> str:
        return f"<Templates {self.directories!r}>"

    def get_template(self, name: str) -> jinja2.Template:
        """The compiled template ``name`` (cached by Jinja2); raises ``TemplateRenderError``."""
        try:
            return self.env.get_template(name)
        except Exception as exc:
            raise self._error(exc, name) from exc

    def render_string(self, req: Request, name: str, /, **context: Any) -> str:
        """Render template ``name`` for ``req`` to a string (see ``render``)."""
        template = self.get_template(name)
        context.setdefault("req", req)
        # None without the Sessions middleware. Reading it checks the cookie's
        # signature (a few microseconds, when there is a cookie) on every render.
        context.setdefault("session", _session_of(req))
        try:
            return template.render(context)
        except HTTPError:
            raise  # an answer raised on purpose (a template helper's 404), not a bug
        except Exception as exc:
            raise self._error(exc, name) from exc

    def render(self, req: Request, name: str, /, status: int = 200, **context: Any) -> Response:
        """A response rendering template ``name`` with ``context`` plus ``req`` and ``session``.

        The content type follows the template's extension: ``text/html;
        charset=utf-8`` for ``.html`` (and for names it can't guess), the
        matching type for ``.xml``, ``.txt``, ``.json``... ``req`` and ``name`` are
        positional, so the context may hold variables called ``req`` or ``name``;
        ``status`` is the one name the context can't use.
        """
        body = self.render_string(req, name, **context).encode("utf-8")
        return Response(body, status, None, _content_type(name))

    def _error(self, exc: Exception, name: str) -> TemplateRenderError:
        where_name, lineno = self._location(exc)
        if where_name is None:
            where_name = name
        where = f"{where_name}, line {lineno}" if lineno else where_name
        if isinstance(exc, jinja2.TemplateNotFound) and exc.name != where_name:
            what = f"template {exc.name!r} not found"
        else:
            what = f"{type(exc).__name__}: {exc}"
        if where_name != name:
            what += f" (rendering {name})"
        return TemplateRenderError(f"{where}: {what}", where_name, lineno)

    def _location(self, exc: BaseException) -> tuple[str | None, int | None]:
        """The template name and line where ``exc`` happened (the innermost template frame)."""
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return exc.name or self._name(exc.filename), exc.lineno
        found: tuple[str | None, int | None] = (None, None)
        tb: TracebackType | None = exc.__traceback__
        while tb is not None:
            # Jinja2 rewrites tracebacks so that template code appears as frames
            # whose file is the template's and whose line is the template's line;
            # those frames carry the exception in their globals.
            if "__jinja_exception__" in tb.tb_frame.f_globals:
                found = self._name(tb.tb_frame.f_code.co_filename), tb.tb_lineno
            tb = tb.tb_next
        return found

    def _name(self, filename: str | None) -> str | None:
        if not filename:
            return None
        for root in self.directories:
            relative = os.path.relpath(filename, root)
            if not relative.startswith(os.pardir):
                return relative.replace(os.sep, "/")
        return filename


def _content_type(name: str) -> str:
    if name.endswith((".html", ".htm")):
        return HTML
    guessed, _ = mimetypes.guess_type(name)
    if guessed is None:
        return HTML
    if guessed.startswith("text/") or guessed.endswith(("+xml", "/xml", "/json")):
        return f"{guessed}; charset=utf-8"
    return guessed
