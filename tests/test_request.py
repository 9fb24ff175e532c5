"""The Request API, identical under app.wsgi and app.asgi (every test runs on both)."""

from __future__ import annotations

import threading

import httpx
import pytest

from twinframe import App
from twinframe.testing import TestClient, WSGITransport

# -- URL parts ---------------------------------------------------------------------


def test_method_path_and_params(make_client):
    app = App()

    @app.route("/items/{id:d}/{slug}", methods=["GET", "PUT", "DELETE"])
    def item(req, id, slug):
        return {
            "method": req.method, "path": req.path, "params": req.params, "id": id, "slug": slug
        }

    client = make_client(app)
    for method in ("GET", "PUT", "DELETE"):
        data = client.request(method, "/items/42/hello").json()
        assert data == {
            "method": method,
            "path": "/items/42/hello",
            "params": {"id": 42, "slug": "hello"},
            "id": 42,
            "slug": "hello",
        }


def test_path_is_decoded_utf8(make_client):
    app = App()

    @app.get("/{name}")
    def echo(req, name):
        return {"path": req.path, "name": name}

    client = make_client(app)
    data = client.get("/caf%C3%A9%20cr%C3%A8me").json()
    assert data == {"path": "/café crème", "name": "café crème"}
    # Percent-escapes that are not UTF-8 are a client error, not a 500.
    bad = client.get("/%FF%FE")
    assert bad.status_code == 400
    assert "UTF-8" in bad.json()["detail"]


def test_query_multidict(make_client):
    app = App()

    @app.get("/q")
    def query(req):
        q = req.query
        return {
            "raw": req.query_string,
            "tag": q.get("tag"),
            "tags": q.getall("tag", []),
            "blank": q.get("blank"),
            "flag": q.get("flag"),
            "missing": q.get("missing", "default"),
            "missing_all": q.getall("missing", []),
            "space": q.get("space"),
            "utf8": q.get("utf8"),
            "items": [list(item) for item in q.items()],
        }

    client = make_client(app)
    data = client.get("/q?tag=a&tag=b&blank=&flag&space=a+b%20c&utf8=%C3%A9t%C3%A9&tag=c").json()
    assert data == {
        "raw": "tag=a&tag=b&blank=&flag&space=a+b%20c&utf8=%C3%A9t%C3%A9&tag=c",
        "tag": "a",
        "tags": ["a", "b", "c"],
        "blank": "",
        "flag": "",
        "missing": "default",
        "missing_all": [],
        "space": "a b c",
        "utf8": "été",
        "items": [
            ["tag", "a"], ["tag", "b"], ["blank", ""], ["flag", ""],
            ["space", "a b c"], ["utf8", "été"], ["tag", "c"],
        ],
    }
    assert client.get("/q").json()["tags"] == []
    bad = client.get("/q?x=%FF")
    assert bad.status_code == 400
    assert "UTF-8" in bad.json()["detail"]


def test_query_and_headers_are_read_only(make_client):
    app = App()

    @app.get("/")
    def mutate(req):
        failures = []
        for mapping in (req.query, req.headers):
            try:
                mapping["x"] = "y"  # type: ignore[index]
            except TypeError:
                failures.append("setitem")
            try:
                mapping.add("x", "y")  # type: ignore[attr-defined]
            except AttributeError:
                failures.append("add")
        return failures

    assert make_client(app).get("/?a=1").json() == ["setitem", "add"] * 2


def test_headers_case_insensitive_and_repeated(make_client):
    app = App()

    @app.get("/")
    def headers(req):
        h = req.headers
        return {
            "lower": h.get("x-custom"),
            "upper": h.get("X-CUSTOM"),
            "mixed": h["X-Custom"],
            "in": "X-CUSTOM" in h,
            "absent": h.get("x-absent"),
            # WSGI (PEP 3333) joins repeated headers into one comma-separated
            # value; ASGI keeps them apart. Either way the values are all there.
            "tags": [v.strip() for value in h.getall("x-tag") for v in value.split(",")],
            "user_agent": h.get("user-agent"),
        }

    client = make_client(app)
    data = client.get(
        "/",
        headers=[
            ("X-Custom", "Value"), ("X-Tag", "one"), ("X-Tag", "two"), ("User-Agent", "probe/1")
        ],
    ).json()
    assert data == {
        "lower": "Value",
        "upper": "Value",
        "mixed": "Value",
        "in": True,
        "absent": None,
        "tags": ["one", "two"],
        "user_agent": "probe/1",
    }


