"""app.static: files under a prefix, caching headers, escapes refused, precompressed .gz."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from twinframe import App
from twinframe.static import StaticFiles, accepts_gzip

CSS = "body { color: #123; }\n" * 50
IDENTITY = {"Accept-Encoding": "identity"}  # httpx asks for gzip by default


@pytest.fixture
def public(tmp_path: Path) -> Path:
    """public/ with files, a precompressed sibling, hidden files and symlinks leading out."""
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "css" / "style.css").write_text(CSS)
    (root / "css" / "style.css.gz").write_bytes(gzip.compress(CSS.encode()))
    (root / "app.js").write_text("console.log(1)")
    (root / "archive.tar.gz").write_bytes(gzip.compress(b"tar"))
    (root / "with space.txt").write_text("spaced")
    (root / ".env").write_text("SECRET=1")
    (root / ".git" / "config").write_text("secret config")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "link-out.txt")
    os.symlink(tmp_path, root / "dir-out")
    os.symlink(root / "app.js", root / "link-in.js")
    (tmp_path / "outside.js.gz").write_bytes(gzip.compress(b"outside"))
    os.symlink(tmp_path / "outside.js.gz", root / "app.js.gz")  # a sibling leading out
    return root


def static_app(public: Path, **options: object) -> App:
    app = App()
    app.static("/static", public, **options)  # type: ignore[arg-type]

    @app.get("/")
    def index(req):
        return req.url_for("static", path="css/style.css")

    return app


def test_a_file_with_content_type_validators_and_cache_control(make_client, public):
    client = make_client(static_app(public))
    response = client.get("/static/app.js")
    assert response.status_code == 200
    assert response.text == "console.log(1)"
    assert response.headers["content-type"].startswith(
        ("text/javascript", "application/javascript")
    )
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["etag"] and response.headers["last-modified"]
    assert "vary" not in response.headers  # no compressed sibling: nothing varies
    again = client.get("/static/app.js", headers={"If-None-Match": response.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["cache-control"] == "public, max-age=3600"
    since = client.get(
        "/static/app.js", headers={"If-Modified-Since": response.headers["last-modified"]}
    )
    assert since.status_code == 304


def test_range_and_head(make_client, public):
    client = make_client(static_app(public))
    part = client.get("/static/css/style.css", headers={"Range": "bytes=0-3", **IDENTITY})
    assert part.status_code == 206
    assert part.content == CSS.encode()[:4]
    assert part.headers["content-range"] == f"bytes 0-3/{len(CSS)}"
    head = client.head("/static/css/style.css", headers=IDENTITY)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(CSS))
    assert head.headers["cache-control"] == "public, max-age=3600"
    assert client.post("/static/app.js").status_code == 405


@pytest.mark.parametrize(
    ("max_age", "header"),
    [(0, "public, max-age=0"), (86400, "public, max-age=86400"), (None, None)],
)
def test_max_age(make_client, public, max_age, header):
    response = make_client(static_app(public, max_age=max_age)).get("/static/app.js")
    assert response.status_code == 200
    assert response.headers.get("cache-control") == header


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/static/link-in.js", 200),  # a symlink that stays inside is fine
        ("/static/with%20space.txt", 200),
        ("/static/link-out.txt", 404),
        ("/static/dir-out/secret.txt", 404),
        ("/static//etc/passwd", 404),
        ("/static/%2Fetc%2Fpasswd", 404),
        ("/static/app.js%00", 404),
        ("/static/%00", 404),
        ("/static/.env", 404),
        ("/static/.git/config", 404),
        ("/static/css/.%2e/.env", 400),  # dot segments: refused before routing
        ("/static/..%2Fsecret.txt", 400),
        ("/static/%2e%2e/secret.txt", 400),
        ("/static/css", 404),  # a directory: no listings
        ("/static/", 404),
        ("/static/missing.css", 404),
    ],
)
def test_nothing_outside_the_directory(make_client, public, url, status):
    response = make_client(static_app(public)).get(url)
    assert response.status_code == status, (url, response.text)
    assert "secret" not in response.text.lower() or status == 200
    if status != 200:
        assert response.headers["content-type"] == "application/problem+json"


def test_a_name_starting_with_a_backslash_is_refused_like_a_missing_file(make_client, public):
    # '\\app.js' is rooted on Windows; refused on every OS so an app behaves the same.
    (public / "\\app.js").write_text("a name starting with a backslash")
    client = make_client(static_app(public))
    refused = client.get("/static/%5Capp.js")
    missing = client.get("/static/missing.js")
    assert refused.status_code == 404
    assert (refused.headers, refused.content) == (missing.headers, missing.content)
    assert missing.json()["detail"] == "no such file"


def test_precompressed_sibling_for_gzip_clients(make_client, public):
    client = make_client(static_app(public))
    plain = client.get("/static/css/style.css", headers=IDENTITY)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.content == CSS.encode()
    assert plain.headers["vary"] == "Accept-Encoding"
    assert plain.headers["content-type"] == "text/css; charset=utf-8"

    packed = client.get("/static/css/style.css", headers={"Accept-Encoding": "br, gzip"})
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["content-type"] == "text/css; charset=utf-8"
    assert packed.headers["vary"] == "Accept-Encoding"
    size = (public / "css" / "style.css.gz").stat().st_size
    assert packed.headers["content-length"] == str(size)
    assert packed.content == CSS.encode()  # httpx decoded it: the sibling's bytes are gzip
    assert packed.headers["etag"] != plain.headers["etag"]  # two representations, two tags
    etag = packed.headers["etag"]
    not_modified = client.get(
        "/static/css/style.css", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert not_modified.status_code == 304

    refused = client.get("/static/css/style.css", headers={"Accept-Encoding": "gzip;q=0, *"})
    assert "content-encoding" not in refused.headers
    star = client.get("/static/css/style.css", headers={"Accept-Encoding": "*"})
    assert star.headers["content-encoding"] == "gzip"


def test_a_sibling_leading_out_is_not_served(make_client, public):
    response = make_client(static_app(public)).get(
        "/static/app.js", headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.text == "console.log(1)"


def test_a_compressed_file_asked_for_by_name_is_an_archive(make_client, public):
    client = make_client(static_app(public))
    response = client.get("/static/archive.tar.gz", headers=IDENTITY)
    assert response.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in response.headers
    assert gzip.decompress(response.content) == b"tar"


def test_url_for_static(make_client, public):
    app = static_app(public)
    client = make_client(app)
    assert client.get("/").text == "/static/css/style.css"
    assert app.url_for("static", path="with space.txt") == "/static/with%20space.txt"
    assert client.get(app.url_for("static", path="with space.txt")).text == "spaced"


def test_several_directories_and_names(make_client, public, tmp_path):
    other = tmp_path / "media"
    other.mkdir()
    (other / "a.txt").write_text("media file")
    app = static_app(public)
    app.static("/media", other, name="media", max_age=60)
    client = make_client(app)
    assert client.get(app.url_for("media", path="a.txt")).text == "media file"
    assert client.get("/media/a.txt").headers["cache-control"] == "public, max-age=60"
    assert client.get("/media/app.js").status_code == 404


def test_registration_errors(public):
    app = App()
    with pytest.raises(ValueError, match="not a directory"):
        app.static("/static", public / "app.js")
    with pytest.raises(ValueError, match="must start with '/'"):
        app.static("static", public)
    with pytest.raises(ValueError, match="must start with '/'"):
        app.static("/static/", public)
    with pytest.raises(ValueError, match="max_age"):
        StaticFiles(public, max_age=-1)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("br, *;q=0.1", True),
        ("identity", False),
        ("gzip;q=abc", False),
        ("x-gzip", True),
    ],
)
def test_accepts_gzip(header, accepted):
    assert accepts_gzip(header) is accepted
