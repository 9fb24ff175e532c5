"""Response.file: types, validators (304), ranges (206/416), safe roots, wsgi.file_wrapper."""

from __future__ import annotations

import io
import os
from email.utils import formatdate
from pathlib import Path
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
from raw_drivers import CALLERS

from twinframe import App, NotFound, Response
from twinframe.files import safe_path

CONTENT = bytes(range(256)) * 400 + b"tail"  # 102_404 bytes: more than one read chunk


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A served root with a few files, plus a secret file outside it."""
    root = tmp_path / "public"
    (root / "sub").mkdir(parents=True)
    (root / "data.bin").write_bytes(CONTENT)
    (root / "hello.txt").write_text("héllo\n", encoding="utf-8")
    (root / "style.css").write_text("body{}", encoding="utf-8")
    (root / "pic.png").write_bytes(b"\x89PNG fake")
    (root / "blob.unknownext").write_bytes(b"???")
    (root / "empty.txt").write_bytes(b"")
    (root / "sub" / "page.html").write_text("<p>hi</p>", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("top secret", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(tmp_path, root / "escape_dir")
    os.symlink(root / "hello.txt", root / "alias.txt")  # stays inside the root: allowed
    return root


def file_app(root: Path) -> App:
    app = App()

    @app.get("/static/{name:path}")
    def static(req, name):
        return Response.file(name, root=root)

    @app.get("/async/{name:path}")
    async def static_async(req, name):
        return Response.file(name, root=root)

    @app.get("/download")
    def download(req):
        return Response.file(root / "hello.txt", filename=req.query.get("as", "report.txt"))

    @app.get("/typed")
    def typed(req):
        return Response.file(str(root / "data.bin"), content_type="application/x-custom")

    @app.get("/missing")
    def missing(req):
        return Response.file(root / "nope.txt")

    return app


@pytest.mark.parametrize("prefix", ["/static", "/async"])
def test_whole_file_with_validators(make_client, site, prefix):
    response = make_client(file_app(site)).get(f"{prefix}/data.bin")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["accept-ranges"] == "bytes"
    stat = os.stat(site / "data.bin")
    assert response.headers["last-modified"] == formatdate(stat.st_mtime, usegmt=True)
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("hello.txt", "text/plain; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("pic.png", "image/png"),
        ("sub/page.html", "text/html; charset=utf-8"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed(make_client, site, name, content_type):
    response = make_client(file_app(site)).get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (site / name).read_bytes()


def test_explicit_content_type_and_missing_file(make_client, site):
    client = make_client(file_app(site))
    assert client.get("/typed").headers["content-type"] == "application/x-custom"
    missing = client.get("/missing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/static/sub").status_code == 404  # a directory is not a file
    assert client.get("/static/nope.txt").status_code == 404


def test_empty_file(make_client, site):
    response = make_client(file_app(site)).get("/static/empty.txt")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


def test_etag_changes_with_the_file(make_client, site):
    client = make_client(file_app(site))
    first = client.get("/static/hello.txt").headers["etag"]
    (site / "hello.txt").write_text("changed, longer\n", encoding="utf-8")
    second = client.get("/static/hello.txt")
    assert second.headers["etag"] != first
    assert second.text == "changed, longer\n"


# -- conditional requests ---------------------------------------------------------------


def test_if_none_match_gives_304(make_client, site):
    client = make_client(file_app(site))
    etag = client.get("/static/data.bin").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/static/data.bin", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert "content-length" not in response.headers
        assert "content-type" not in response.headers
    stale = client.get("/static/data.bin", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == CONTENT


def test_if_modified_since_gives_304(make_client, site):
    client = make_client(file_app(site))
    last_modified = client.get("/static/data.bin").headers["last-modified"]
    same = client.get("/static/data.bin", headers={"If-Modified-Since": last_modified})
    assert same.status_code == 304
    assert same.content == b""
    later = formatdate(os.stat(site / "data.bin").st_mtime + 3600, usegmt=True)
    assert client.get("/static/data.bin", headers={"If-Modified-Since": later}).status_code == 304
    earlier = formatdate(os.stat(site / "data.bin").st_mtime - 3600, usegmt=True)
    modified = client.get("/static/data.bin", headers={"If-Modified-Since": earlier})
    assert modified.status_code == 200
    assert modified.content == CONTENT
    garbage = client.get("/static/data.bin", headers={"If-Modified-Since": "not a date"})
    assert garbage.status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(make_client, site):
    client = make_client(file_app(site))
    last_modified = client.get("/static/data.bin").headers["last-modified"]
    response = client.get(
        "/static/data.bin",
        headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified},
    )
    assert response.status_code == 200  # RFC 9110 13.2.2: the ETag decides


def test_conditional_headers_ignored_for_other_methods(make_client, site):
    app = file_app(site)

    @app.post("/upload-result")
    def result(req):
        return Response.file(site / "hello.txt")

    client = make_client(app)
    etag = client.get("/static/hello.txt").headers["etag"]
    response = client.post("/upload-result", headers={"If-None-Match": etag, "Range": "bytes=0-1"})
    assert response.status_code == 200
    assert response.content == "héllo\n".encode()


# -- ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-100", 100, 100),
        ("bytes=1000-", 1000, len(CONTENT) - 1),
        ("bytes=-4", len(CONTENT) - 4, len(CONTENT) - 1),
        ("bytes=-999999999", 0, len(CONTENT) - 1),
        ("bytes=100000-999999999", 100000, len(CONTENT) - 1),
        ("bytes = 5 - 9", 5, 9),
        ("BYTES=5-9", 5, 9),
        ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", 5, 9),  # leading zeros, any number
        ("bytes=0-" + "9" * 5000, 0, len(CONTENT) - 1),  # past int()'s 4,300-digit limit
        ("bytes=-" + "9" * 5000, 0, len(CONTENT) - 1),
    ],
)
@pytest.mark.parametrize("prefix", ["/static", "/async"])
def test_single_range_is_206(make_client, site, header, start, end, prefix):
    response = make_client(file_app(site)).get(f"{prefix}/data.bin", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == CONTENT[start : end + 1]


@pytest.mark.parametrize(
    "header",
    ["bytes=200000-", "bytes=102404-102405", "bytes=-0", "bytes=" + "9" * 5000 + "-"],
)
def test_unsatisfiable_range_is_416(make_client, site, header):
    response = make_client(file_app(site)).get("/static/data.bin", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(CONTENT)}"
    assert response.content == b""


@pytest.mark.parametrize(
    "header",
    [
        "items=0-5",
        "bytes=5-2",
        "bytes=abc",
        "bytes=0-1,5-6",
        "bytes=",
        "bytes=-",
        "bytes=1",
        "bytes=" + "9" * 30 + "-" + "9" * 25,  # last before first, both past int()'s limit
        b"bytes=\xb2-",  # Latin-1 '\u00b2': str.isdigit() says yes, int() says no
        b"bytes=0-\xb9",
        b"bytes=-\xb3",
    ],
)
def test_unusable_range_header_sends_the_whole_file(make_client, site, header):
    response = make_client(file_app(site)).get("/static/data.bin", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == CONTENT
    assert "content-range" not in response.headers


def test_if_range(make_client, site):
    client = make_client(file_app(site))
    first = client.get("/static/data.bin")
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    matching = client.get("/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert matching.status_code == 206
    assert matching.content == CONTENT[:10]
    by_date = client.get(
        "/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": last_modified}
    )
    assert by_date.status_code == 206
    for stale in ('"stale-etag"', "W/" + etag, "Mon, 01 Jan 2001 00:00:00 GMT", "garbage"):
        response = client.get("/static/data.bin", headers={"Range": "bytes=0-9", "If-Range": stale})
        assert response.status_code == 200, stale
        assert response.content == CONTENT
        assert "content-range" not in response.headers


def test_head(make_client, site):
    client = make_client(file_app(site))
    response = client.head("/static/data.bin")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["content-type"] == "application/octet-stream"
    assert "etag" in response.headers
    ranged = client.head("/static/data.bin", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206
    assert ranged.headers["content-length"] == "10"
    assert ranged.content == b""


# -- roots and traversal ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/static/%2e%2e/secret.txt",
        "/static/sub/%2E%2E/%2e%2e/secret.txt",
        "/static/..%2Fsecret.txt",
    ],
)
def test_encoded_dot_segments_never_reach_outside(make_client, site, url):
    # The pipeline already refuses dot segments in the path (400); root= is the
    # second line of defence, tested through the query string below.
    response = make_client(file_app(site)).get(url)
    assert response.status_code in (400, 404), response.text
    assert b"top secret" not in response.content


@pytest.mark.parametrize(
    "name",
    [
        "../secret.txt",
        "sub/../../secret.txt",
        "..%2Fsecret.txt",
        "/etc/passwd",
        str(Path("/etc/passwd")),
        "escape.txt",
        "escape_dir/secret.txt",
        "hello.txt\x00",
    ],
)
def test_root_refuses_escapes_from_any_input(make_client, site, name):
    app = file_app(site)

    @app.get("/file")
    def by_query(req):
        return Response.file(req.query["name"], root=site)

    client = make_client(app)
    assert client.get("/file", params={"name": "hello.txt"}).status_code == 200
    response = client.get("/file", params={"name": name.replace("%2F", "/")})
    assert response.status_code == 404, response.text
    assert b"top secret" not in response.content


@pytest.mark.parametrize(
    "url",
    [
        "/static/%2Fetc%2Fpasswd",
        "/static//etc/passwd",
        "/static/escape.txt",
        "/static/escape_dir/secret.txt",
        "/static/%00hello.txt",
        "/static/hello.txt%00",
    ],
)
def test_root_refuses_escapes(make_client, site, url):
    response = make_client(file_app(site)).get(url)
    assert response.status_code == 404, response.text
    assert b"top secret" not in response.content


@pytest.mark.parametrize(
    "url",
    [
        "/static/%5Chello.txt",  # a Windows root-relative name: refused on every OS alike
        "/static//etc/passwd",
        "/static/escape.txt",
        "/static/hello.txt%00",
        "/static/sub",  # a directory inside the root: it exists, but is not a file
    ],
)
def test_a_refused_path_answers_exactly_like_a_missing_file(make_client, site, url):
    # The 404 for a refused name is the 404 for a missing one: a client learns nothing
    # from it about what exists. '\\hello.txt' exists inside the root: refused all the same.
    (site / "\\hello.txt").write_text("a name starting with a backslash", encoding="utf-8")
    client = make_client(file_app(site))
    missing = client.get("/static/nope.txt")
    refused = client.get(url)
    assert refused.status_code == 404
    assert (refused.headers, refused.content) == (missing.headers, missing.content)
    assert missing.json()["detail"] == "no such file"


def test_symlink_inside_root_is_served(make_client, site):
    response = make_client(file_app(site)).get("/static/alias.txt")
    assert response.status_code == 200
    assert response.text == "héllo\n"


@pytest.mark.parametrize(
    "relative", ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "escape.txt", "a\x00b"]
)
def test_root_refuses_escapes_in_code(site, relative):
    from twinframe.errors import NotFound

    with pytest.raises(NotFound):
        Response.file(relative, root=site)


def test_filename_gives_content_disposition(make_client, site):
    client = make_client(file_app(site))
    response = client.get("/download")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"report.txt\"; filename*=UTF-8''report.txt"
    )
    assert response.text == "héllo\n"
    unicode = client.get("/download", params={"as": 'résumé "v2".pdf'})
    disposition = unicode.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="r?sum? v2.pdf"; ')
    assert disposition.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf")
    # The type follows the download name when none is given.
    assert unicode.headers["content-type"] == "application/pdf"
    # Control characters from a user-supplied name never reach the header.
    tricky = client.get("/download", params={"as": "a\r\nSet-Cookie: x=1.txt"})
    assert tricky.status_code == 200
    assert "set-cookie" not in tricky.headers
    assert tricky.headers["content-disposition"].startswith('attachment; filename="aSet-Cookie: ')


def test_download_name_keeps_printable_ascii_and_escapes_the_rest(make_client, site):
    # The plain filename keeps every printable ASCII character but quote and
    # backslash, up to "~"; filename* (RFC 8187) percent-encodes all but its
    # attr-chars, "/" included.
    client = make_client(file_app(site))
    response = client.get("/download", params={"as": "notes~1/2 \\ ok.txt"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"notes~1/2  ok.txt\"; filename*=UTF-8''notes~1%2F2%20%5C%20ok.txt"
    )


# -- wsgi.file_wrapper -------------------------------------------------------------------


class FakeFileWrapper:
    """What a WSGI server offers as wsgi.file_wrapper (records what it was given)."""

    instances: list[FakeFileWrapper] = []

    def __init__(self, filelike: io.BufferedReader, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size
        self.closed = False
        FakeFileWrapper.instances.append(self)

    def __iter__(self):
        while True:
            block = self.filelike.read(self.block_size)
            if not block:
                return
            yield block

    def close(self) -> None:
        self.closed = True
        self.filelike.close()


def call_wsgi(app: App, path: str, **extra_environ: str) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, object] = {
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        **extra_environ,
    }
    setup_testing_defaults(environ)
    environ["wsgi.file_wrapper"] = FakeFileWrapper
    started: dict[str, object] = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, dict(headers)
        return lambda data: None

    result = validator(app.wsgi)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    return started["status"], started["headers"], body  # type: ignore[return-value]


def test_wsgi_file_wrapper_is_used(site):
    FakeFileWrapper.instances.clear()
    status, headers, body = call_wsgi(file_app(site), "/static/data.bin")
    assert status == "200 OK"
    assert body == CONTENT
    assert headers["content-length"] == str(len(CONTENT))
    [wrapper] = FakeFileWrapper.instances
    assert os.path.samefile(wrapper.filelike.name, site / "data.bin")
    assert wrapper.closed and wrapper.filelike.closed


def test_wsgi_file_wrapper_for_a_range_to_the_end(site):
    FakeFileWrapper.instances.clear()
    status, headers, body = call_wsgi(
        file_app(site), "/static/data.bin", HTTP_RANGE="bytes=100000-"
    )
    assert status == "206 Partial Content"
    assert headers["content-range"] == f"bytes 100000-{len(CONTENT) - 1}/{len(CONTENT)}"
    assert body == CONTENT[100000:]
    assert len(FakeFileWrapper.instances) == 1


def test_wsgi_file_wrapper_not_used_for_a_middle_range(site):
    FakeFileWrapper.instances.clear()
    status, _, body = call_wsgi(file_app(site), "/static/data.bin", HTTP_RANGE="bytes=10-19")
    assert status == "206 Partial Content"
    assert body == CONTENT[10:20]
    assert FakeFileWrapper.instances == []  # it cannot stop early: the app streams the slice


def test_wsgi_file_wrapper_not_used_for_head_or_304(site):
    FakeFileWrapper.instances.clear()
    status, headers, body = call_wsgi(file_app(site), "/static/data.bin", REQUEST_METHOD="HEAD")
    assert status == "200 OK" and body == b""
    etag = {k.lower(): v for k, v in headers.items()}["etag"]
    status, _, body = call_wsgi(file_app(site), "/static/data.bin", HTTP_IF_NONE_MATCH=etag)
    assert status == "304 Not Modified" and body == b""
    assert FakeFileWrapper.instances == []


# -- file roots ---------------------------------------------------------------------


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
    ("url", "status", "text"),
    [
        ("/static/hello.txt", 200, "hello"),
        ("/static/sub/inner.txt", 200, "inner"),
        ("/static/link-in.txt", 200, "hello"),  # a symlink that stays inside the root is fine
        ("/static/link-out.txt", 404, None),
        ("/static/dir-out/secret.txt", 404, None),
        ("/static/%2E%2E/secret.txt", 400, None),
        ("/static/..%2Fsecret.txt", 400, None),
        ("/static/sub/..%2F..%2Fsecret.txt", 400, None),
        # a backslash is just a name character on POSIX
        ("/static/%2e%2e%5csecret.txt", 404, None),
        ("/static//etc/passwd", 404, None),
        ("/static/%2Fetc%2Fpasswd", 404, None),
        ("/static/hello.txt%00.png", 404, None),
        ("/static/sub", 404, None),
    ],
)
def test_static_files_never_escape_their_root(make_client, static_tree, url, status, text):
    client = make_client(static_app(static_tree))
    response = client.get(url)
    assert response.status_code == status, url
    assert "top secret" not in response.text
    if text is not None:
        assert response.text == text


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
        "\\hello.txt",
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


def test_a_shared_file_response_is_never_changed_by_one_request(make_client, site):
    app = App()
    shared = Response.file(site / "hello.txt")

    @app.get("/shared")
    def serve(req):
        return shared

    client = make_client(app)
    whole = client.get("/shared").content
    assert client.get("/shared", headers={"Range": "bytes=0-1"}).status_code == 206
    assert client.get("/shared", headers={"If-None-Match": shared.etag}).status_code == 304
    assert client.get("/shared", headers={"Range": "bytes=999999-"}).status_code == 416
    after = client.get("/shared")
    assert (after.status_code, after.content) == (200, whole)
    assert shared.status == 200 and "Content-Range" not in shared.headers