def test_client_scheme_host_url(make_client):
    app = App()

    @app.get("/where/{x}")
    def where(req, x):
        return {
            "client": list(req.client) if req.client else None,
            "scheme": req.scheme,
            "host": req.host,
            "url": req.url,
        }

    client = make_client(app)
    data = client.get("/where/a%20b?q=1&r=%C3%A9").json()
    assert data["client"] == ["127.0.0.1", 50000]
    assert data["scheme"] == "http"
    assert data["host"] == "testserver"
    assert data["url"] == "http://testserver/where/a%20b?q=1&r=%C3%A9"

    secure = make_client(app, base_url="https://example.org:8443")
    data = secure.get("/where/y").json()
    assert data["scheme"] == "https"
    assert data["host"] == "example.org:8443"
    assert data["url"] == "https://example.org:8443/where/y"


def test_content_type_mimetype_length(make_client):
    app = App()

    @app.post("/")
    def info(req):
        return {
            "content_type": req.content_type,
            "mimetype": req.mimetype,
            "content_length": req.content_length,
            "charset": req.charset,
        }

    client = make_client(app)
    data = client.post(
        "/", content=b"hello", headers={"Content-Type": "Text/Plain; Charset=ISO-8859-1"}
    ).json()
    assert data == {
        "content_type": "Text/Plain; Charset=ISO-8859-1",
        "mimetype": "text/plain",
        "content_length": 5,
        "charset": "iso-8859-1",
    }
    data = client.post("/").json()
    assert data["content_type"] is None
    assert data["mimetype"] == ""
    assert data["content_length"] in (None, 0)
    assert data["charset"] == "utf-8"


def test_state_is_per_request_and_app_is_the_app(make_client):
    app = App()
    seen = []

    @app.before_request
    def mark(req):
        assert not hasattr(req.state, "user"), "state leaked from an earlier request"
        req.state.user = req.query.get("user")

    @app.get("/")
    def index(req):
        seen.append(req.state)
        return {"user": req.state.user, "same_app": req.app is app}

    client = make_client(app)
    assert client.get("/?user=ann").json() == {"user": "ann", "same_app": True}
    assert client.get("/?user=bob").json() == {"user": "bob", "same_app": True}
    assert seen[0] is not seen[1]


# -- cookies --------------------------------------------------------------------------


def test_cookies_browser_style(make_client):
    app = App()

    @app.get("/")
    def cookies(req):
        return req.cookies

    header = (
        'session=abc123; theme=dark; greeting=hello world; quoted="with spaces"; '
        "cart=[1,2,3]; token=a=b==; broken; =novalue; empty=; session=second; "
        "  padded  =  x  "
    )
    data = make_client(app).get("/", headers={"Cookie": header}).json()
    assert data == {
        "session": "abc123",  # first occurrence wins (the most specific path)
        "theme": "dark",
        "greeting": "hello world",
        "quoted": "with spaces",
        "cart": "[1,2,3]",
        "token": "a=b==",
        "empty": "",
        "padded": "x",
    }


def test_cookies_split_over_several_headers_under_asgi():
    # HTTP/2 and 3 clients may send one cookie per header (RFC 9113 8.2.3); only
    # ASGI servers can pass those on separately (WSGI has one HTTP_COOKIE).
    app = App()

    @app.get("/")
    def cookies(req):
        return req.cookies

    client = TestClient(app, "asgi")
    split = [("Cookie", "a=1; b=2"), ("Cookie", "c=3"), ("Cookie", "a=9")]
    response = client.get("/", headers=split)
    assert response.json() == {"a": "1", "b": "2", "c": "3"}


