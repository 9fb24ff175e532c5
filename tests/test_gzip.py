"""GZip: what is compressed and what not, streams chunk by chunk, HEAD, files; both entrypoints."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib

import pytest

from twinframe import App, Response
from twinframe.middleware import GZip
from twinframe.middleware.gzip import accepts_encoding, is_compressible, load_zstd

WAIT = 5
TEXT = "twinframe compresses this line. " * 40  # 1,280 bytes
GZ = {"accept-encoding": "gzip, deflate"}


def raw(client, method, path, headers=GZ) -> tuple[int, dict, bytes]:
    """Status, headers and the body as sent (httpx would decode gzip otherwise)."""
    with client.stream(method, path, headers=headers) as response:
        return response.status_code, response.headers, b"".join(response.iter_raw())


def gzip_app(**options) -> App:
    app = App(middleware=[GZip(**options)])

    @app.get("/text")
    def text(req):
        return TEXT

    @app.get("/json")
    async def json_body(req):
        return {"items": [TEXT]}

    @app.get("/small")
    def small(req):
        return "tiny"

    @app.get("/png")
    def png(req):
        return Response(TEXT.encode(), content_type="image/png")

    @app.get("/encoded")
    def encoded(req):
        return Response(
            TEXT.encode(), headers={"Content-Encoding": "x-test"}, content_type="text/plain"
        )

    @app.get("/no-transform")
    def no_transform(req):
        return Response.text(TEXT, headers={"Cache-Control": "no-transform"})

    @app.get("/empty")
    def empty(req):
        return None

    @app.get("/missing-page")
    def missing(req):
        return Response.text(TEXT, 404)

    @app.get("/header-type")
    def header_type(req):
        return Response(TEXT.encode(), headers={"Content-Type": "text/csv"})

    return app


@pytest.mark.parametrize("path", ["/text", "/json", "/missing-page", "/header-type"])
def test_textual_bodies_are_compressed(make_client, path):
    status, headers, body = raw(make_client(gzip_app()), "GET", path)
    assert status == (404 if path == "/missing-page" else 200)
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert headers["content-length"] == str(len(body))
    assert TEXT in gzip.decompress(body).decode()
    assert len(body) < 200


def test_the_client_decides(make_client):
    client = make_client(gzip_app())
    for accept, compressed in (
        (None, False),
        ("identity", False),
        ("gzip;q=0", False),
        ("br, gzip;q=0.5", True),
        ("*", True),
        ("*, gzip;q=0", False),
        ("deflate, *;q=0", False),
        ("GZIP", True),
    ):
        headers = {"accept-encoding": accept} if accept else {"accept-encoding": ""}
        _, response_headers, body = raw(client, "GET", "/text", headers)
        assert ("content-encoding" in response_headers) is compressed, accept
        assert response_headers["vary"] == "Accept-Encoding"  # both answers exist
        if not compressed:
            assert body == TEXT.encode()


@pytest.mark.parametrize("path", ["/small", "/png", "/encoded", "/no-transform", "/empty"])
def test_what_is_left_alone(make_client, path):
    client = make_client(gzip_app())
    status, headers, body = raw(client, "GET", path)
    assert status == (204 if path == "/empty" else 200)
    assert headers.get("content-encoding") in (None, "x-test")
    assert "vary" not in headers
    plain = client.get(path, headers={"accept-encoding": "identity"})
    assert body == plain.content


def test_minimum_size_and_level_are_options(make_client):
    client = make_client(gzip_app(minimum_size=0, compresslevel=1))
    _, _, body = raw(client, "GET", "/text")
    assert gzip.decompress(body).decode() == TEXT
    _, small_headers, small_body = raw(client, "GET", "/small")
    # Compressing "tiny" would make it longer: it is sent as it is.
    assert "content-encoding" not in small_headers and small_body == b"tiny"
    assert small_headers["vary"] == "Accept-Encoding"
    with pytest.raises(ValueError, match="compresslevel"):
        GZip(compresslevel=10)
    with pytest.raises(ValueError, match="minimum_size"):
        GZip(minimum_size=-1)


def test_head_has_the_get_headers_and_no_body(make_client):
    client = make_client(gzip_app())
    _, get_headers, get_body = raw(client, "GET", "/text")
    status, headers, body = raw(client, "HEAD", "/text")
    assert (status, body) == (200, b"")
    assert headers["content-encoding"] == "gzip"
    assert headers["content-length"] == get_headers["content-length"] == str(len(get_body))


# -- streams -------------------------------------------------------------------------


def parked_app(release: threading.Event, closed: list[str], gzip_mw: GZip | None = None) -> App:
    app = App(middleware=[gzip_mw or GZip()])

    @app.get("/sync")
    def sync_stream(req):
        def chunks():
            try:
                yield "data: first\n\n"
                if not release.wait(WAIT):
                    yield "data: [buffered]\n\n"
                yield "data: second\n\n"
            finally:
                closed.append("sync")

        return Response.stream(chunks(), content_type="text/event-stream")

    @app.get("/async")
    async def async_stream(req):
        async def chunks():
            try:
                yield b"data: first\n\n"
                deadline = time.monotonic() + WAIT
                while not release.is_set():
                    if time.monotonic() > deadline:
                        yield b"data: [buffered]\n\n"
                        break
                    await asyncio.sleep(0.005)
                yield b"data: second\n\n"
            finally:
                closed.append("async")

        return Response.stream(chunks(), content_type="text/event-stream")

    return app


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_streams_are_compressed_and_flushed_chunk_by_chunk(make_client, url):
    release = threading.Event()
    closed: list[str] = []
    client = make_client(parked_app(release, closed))
    with client.stream("GET", url, headers=GZ) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        decompressor = zlib.decompressobj(31)
        chunks = response.iter_raw()
        # The first event decompresses whole before the stream goes on.
        assert decompressor.decompress(next(chunks)) == b"data: first\n\n"
        release.set()
        rest = decompressor.decompress(b"".join(chunks)) + decompressor.flush()
        assert rest == b"data: second\n\n"
        assert decompressor.eof  # a complete gzip member
    assert closed == [url[1:]]


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_a_stream_closed_early_or_by_head_closes_its_source(make_client, url):
    release = threading.Event()
    closed: list[str] = []
    app = parked_app(release, closed)

    @app.route("/head", methods=["HEAD"])
    def head_only(req):
        # Never iterated: closing a generator never started runs no finally, so
        # these sources record close() itself.
        source = SyncSource(closed) if req.query["kind"] == "sync" else AsyncSource(closed)
        return Response.stream(source, content_type="text/plain")

    client = make_client(app)
    kind = url[1:]
    head = client.head(f"/head?kind={kind}", headers=GZ)
    assert (head.status_code, head.content, head.headers["content-encoding"]) == (200, b"", "gzip")
    assert closed == [f"head {kind}"]
    closed.clear()
    with client.stream("GET", url, headers=GZ) as response:
        next(response.iter_raw())
    release.set()
    deadline = time.monotonic() + WAIT
    while not closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed == [kind]


class SyncSource:
    def __init__(self, closed):
        self.closed = closed

    def __iter__(self):
        return self

    def __next__(self):
        return b"never sent"

    def close(self):
        self.closed.append("head sync")


class AsyncSource:
    def __init__(self, closed):
        self.closed = closed

    def __aiter__(self):
        return self

    async def __anext__(self):
        return b"never sent"

    async def aclose(self):
        self.closed.append("head async")


# -- files ---------------------------------------------------------------------------


def test_files_are_compressed_but_ranges_and_304_are_left_alone(make_client, tmp_path):
    (tmp_path / "app.js").write_text(TEXT)
    app = App(middleware=[GZip()])

    @app.get("/app.js")
    def script(req):
        return Response.file(tmp_path / "app.js")

    client = make_client(app)
    status, headers, body = raw(client, "GET", "/app.js")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).decode() == TEXT
    assert "accept-ranges" not in headers and "content-length" not in headers
    assert headers["etag"].startswith('W/"')
    ranged = client.get("/app.js", headers={**GZ, "range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, TEXT[:10].encode())
    assert "content-encoding" not in ranged.headers
    cached = client.get("/app.js", headers={**GZ, "if-none-match": headers["etag"]})
    assert cached.status_code == 304


# -- the helpers ---------------------------------------------------------------------


def test_compressible_types():
    for yes in (
        "text/html; charset=utf-8",
        "application/json",
        "application/problem+json",
        "image/svg+xml",
        "application/vnd.api+json",
        "text/event-stream",
    ):
        assert is_compressible(yes), yes
    for no in (None, "", "image/png", "application/octet-stream", "application/zip", "video/mp4"):
        assert not is_compressible(no), no


def test_accept_encoding_parsing():
    assert accepts_encoding("gzip", "gzip")
    assert accepts_encoding("deflate, gzip;q=1.0", "gzip")
    assert not accepts_encoding("gzip;q=0.000", "gzip")
    assert not accepts_encoding("gzip;q=oops", "gzip")
    assert not accepts_encoding(None, "gzip")
    assert not accepts_encoding("gzipped", "gzip")


# -- zstd ----------------------------------------------------------------------------

zstd = load_zstd()  # backports.zstd is in the test extra (stdlib from Python 3.14)


def test_zstd_for_clients_that_name_it(make_client):
    app = gzip_app(zstd=True)
    client = make_client(app)
    _, headers, body = raw(client, "GET", "/text", {"accept-encoding": "gzip, deflate, br, zstd"})
    assert headers["content-encoding"] == "zstd"
    assert headers["content-length"] == str(len(body))
    assert zstd.decompress(body).decode() == TEXT
    for accept in ("gzip, deflate", "*", "zstd;q=0, gzip"):
        _, headers, body = raw(client, "GET", "/text", {"accept-encoding": accept})
        assert headers["content-encoding"] == "gzip", accept
    _, headers, _ = raw(make_client(gzip_app()), "GET", "/text", {"accept-encoding": "zstd"})
    assert "content-encoding" not in headers  # zstd is opt-in


@pytest.mark.parametrize("url", ["/sync", "/async"])
def test_zstd_streams_are_flushed_chunk_by_chunk(make_client, url):
    release = threading.Event()
    closed: list[str] = []
    app = parked_app(release, closed, GZip(zstd=True))
    with make_client(app).stream("GET", url, headers={"accept-encoding": "zstd"}) as response:
        assert response.headers["content-encoding"] == "zstd"
        decompressor = zstd.ZstdDecompressor()
        chunks = response.iter_raw()
        assert decompressor.decompress(next(chunks)) == b"data: first\n\n"
        release.set()
        assert decompressor.decompress(b"".join(chunks)) == b"data: second\n\n"
        assert decompressor.eof


def test_zstd_without_the_module_is_a_clear_error(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_zstd(name, *args):
        if "zstd" in name:
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_zstd)
    with pytest.raises(ImportError, match="twinframe\\[zstd\\]"):
        GZip(zstd=True)
