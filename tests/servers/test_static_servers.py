"""app.static and templates under real gunicorn and uvicorn: caching, ranges, .gz siblings."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from realserver import GUNICORN_BASE_ARGS, UVICORN_BASE_ARGS, Server

pytestmark = pytest.mark.servers

COMMANDS = {
    "gunicorn": [*GUNICORN_BASE_ARGS, "servers.static_app:app.wsgi"],
    "gunicorn-gthread": [
        *GUNICORN_BASE_ARGS,
        *("--worker-class", "gthread", "--threads", "4"),
        "servers.static_app:app.wsgi",
    ],
    "uvicorn": [*UVICORN_BASE_ARGS, "servers.static_app:app.asgi"],
}
CSS = b"body { color: #333 }\n" * 4000  # 84 KB: more than one read chunk


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "public" / "css").mkdir(parents=True)
    (tmp_path / "public" / "css" / "site.css").write_bytes(CSS)
    (tmp_path / "public" / "css" / "site.css.gz").write_bytes(gzip.compress(CSS))
    (tmp_path / "public" / ".env").write_text("SECRET")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", tmp_path / "public" / "out.txt")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text(
        '<title>{{ title }}</title><link href="{{ url_for("static", path="css/site.css") }}">'
    )
    return tmp_path


@pytest.mark.parametrize("name", list(COMMANDS))
def test_static_and_templates(server_factory: Callable[..., Server], site: Path, name: str) -> None:
    server = server_factory(COMMANDS[name], env={"TWINFRAME_TEST_DIR": str(site)})
    identity = {"Accept-Encoding": "identity"}
    with httpx.Client(base_url=server.url, timeout=15) as client:
        page = client.get("/", params={"title": "<b>"})
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text == '<title>&lt;b&gt;</title><link href="/static/css/site.css">'
        assert client.get("/async").text.startswith("<title>async</title>")

        plain = client.get("/static/css/site.css", headers=identity)
        assert plain.status_code == 200 and plain.content == CSS
        assert plain.headers["cache-control"] == "public, max-age=600"
        assert plain.headers["vary"] == "Accept-Encoding"
        assert "content-encoding" not in plain.headers

        # The precompressed sibling, as sent: raw bytes, not decoded by the client.
        with client.stream("GET", "/static/css/site.css", headers={"Accept-Encoding": "gzip"}) as r:
            raw = b"".join(r.iter_raw())
            assert r.headers["content-encoding"] == "gzip"
            assert r.headers["content-type"] == "text/css; charset=utf-8"
        assert raw == (site / "public" / "css" / "site.css.gz").read_bytes()
        assert gzip.decompress(raw) == CSS

        etag = plain.headers["etag"]
        assert (
            client.get(
                "/static/css/site.css", headers={"If-None-Match": etag, **identity}
            ).status_code
            == 304
        )
        part = client.get("/static/css/site.css", headers={"Range": "bytes=100-199", **identity})
        assert (part.status_code, part.content) == (206, CSS[100:200])
        head = client.head("/static/css/site.css", headers=identity)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(len(CSS))

        for url in ("/static/.env", "/static/out.txt", "/static//etc/passwd", "/static/css"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert "SECRET" not in response.text and "top secret" not in response.text
        assert client.get("/static/%2e%2e/secret.txt").status_code == 400
    assert "Traceback" not in server.output, server.output