def test_no_cookie_header_gives_empty_dict(make_client):
    app = App()

    @app.get("/")
    def cookies(req):
        return {"cookies": req.cookies}

    assert make_client(app).get("/").json() == {"cookies": {}}


# -- body: plain properties in sync and async handlers --------------------------------


def body_app() -> App:
    app = App()

    def describe(req):
        kind = req.query.get("kind")
        if kind == "body":
            return {"body": req.body.hex()}
        if kind == "text":
            return {"text": req.text}
        if kind == "json":
            return {"json": req.json}
        if kind == "form":
            return {"form": {k: req.form.getall(k) for k in req.form}}
        if kind == "files":
            return {
                "form": {k: req.form.getall(k) for k in req.form},
                "files": [
                    [name, f.filename, f.content_type, f.data.decode("latin-1"), f.size]
                    for name, f in req.files.items()
                ],
            }
        raise AssertionError(kind)

    @app.post("/sync")
    def sync_handler(req):
        return describe(req)

    @app.post("/async")
    async def async_handler(req):
        return describe(req)

    return app


HANDLERS = ["/sync", "/async"]


@pytest.mark.parametrize("url", HANDLERS)
def test_body_text_json(make_client, url):
    client = make_client(body_app())
    assert client.post(url + "?kind=body", content=b"\x00\xffraw").json() == {"body": "00ff726177"}
    assert client.post(url + "?kind=body").json() == {"body": ""}
    assert client.post(
        url + "?kind=text", content="héllo".encode(), headers={"Content-Type": "text/plain"}
    ).json() == {"text": "héllo"}
    assert client.post(
        url + "?kind=text",
        content="héllo".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=latin-1"},
    ).json() == {"text": "héllo"}
    assert client.post(url + "?kind=json", json={"a": [1, 2.5, None, "é"]}).json() == {
        "json": {"a": [1, 2.5, None, "é"]}
    }
    assert client.post(
        url + "?kind=json",
        content=b'{"x": 1}',
        headers={"Content-Type": "application/vnd.api+json"},
    ).json() == {"json": {"x": 1}}
    # No Content-Type at all: lenient, the body is parsed as JSON.
    assert client.post(url + "?kind=json", content=b"[1, 2]").json() == {"json": [1, 2]}


