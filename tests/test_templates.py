"""twinframe.templates: rendering, autoescaping, url_for/req/session in templates, errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from realserver import ROOT

from twinframe import App, NotFound, Request
from twinframe.middleware import Sessions
from twinframe.templates import TemplateRenderError, Templates

PAGES = {
    "base.html": (
        "<title>{% block title %}{% endblock %}</title>\n"
        "<main>{% block main %}{% endblock %}</main>\n"
    ),
    "hello.html": (
        '{% extends "base.html" %}\n'
        "{% block title %}Hi {{ name }}{% endblock %}\n"
        "{% block main %}<p>{{ name }}</p>{% endblock %}\n"
    ),
    "links.html": (
        '<a href="{{ url_for("item", id=7) }}">{{ req.method }} {{ req.path }}'
        ' {{ req.query.get("q", "") }}</a>'
    ),
    "note.txt": "plain {{ value }}",
    "feed.xml": "<feed>{{ value }}</feed>",
    "flashes.html": (
        "{% for category, message in get_flashed_messages() %}"
        '<p class="{{ category }}">{{ message }}</p>'
        "{% endfor %}[{{ session.get('user', 'nobody') if session is not none else 'none' }}]"
    ),
    # Line 3 uses a missing variable (StrictUndefined makes that an error).
    "broken.html": "<p>one</p>\n<p>two</p>\n<p>{{ missing.attribute }}</p>\n",
    "syntax.html": "line one\n{% if x %}\nthe if on line 2 is never closed\n",
    "uses_broken.html": 'header\n{% include "broken.html" %}\n',
    "includes_missing.html": 'a\nb\n{% include "nowhere.html" %}\n',
    "raises.html": "{{ fail() }}",
}


@pytest.fixture
def templates(tmp_path: Path) -> Templates:
    for name, text in PAGES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return Templates(tmp_path, undefined=jinja2.StrictUndefined)


def page_app(templates: Templates, **options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]

    @app.get("/hello")
    def hello(req: Request) -> object:
        return templates.render(req, "hello.html", name=req.query.get("name", "you"))

    @app.get("/async-hello")
    async def async_hello(req: Request) -> object:
        return templates.render(req, "hello.html", name="async")

    @app.get("/items/{id:d}", name="item")
    def item(req: Request, id: int) -> object:
        return templates.render(req, "links.html", status=201)

    @app.get("/page/{name}")
    def page(req: Request, name: str) -> object:
        def fail() -> None:
            raise NotFound("nothing here")

        return templates.render(req, name, value="<b>&</b>", fail=fail)

    return app


def test_render_extends_a_layout_and_escapes_html(make_client, templates):
    response = make_client(page_app(templates)).get("/hello", params={"name": "<script>x"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (
        "<title>Hi &lt;script&gt;x</title>\n<main><p>&lt;script&gt;x</p></main>"
    )
    assert int(response.headers["content-length"]) == len(response.content)


def test_async_handlers_render_the_same(make_client, templates):
    response = make_client(page_app(templates)).get("/async-hello")
    assert response.text == "<title>Hi async</title>\n<main><p>async</p></main>"


def test_status_req_and_url_for_in_templates(make_client, templates):
    response = make_client(page_app(templates)).get("/items/3?q=a%26b")
    assert response.status_code == 201
    assert response.text == '<a href="/items/7">GET /items/3 a&amp;b</a>'


def test_autoescape_follows_the_extension(make_client, templates):
    client = make_client(page_app(templates))
    text = client.get("/page/note.txt")
    assert text.text == "plain <b>&</b>"  # not markup: nothing to escape
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    xml = client.get("/page/feed.xml")
    assert xml.text == "<feed>&lt;b&gt;&amp;&lt;/b&gt;</feed>"
    assert xml.headers["content-type"].startswith(("application/xml", "text/xml"))


def test_jinja_options_pass_through(tmp_path):
    (tmp_path / "t.html").write_text("{{ value }}")
    raw = Templates(tmp_path, autoescape=False)
    assert raw.env.autoescape is False
    # And a list of directories: the first one holding the name wins.
    other = tmp_path / "other"
    other.mkdir()
    (other / "t.html").write_text("other")
    (other / "only.html").write_text("only")
    both = Templates([tmp_path, other])
    assert both.get_template("t.html").render(value=1) == "1"
    assert both.get_template("only.html").render() == "only"


def test_async_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="enable_async"):
        Templates(tmp_path, enable_async=True)


def test_session_and_flash_without_sessions(make_client, templates):
    app = page_app(templates)

    @app.get("/flashes")
    def flashes(req: Request) -> object:
        return templates.render(req, "flashes.html")

    client = make_client(app)
    assert client.get("/flashes").text == "[none]"  # no session: None, and no messages


def test_session_and_flash_in_templates(make_client, templates):
    app = page_app(templates)
    app.add_middleware(Sessions("k" * 32))

    @app.get("/flashes")
    def flashes(req: Request) -> object:
        return templates.render(req, "flashes.html")

    @app.post("/flash")
    def add(req: Request) -> object:
        req.session["user"] = "ada"
        req.session.flash("<saved>")
        req.session.flash("careful", "warning")
        return "ok"

    client = make_client(app)
    first = client.get("/flashes")
    assert first.text == "[nobody]" and "set-cookie" not in first.headers
    assert client.post("/flash").text == "ok"
    shown = client.get("/flashes")
    assert shown.text == '<p class="info">&lt;saved&gt;</p><p class="warning">careful</p>[ada]'
    assert "set-cookie" in shown.headers  # the messages left the session
    assert client.get("/flashes").text == "[ada]"  # shown once


@pytest.mark.parametrize(
    ("name", "where", "what"),
    [
        ("broken.html", "broken.html, line 3", "'missing' is undefined"),
        ("syntax.html", "syntax.html, line 2", "TemplateSyntaxError"),
        ("uses_broken.html", "broken.html, line 3", "(rendering uses_broken.html)"),
        ("includes_missing.html", "includes_missing.html, line 3", "'nowhere.html' not found"),
        ("no_such_page.html", "no_such_page.html", "TemplateNotFound"),
    ],
)
def test_template_errors_name_the_template_and_line(
    make_client, templates, caplog, name, where, what
):
    client = make_client(page_app(templates))
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get(f"/page/{name}")
    assert response.status_code == 500
    assert where not in response.text and "Traceback" not in response.text  # not without debug
    logged = "\n".join(
        record.getMessage() + "\n" + (caplog.text if record.exc_info else "")
        for record in caplog.records
    )
    assert f"TemplateRenderError: {where}: " in logged
    assert what in logged

    debug = make_client(page_app(templates, debug=True)).get(f"/page/{name}")
    assert debug.status_code == 500
    assert where in debug.text and what in debug.text


def test_render_error_carries_name_and_line(templates):
    with pytest.raises(TemplateRenderError) as caught:
        templates.get_template("syntax.html")
    assert (caught.value.template_name, caught.value.lineno) == ("syntax.html", 2)
    assert isinstance(caught.value.__cause__, jinja2.TemplateSyntaxError)


def test_an_http_error_raised_in_a_template_is_an_answer(make_client, templates):
    response = make_client(page_app(templates)).get("/page/raises.html")
    assert response.status_code == 404
    assert response.json()["detail"] == "nothing here"


def test_missing_jinja2_names_the_extra():
    code = "import sys; sys.modules['jinja2'] = None; import twinframe.templates"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "pip install 'twinframe[templates]'" in result.stderr
    assert "ImportError" in result.stderr
