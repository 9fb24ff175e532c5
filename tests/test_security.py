"""Security defaults: nothing internal leaks without debug, safe cookies, signed
cookies, file serving that stays inside its root. Both entrypoints."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from raw_drivers import CALLERS

from twinframe import App, NotFound, Response
from twinframe.files import safe_path
from twinframe.signing import BadSignature, sign, unsign

SECRET_TEXT = "password=hunter2 in /srv/app/secrets.py"


def leaky_app(**options: object) -> App:
    app = App(**options)  # type: ignore[arg-type]

    def fail() -> None:
        raise RuntimeError(SECRET_TEXT)

    @app.get("/sync")
    def sync_handler(req):
        fail()

    @app.get("/async")
    async def async_handler(req):
        fail()

    @app.get("/key")
    def key_error(req):
        return {}["no such key /srv/app/models.py"]

    @app.get("/before")
    def before_route(req):
        return "unreachable"

    @app.get("/after")
    def after_route(req):
        return "fine"

    @app.before_request
    def before(req):
        if req.path == "/before":
            fail()

    @app.after_request
    async def after(req, response):
        if req.path == "/after":
            fail()

    return app


LEAK_MARKERS = ["hunter2", "/srv/app", "Traceback", "RuntimeError", "KeyError", ".py", "line "]


def test_debug_is_off_by_default():
    assert App().debug is False


@pytest.mark.parametrize("path", ["/sync", "/async", "/key", "/before", "/after"])
@pytest.mark.parametrize("accept", [None, "text/plain", "text/html"])
def test_no_internals_in_500_responses(make_client, caplog, path, accept):
    client = make_client(leaky_app())
    headers = {"accept": accept} if accept else {}
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get(path, headers=headers)
    assert response.status_code == 500
    for marker in LEAK_MARKERS:
        assert marker not in response.text, marker
        assert all(marker not in value for value in response.headers.values())
    # ... but the operator gets the whole story in the log.
    assert any(r.exc_info for r in caplog.records)


def test_debug_true_shows_the_traceback(make_client, caplog):
    client = make_client(leaky_app(debug=True))
    with caplog.at_level(logging.ERROR, logger="twinframe"):
        response = client.get("/sync")
    assert response.status_code == 500
    assert "Traceback" in response.text and "hunter2" in response.text


def test_failed_startup_answers_500_without_details(caplog):
    app = App()

    @app.on_startup
    def broken():
        raise RuntimeError(SECRET_TEXT)

    @app.get("/")
    def index(req):
        return "ok"

    with caplog.at_level(logging.ERROR, logger="twinframe"):
        result = CALLERS["wsgi"](app, "GET", b"/")
    assert result.status == 500
    assert b"hunter2" not in result.body and b"Traceback" not in result.body


# -- cookies -----------------------------------------------------------------------


def cookie_app(secret: str) -> App:
    app = App()

    @app.get("/set")
    def set_cookies(req):
        response = Response("set")
        response.set_cookie("plain", "1")
        response.set_cookie("flash", sign("Post created", secret))
        return response

    @app.get("/read")
    def read(req):
        try:
            return {"flash": unsign(req.cookies.get("flash", ""), secret, max_age=60)}
        except BadSignature:
            return {"flash": None}

    return app


def test_cookies_default_to_httponly_samesite_lax(make_client):
    client = make_client(cookie_app("s3cret"))
    cookies = client.get("/set").headers.get_list("set-cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        attributes = [part.strip() for part in cookie.split(";")]
        assert "HttpOnly" in attributes and "SameSite=Lax" in attributes and "Path=/" in attributes


def read_flash(client, flash: str) -> object:
    return client.get("/read", headers={"cookie": f"flash={flash}"}).json()["flash"]


def test_signed_cookie_round_trip_and_forgery(make_client):
    client = make_client(cookie_app("s3cret"))
    flash = client.get("/set").cookies["flash"]
    client.cookies.clear()
    assert read_flash(client, flash) == "Post created"
    value, stamp, mac = flash.split(".")
    forged_value = sign("You are admin", "guessed-secret").split(".")[0]
    for forged in [
        f"{forged_value}.{stamp}.{mac}",
        f"{value}.{int(stamp) + 1}.{mac}",
        value,
        "",
        "..",
        flash + "x",
    ]:
        assert read_flash(client, forged) is None, forged
    assert read_flash(make_client(cookie_app("other")), flash) is None


# -- files -------------------------------------------------------------------------


@pytest.fixture
def static_tree(tmp_path: Path) -> Path:
    """public/ with a file, plus traps: a secret beside it and symlinks leading out."""
    public = tmp_path / "public"
    (public / "sub").mkdir(parents=True)
    (public / "hello.txt").write_text("hello")
    (public / "sub" / "inner.txt").write_text("inner")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", public / "link-out.txt")
    os.symlink(tmp_path, public / "dir-out")
    os.symlink(public / "hello.txt", public / "link-in.txt")
    return public


def static_app(public: Path) -> App:
    app = App()

    @app.get("/static/{rest:path}")
    def static(req, rest):
        return Response.file(rest, root=public)

    return app


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/static/hello.txt", 200),
        ("/static/sub/inner.txt", 200),
        ("/static/link-in.txt", 200),  # a symlink that stays inside the root is fine
        ("/static/link-out.txt", 404),
        ("/static/dir-out/secret.txt", 404),
        ("/static/%2E%2E/secret.txt", 400),
        ("/static/..%2Fsecret.txt", 400),
        ("/static/sub/..%2F..%2Fsecret.txt", 400),
        ("/static/%2e%2e%5csecret.txt", 404),  # a backslash is just a name character on POSIX
        ("/static//etc/passwd", 404),
        ("/static/%2Fetc%2Fpasswd", 404),
        ("/static/hello.txt%00.png", 404),
        ("/static/sub", 404),
    ],
)
def test_static_files_never_escape_their_root(make_client, static_tree, url, status):
    client = make_client(static_app(static_tree))
    response = client.get(url)
    assert response.status_code == status, url
    assert "top secret" not in response.text
    if status == 200:
        assert response.text in ("hello", "inner")


@pytest.mark.parametrize("target", [b"/static/../secret.txt", b"/static/sub/../../secret.txt"])
def test_raw_dot_segments_cannot_reach_files(interface, static_tree, target):
    result = CALLERS[interface](static_app(static_tree), "GET", target)
    assert result.status == 400
    assert b"top secret" not in result.body


@pytest.mark.parametrize(
    "relative",
    [
        "../secret.txt",
        "/etc/passwd",
        "sub/../../secret.txt",
        "link-out.txt",
        "dir-out/secret.txt",
        "a\x00b",
    ],
)
def test_safe_path_and_response_file_refuse_escapes(static_tree, relative):
    with pytest.raises(NotFound):
        safe_path(static_tree, relative)
    with pytest.raises(NotFound):
        Response.file(relative, root=static_tree)
    assert safe_path(static_tree, "sub/inner.txt") == str(
        (static_tree / "sub" / "inner.txt").resolve()
    )


DOCS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def test_security_doc_snippets_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = DOCS_PAGE.read_text("utf-8").split("```python\n")[1:]
    assert len(blocks) >= 4
    for index, block in enumerate(blocks):
        code = block.split("```", 1)[0]
        exec(compile(code, f"docs/security.md#{index}", "exec"), {"__name__": f"security_{index}"})


def test_security_doc_lists_every_app_limit():
    import inspect

    text = DOCS_PAGE.read_text("utf-8")
    options = [name for name in inspect.signature(App).parameters if name.startswith("max_")]
    assert options and all(f"`{name}`" in text for name in [*options, "debug"]), options