@pytest.mark.parametrize("url", HANDLERS)
@pytest.mark.parametrize(
    ("kind", "content", "content_type", "status", "detail"),
    [
        ("json", b"{oops", "application/json", 400, "malformed JSON"),
        ("json", b"", "application/json", 400, "empty"),
        ("json", b'"\xff\xfe"', "application/json", 400, "not valid UTF-8"),
        ("json", b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "JSON"),
        ("json", b'{"a": 1}', "text/plain", 415, "application/json"),
        ("json", b"a=1", "application/x-www-form-urlencoded", 415, "application/json"),
        ("text", b"caf\xe9", "text/plain", 400, "not valid utf-8"),
        ("text", b"x", "text/plain; charset=no-such-codec", 400, "unknown charset"),
        ("text", b"x", "text/plain; charset=base64", 400, "unknown charset"),
        ("form", b"a=%FF", "application/x-www-form-urlencoded", 400, "UTF-8"),
        ("form", b"{}", "application/json", 415, "form"),
    ],
)
def test_bad_bodies_are_client_errors(
    make_client, url, kind, content, content_type, status, detail
):
    response = make_client(body_app()).post(
        f"{url}?kind={kind}", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("url", HANDLERS)
def test_urlencoded_form(make_client, url):
    client = make_client(body_app())
    response = client.post(
        url + "?kind=form",
        content=b"name=Ann+Lee&tag=a&tag=b&empty=&city=Z%C3%BCrich",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json() == {
        "form": {"name": ["Ann Lee"], "tag": ["a", "b"], "empty": [""], "city": ["Zürich"]}
    }
    # httpx's own form encoding, and an empty body without a Content-Type.
    assert client.post(url + "?kind=form", data={"a": "1"}).json() == {"form": {"a": ["1"]}}
    assert client.post(url + "?kind=form").json() == {"form": {}}


@pytest.mark.parametrize("url", HANDLERS)
def test_multipart_fields_and_files(make_client, url):
    client = make_client(body_app())
    response = client.post(
        url + "?kind=files",
        data={"title": "Trip é", "tag": ["x", "y"]},
        files=[
            ("photo", ("beach.png", b"\x89PNG\r\n\x1a\nbinary\x00data", "image/png")),
            ("notes", ("notes.txt", b"line 1\r\nline 2\r\n", "text/plain")),
            ("photo", ("second.jpg", b"", "image/jpeg")),
        ],
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["form"] == {"title": ["Trip é"], "tag": ["x", "y"]}
    assert data["files"] == [
        ["photo", "beach.png", "image/png", "\x89PNG\r\n\x1a\nbinary\x00data", 19],
        ["notes", "notes.txt", "text/plain", "line 1\r\nline 2\r\n", 16],
        ["photo", "second.jpg", "image/jpeg", "", 0],
    ]


MULTIPART_OK = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="a"\r\n\r\n'
    b"1\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
    b"\x00\x01\r\n"
    b"--XyZ--\r\n"
)


@pytest.mark.parametrize("url", HANDLERS)
def test_handwritten_multipart(make_client, url):
    response = make_client(body_app()).post(
        url + "?kind=files",
        content=MULTIPART_OK,
        headers={"Content-Type": 'multipart/form-data; boundary="XyZ"'},
    )
    assert response.json() == {
        "form": {"a": ["1"]},
        # No Content-Type in the part: application/octet-stream, as RFC 7578 says.
        "files": [["f", "a.bin", "application/octet-stream", "\x00\x01", 2]],
    }


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (MULTIPART_OK, "multipart/form-data", "boundary"),
        (MULTIPART_OK, "multipart/form-data; charset=utf-8", "boundary"),
        (MULTIPART_OK[:-9], "multipart/form-data; boundary=XyZ", "closing boundary"),
        (b"garbage without any boundary", "multipart/form-data; boundary=XyZ", "multipart"),
        (
            b'--XyZ\r\nContent-Disposition: attachment; filename="x"\r\n\r\nx\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            "form-data",
        ),
        (
            b"--XyZ\r\nno colon header line\r\n\r\nx\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
            "multipart",
        ),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\xfe\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
            "UTF-8",
        ),
        (b"", "multipart/form-data; boundary=XyZ", "multipart"),
    ],
)
@pytest.mark.parametrize("url", HANDLERS)
def test_broken_multipart_is_400(make_client, url, content, content_type, detail):
    client = make_client(body_app())
    response = client.post(
        url + "?kind=files", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    # The connection/app is not left in a bad state: the next request is fine.
    assert client.post(url + "?kind=body", content=b"ok").json() == {"body": "6f6b"}


# -- body size limit --------------------------------------------------------------------


def limited_app(calls: list[str]) -> App:
    app = App(max_body_size=1000)

    @app.post("/sync")
    def sync_handler(req):
        calls.append("sync")
        return {"size": len(req.body)}

    @app.post("/async")
    async def async_handler(req):
        calls.append("async")
        return {"size": len(req.body)}

    return app


@pytest.mark.parametrize("url", HANDLERS)
def test_body_at_the_limit_is_accepted(make_client, url):
    calls: list[str] = []
    response = make_client(limited_app(calls)).post(url, content=b"x" * 1000)
    assert response.json() == {"size": 1000}
    assert calls == [url[1:]]


@pytest.mark.parametrize("url", HANDLERS)
def test_body_over_the_limit_is_413_before_the_handler(make_client, url):
    calls: list[str] = []
    response = make_client(limited_app(calls)).post(url, content=b"x" * 1001)
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert calls == []


@pytest.mark.parametrize("url", HANDLERS)
def test_chunked_body_over_the_limit_is_413_without_reading_it_all(make_client, url):
    calls: list[str] = []
    produced = []

    def upload():
        for i in range(100):
            produced.append(i)
            yield b"x" * 50_000

    response = make_client(limited_app(calls)).post(url, content=upload())
    assert response.status_code == 413
    assert calls == []
    # Reading stopped soon after the limit: the rest of the upload was never pulled.
    assert len(produced) < 10


@pytest.mark.parametrize("url", HANDLERS)
def test_declared_length_over_the_limit_reads_nothing(make_client, url):
    calls: list[str] = []
    produced = []

    def upload():
        produced.append(1)
        yield b"x" * 10

    # A Content-Length above the limit is refused from the header alone.
    response = make_client(limited_app(calls)).post(
        url, content=upload(), headers={"Content-Length": "5000"}
    )
    assert response.status_code == 413
    assert calls == []
    assert produced == []


@pytest.mark.parametrize("url", HANDLERS)
def test_invalid_content_length_is_400(interface, url):
    calls: list[str] = []
    app = limited_app(calls)
    # wsgiref.validate itself rejects such an environ (WSGI servers refuse the
    # request before the app), so the WSGI side is called without it here.
    transport = WSGITransport(app.wsgi, validate=False) if interface == "wsgi" else None
    client = (
        httpx.Client(transport=transport, base_url="http://testserver")
        if transport
        else TestClient(app, "asgi")
    )
    with client:
        response = client.post(url, content=b"", headers={"Content-Length": "abc"})
    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]
    assert calls == []


# -- streaming uploads ---------------------------------------------------------------------


def streaming_app(log: list[str], release: threading.Event | None = None) -> App:
    app = App(max_body_size=100)  # streamed routes are not bound by max_body_size

    @app.post("/sync", stream=True)
    def sync_upload(req):
        sizes = []
        for chunk in req.stream():
            log.append(f"got {len(chunk)}")
            sizes.append(len(chunk))
        return {"sizes": sizes, "total": sum(sizes)}

    @app.post("/async", stream=True)
    async def async_upload(req):
        sizes = []
        async for chunk in req.stream():
            log.append(f"got {len(chunk)}")
            sizes.append(len(chunk))
        return {"sizes": sizes, "total": sum(sizes)}

    return app


@pytest.mark.parametrize("url", HANDLERS)
def test_streaming_upload_arrives_in_chunks(make_client, url):
    log: list[str] = []
    chunk = 50_000

    def upload():
        for i in range(6):
            log.append(f"sent {i}")
            yield bytes([65 + i]) * chunk

    response = make_client(streaming_app(log)).post(url, content=upload())
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["total"] == 6 * chunk
    # Bounded memory: the handler saw several pieces, none larger than 64 KiB.
    assert len(data["sizes"]) >= 4
    assert max(data["sizes"]) <= 65536
    # Incremental: the handler had its first chunk before the upload was all produced.
    first_got = next(i for i, entry in enumerate(log) if entry.startswith("got"))
    assert first_got < log.index("sent 5")


@pytest.mark.parametrize("url", HANDLERS)
def test_streaming_upload_with_fixed_body(make_client, url):
    log: list[str] = []
    response = make_client(streaming_app(log)).post(url, content=b"a" * 200_000)
    assert response.status_code == 200
    data = response.json()
    assert data["total"] == 200_000
    assert max(data["sizes"]) <= 65536
    assert make_client(streaming_app(log)).post(url).json() == {"sizes": [], "total": 0}


def test_body_on_a_streaming_route_is_a_clear_error(make_client, caplog):
    app = App()

    @app.post("/", stream=True)
    def wrong(req):
        return req.body

    response = make_client(app).post("/", content=b"abc")
    assert response.status_code == 500
    assert "req.stream()" in caplog.text


def test_stream_on_a_normal_route_yields_the_read_body(make_client):
    app = App()

    @app.post("/sync")
    def sync_handler(req):
        return b"".join(req.stream())

    @app.post("/async")
    async def async_handler(req):
        return b"".join([chunk async for chunk in req.stream()])

    client = make_client(app)
    assert client.post("/sync", content=b"hello").content == b"hello"
    assert client.post("/async", content=b"hello").content == b"hello"
