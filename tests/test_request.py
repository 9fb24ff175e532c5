"""The Request API, identical under app.wsgi and app.asgi (every test runs on both).

Hostile input (bad escapes, dot segments, odd hosts, broken or endless bodies)
gets a clear 4xx, no handler sees half-parsed input, and the next request is
served; where httpx would normalise the input away, ``raw_drivers`` passes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import httpx
import pytest
from helpers import HANDLERS, assert_problem, assert_still_serving, body_app, recording_app
from raw_drivers import CALLERS, CountingInput, call_asgi, call_wsgi

from twinframe import App, Response
from twinframe.testing import TestClient, WSGITransport
from twinframe.testing.scope import asgi_scope

# -- URL parts ---------------------------------------------------------------------


def test_method_path_and_params(make_client):
    app = App()

    @app.route("/items/{id:d}/{slug}", methods=["GET", "PUT", "DELETE"])
    def item(req, id, slug):
        return {
            "method": req.method,
            "path": req.path,
            "params": req.params,
            "id": id,
            "slug": slug,
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
            ["tag", "a"],
            ["tag", "b"],
            ["blank", ""],
            ["flag", ""],
            ["space", "a b c"],
            ["utf8", "été"],
            ["tag", "c"],
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
            ("X-Custom", "Value"),
            ("X-Tag", "one"),
            ("X-Tag", "two"),
            ("User-Agent", "probe/1"),
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


# -- body: plain properties in sync and async handlers --------------------------------


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


# -- hostile URLs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/names/%ZZ", "percent-encoding in the request path"),
        ("/names/abc%4", "percent-encoding in the request path"),
        ("/query?a=%ZZ", "percent-encoding in the query string"),
        ("/query?a=%", "percent-encoding in the query string"),
        ("/names/%FF%FE", "request path is not valid UTF-8"),
        ("/query?a=%FF", "query string is not valid UTF-8"),
        ("/names/%2E%2E", "'..' segments"),
        ("/rest/a/%2e%2e/%2e%2e/etc/passwd", "'..' segments"),
        ("/rest/./x", None),  # httpx removes "./"; the rest route then answers normally
    ],
)
def test_bad_urls_are_400(make_client, url, detail):
    app, calls = recording_app()
    client = make_client(app)
    response = client.get(url)
    if detail is None:
        assert response.status_code == 200
        return
    assert_problem(response, 400, detail)
    assert calls == []
    assert_still_serving(client)


def test_literal_percent_escaped_as_25_is_fine(make_client):
    app, _ = recording_app()
    client = make_client(app)
    assert client.get("/names/100%25").json() == {"name": "100%"}
    assert client.get("/query?a=100%25").json() == {"n": 1, "a": "100%"}


@pytest.mark.parametrize(
    "target", [b"/names/..", b"/rest/a/../../etc/passwd", b"/names/./x", b"/rest/."]
)
def test_raw_dot_segments_are_400(interface, target):
    # Clients normalise these away; a request that still carries them is crafted.
    app, calls = recording_app()
    result = CALLERS[interface](app, "GET", target)
    assert result.status == 400
    assert b"segments" in result.body
    assert calls == []


def test_long_urls_are_414_and_the_limit_is_an_app_option(make_client):
    app, calls = recording_app()
    client = make_client(app)
    assert_problem(client.get("/names/" + "a" * 9000), 414, "8192")
    assert_problem(client.get("/query?a=" + "b" * 9000), 414, "8192")
    small = make_client(recording_app(max_url_length=100)[0])
    assert_problem(small.get("/names/" + "a" * 100), 414, "100 characters")
    assert small.get("/names/" + "a" * 50).status_code == 200
    assert calls == []


def test_thousands_of_query_params_are_bounded(make_client):
    app, _ = recording_app(max_query_params=100, max_url_length=100_000)
    client = make_client(app)
    assert_problem(
        client.get("/query?" + "&".join(f"k{i}=v" for i in range(5000))),
        400,
        "more than 100 parameters",
    )
    assert client.get("/query?" + "&".join(f"k{i}=v" for i in range(100))).json()["n"] == 100


# -- hostile headers ----------------------------------------------------------------


def test_non_latin1_header_bytes_arrive_as_latin1_text(make_client):
    # Header bytes are not decoded as UTF-8 by anyone (PEP 3333, ASGI): a handler
    # wanting UTF-8 re-encodes with .encode("latin-1").decode("utf-8").
    app, _ = recording_app()
    client = make_client(app)
    raw = "café ☃".encode()
    response = client.get("/headers", headers={"x-name": raw})
    assert response.status_code == 200
    assert response.json()["x"] == raw.decode("latin-1")
    assert response.json()["x"].encode("latin-1").decode("utf-8") == "café ☃"


@pytest.mark.parametrize(
    "host",
    [
        "evil.com/<script>",
        "a'b.com",
        'x"onmouseover="alert(1)',
        "host name",
        "h\x7fost",
        "example.com:80:80",
        "[::1",
    ],
)
def test_odd_host_is_refused_never_echoed(make_client, host):
    app, calls = recording_app()
    client = make_client(app)
    response = client.get("/host", headers={"host": host})
    assert_problem(response, 400, "Host")
    assert host not in response.text
    # Neither the trailing-slash redirect nor a 404 echo the Host.
    redirect = client.get("/names/x/", headers={"host": host})
    assert host not in redirect.headers.get("location", "") and host not in redirect.text
    missing = client.get("/nowhere", headers={"host": host})
    assert missing.status_code == 404 and host not in missing.text
    assert calls == []


@pytest.mark.parametrize(
    "host", ["example.com", "example.com:8080", "127.0.0.1:5000", "[::1]:8000", "xn--caf-dma.fr"]
)
def test_plain_hosts_are_accepted(make_client, host):
    app, _ = recording_app()
    client = make_client(app)
    response = client.get("/host", headers={"host": host})
    assert response.status_code == 200
    assert f">{host}</a>" in response.text


# -- hostile bodies -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b'{"a": 1', "application/json", 400, "malformed JSON"),
        (b"", "application/json", 400, "empty"),
        ('{"a": "é"}'.encode("latin-1"), "application/json", 400, "not valid UTF-8"),
        (b"[" * 100_000, "application/json", 400, "nested too deeply"),
        (b'{"a": 1}', "text/plain", 415, "application/json"),
        (b'{"a": 1}', "application/x-www-form-urlencoded", 415, "application/json"),
    ],
)
def test_bad_json_is_a_client_error(make_client, content, content_type, status, detail):
    app, calls = recording_app()
    client = make_client(app)
    assert_problem(
        client.post("/json", content=content, headers={"content-type": content_type}),
        status,
        detail,
    )
    assert calls == []
    assert_still_serving(client)


def test_json_without_content_type_is_read_leniently(make_client):
    # Decision: no Content-Type at all is read as JSON (curl -d sends a form
    # type, but many scripts send none); a *different* type is a 415.
    app, _ = recording_app()
    client = make_client(app)
    response = client.post("/json", content=b'{"a": 1}')
    assert response.json() == {"json": {"a": 1}}
    assert client.post(
        "/json", content=b'{"a": 1}', headers={"content-type": "application/merge-patch+json"}
    ).json() == {"json": {"a": 1}}


def test_declared_length_over_the_limit_is_413_without_reading(interface):
    app, calls = recording_app(max_body_size=1000)
    body = CountingInput([b"x" * 100_000])
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100000")]
    if interface == "wsgi":
        result = call_wsgi(app, "POST", b"/json", headers, wsgi_input=body)
        assert body.bytes_read == 0
    else:
        result = call_asgi(app, "POST", b"/json", headers, chunks=[b"x" * 100_000])
        assert result.body_bytes_read == 0
    assert result.status == 413
    assert calls == []


def test_endless_chunked_body_stops_at_the_limit(interface):
    # No Content-Length and a body that never ends: 413 once the limit is
    # crossed, having read at most the limit plus one chunk (memory bounded).
    app, calls = recording_app(max_body_size=100_000)
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    if interface == "wsgi":
        body = CountingInput([b"x" * 4096], endless=True)
        result = call_wsgi(app, "POST", b"/json", headers, wsgi_input=body, input_terminated=True)
        read = body.bytes_read
    else:
        result = call_asgi(app, "POST", b"/json", headers, chunks=[b"x" * 4096], endless=True)
        read = result.body_bytes_read
    assert result.status == 413
    assert 100_000 < read <= 100_000 + 65_536
    assert calls == []


def test_chunked_body_over_the_limit_through_the_client(make_client):
    app, calls = recording_app(max_body_size=10_000)
    client = make_client(app)

    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    response = client.post("/json", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(response, 413, "10000-byte limit")
    assert calls == []
    assert_still_serving(client)


def test_body_shorter_than_content_length_is_not_a_server_error(interface, caplog):
    # The client went away mid-body: no handler call and nothing logged as an error.
    app, calls = recording_app()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
    with caplog.at_level(logging.DEBUG, logger="twinframe"):
        if interface == "wsgi":
            result = call_wsgi(app, "POST", b"/json", headers, body=b'{"a": ')
        else:
            result = call_asgi(
                app, "POST", b"/json", headers, chunks=[b'{"a": '], disconnect_early=True
            )
    # WSGI answers 400 into the void; ASGI sends nothing after http.disconnect (status 0).
    assert result.status == (400 if interface == "wsgi" else 0)
    assert calls == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    ok = CALLERS[interface](app, "GET", b"/ok")
    assert (ok.status, ok.body) == (200, b"ok")


@pytest.mark.parametrize(
    ("lengths", "status"),
    [
        (["5", "7"], 400),
        (["5", "5"], 200),
        (["abc"], 400),
        (["-5"], 400),
        (["5, 6"], 400),
        (["1" * 30], 400),
    ],
)
def test_bad_and_duplicate_content_length(interface, lengths, status):
    # Servers join repeated headers with commas (WSGI) or pass them all (ASGI);
    # most refuse these themselves, but the app must not trust a lax one.
    # (wsgiref.validate itself refuses a non-numeric CONTENT_LENGTH, so WSGI runs unvalidated.)
    app, calls = recording_app()
    headers = [
        (b"content-type", b"application/json"),
        *[(b"content-length", v.encode()) for v in lengths],
    ]
    options = {"validate": False} if interface == "wsgi" else {}
    result = CALLERS[interface](app, "POST", b"/json", headers, body=b'{"a":', **options)
    problem = json.loads(result.body)
    assert (result.status, problem["status"]) == (400, 400)
    if status == 200:
        # Identical repeats are one Content-Length: the 5 bytes reach the JSON parser.
        assert "malformed JSON" in problem["detail"]
    else:
        assert "Content-Length" in problem["detail"]
    assert calls == []
    ok = CALLERS[interface](app, "GET", b"/ok")
    assert (ok.status, ok.body) == (200, b"ok")


# -- req.stream() in async code -----------------------------------------------------------


@pytest.mark.parametrize("stream_route", [True, False])
def test_sync_iteration_of_the_body_in_async_code_is_a_clear_error(
    make_client, caplog, stream_route
):
    app = App()
    log: list[str] = []

    @app.before_request
    def sync_hook(req):  # under ASGI it once left a loop behind for the stream to block on
        log.append("hook")

    @app.get("/ok")
    def ok(req):
        return "ok"

    @app.post("/", stream=stream_route)
    async def wrong(req):
        return b"".join(chunk for chunk in req.stream())

    client = make_client(app)
    response = client.post("/", content=b"abc", timeout=10)
    assert response.status_code == 500
    assert "use 'async for'" in caplog.text
    assert log == ["hook"]
    assert_still_serving(client)


def test_sync_iteration_of_the_body_in_a_sync_stream_still_works(make_client):
    app = App()

    @app.post("/", stream=True)
    async def echo(req):
        body = req.stream()

        def chunks():  # iterated by the adapter outside the event loop
            for chunk in body:
                yield chunk.upper()

        return Response.stream(chunks())

    assert make_client(app).post("/", content=b"abc").content == b"ABC"


# -- repeated and empty headers read alike ------------------------------------------------


@pytest.mark.parametrize("reads_host", [True, False])
def test_two_host_headers_are_refused_on_both_entrypoints(interface, reads_host):
    # The same 400 whether or not the handler reads req.host (RFC 9112 3.2), and
    # the handler never runs.
    app = App()
    ran: list[str] = []

    @app.get("/")
    def handler(req):
        ran.append("handler")
        return req.host if reads_host else "never looked at the host"

    call = CALLERS[interface]
    two = [(b"host", b"a.example"), (b"host", b"b.example")]
    result = call(app, headers=two)
    assert result.status == 400
    assert json.loads(result.body)["detail"] == "more than one Host header"
    assert ran == []
    one = call(app, headers=[(b"host", b"a.example")])
    assert one.status == 200
    assert one.body == (b"a.example" if reads_host else b"never looked at the host")


def test_two_host_headers_refuse_a_websocket_handshake():
    app = App()
    ran: list[str] = []

    @app.websocket("/ws")
    async def ws_handler(ws):
        ran.append("handler")
        await ws.accept()
        await ws.close()

    scope = asgi_scope("websocket", b"/ws", b"", [(b"host", b"a"), (b"host", b"b")], scheme="ws")
    scope["extensions"] = {"websocket.http.response": {}}
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app.asgi(scope, receive, send))
    assert ran == []
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["detail"] == "more than one Host header"


def test_a_repeated_conditional_header_counts_every_value(interface, tmp_path):
    (tmp_path / "page.txt").write_text("hello", encoding="utf-8")
    app = App()

    @app.get("/page")
    def page(req):
        return Response.file(tmp_path / "page.txt")

    etag = CALLERS[interface](app, target=b"/page").header("etag")
    assert etag
    headers = [(b"if-none-match", b'"other"'), (b"if-none-match", etag.encode())]
    result = CALLERS[interface](app, target=b"/page", headers=headers)
    assert result.status == 304
    ranged = [(b"range", b"bytes=0-0"), (b"range", b"bytes=2-3")]
    # Two Range headers join into a multi-range, which may be answered whole.
    assert CALLERS[interface](app, target=b"/page", headers=ranged).status == 200


def test_repeated_and_empty_headers_read_alike(interface):
    app = App()

    @app.post("/")
    def show(req):
        return {
            "content_type": req.content_type,
            "mimetype": req.mimetype,
            "length": req.content_length,
            "cookies": req.cookies,
        }

    headers = [
        (b"content-type", b""),
        (b"content-length", b"2"),
        (b"cookie", b"a=1"),
    ]
    result = CALLERS[interface](app, "POST", b"/", headers=headers, body=b"hi")
    assert result.status == 200, result.body
    assert json.loads(result.body) == {
        "content_type": None,
        "mimetype": "",
        "length": 2,
        "cookies": {"a": "1"},
    }


# -- chunked bodies a WSGI server can't frame ---------------------------------------------


@pytest.mark.parametrize("stream_route", [False, True])
def test_chunked_body_is_read_or_refused_never_dropped(interface, stream_route):
    app = App()

    @app.post("/", stream=stream_route)
    def echo(req):
        return b"".join(req.stream()) if stream_route else req.body

    chunked = [(b"transfer-encoding", b"chunked")]
    if interface == "wsgi":
        # Decoded by a server that says so (gunicorn): read to the end.
        read = call_wsgi(app, "POST", headers=chunked, body=b"hello", input_terminated=True)
        assert (read.status, read.body) == (200, b"hello")
        # A server that doesn't (wsgiref, app.run()) gives no way to find the end:
        # 411 Length Required rather than a handler seeing b"".
        refused = call_wsgi(app, "POST", headers=chunked, body=b"hello")
        assert refused.status == 411, refused.body
        assert b"Content-Length" in refused.body
    else:
        read = call_asgi(app, "POST", headers=chunked, chunks=[b"hel", b"lo"])
        assert (read.status, read.body) == (200, b"hello")


# -- requests whose framing says they have no body ------------------------------------


def _framing_app() -> App:
    app = App()

    @app.route("/", methods=["GET", "POST"])
    def echo(req):
        return {"method": req.method, "body": req.body.decode()}

    return app


def _framing_call(interface: str, method: str, headers=(), body=b"", http_version="1.1"):
    """One raw request to ``_framing_app``; the WSGI input is terminated, as under
    gunicorn and Granian (so only the framing rule can spare the read)."""
    app = _framing_app()
    if interface == "wsgi":
        return call_wsgi(
            app,
            method,
            headers=list(headers),
            wsgi_input=CountingInput([body] if body else []),
            input_terminated=True,
            http_version=http_version,
        )
    return call_asgi(app, method, headers=list(headers), body=body, http_version=http_version)


@pytest.mark.parametrize("http_version", ["1.1", "1.0"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_http1_get_without_length_or_chunking_reads_no_body(interface, method, http_version):
    # RFC 9112 section 6.3: such a request has no body, so the server is not asked
    # for one (no wsgi.input.read(), no receive()); req.body is b"".
    app = App()
    seen = []

    @app.get("/")
    def hello(req):
        seen.append(req.body)
        return "hi"

    if interface == "wsgi":
        wsgi_input = CountingInput([])
        result = call_wsgi(
            app, method, wsgi_input=wsgi_input, input_terminated=True, http_version=http_version
        )
    else:
        result = call_asgi(app, method, http_version=http_version)
    assert result.status == 200
    assert result.body == (b"hi" if method == "GET" else b"")
    assert seen == [b""]
    assert result.body_reads == 0


@pytest.mark.parametrize(
    "headers",
    [[(b"content-length", b"5")], [(b"transfer-encoding", b"chunked")]],
    ids=["content-length", "chunked"],
)
def test_http1_get_with_a_framed_body_still_reads_it(interface, headers):
    result = _framing_call(interface, "GET", headers, b"hello")
    assert result.status == 200, result.body
    assert json.loads(result.body) == {"method": "GET", "body": "hello"}
    assert result.body_reads


def test_http2_get_without_length_still_reads_its_body(interface):
    # HTTP/2 frames the body itself: a request may carry one with neither header.
    result = _framing_call(interface, "GET", body=b"hello", http_version="2")
    assert result.status == 200, result.body
    assert json.loads(result.body) == {"method": "GET", "body": "hello"}
    assert result.body_reads


def test_http1_post_without_length_is_still_read(interface):
    # Only GET and HEAD are spared the read: a harness that hands a POST a body
    # without framing headers (tests/test_asgi.py does) still has it read.
    result = _framing_call(interface, "POST", body=b"hello")
    assert result.status == 200, result.body
    assert json.loads(result.body) == {"method": "POST", "body": "hello"}
    assert result.body_reads


# -- the host when the client sent no Host header -------------------------------------


@pytest.mark.parametrize(
    ("scheme", "server", "expected"),
    [
        ("http", ("example.org", 8080), "example.org:8080"),  # the server's name and port
        ("http", ("example.org", 80), "example.org"),  # the scheme's default port is left out
        ("https", ("example.org", 443), "example.org"),  # https's default is 443...
        ("https", ("example.org", 80), "example.org:80"),  # ...so 80 is named there
        ("http", ("example.org", 443), "example.org:443"),  # and 443 is named for http
        # No port (an empty SERVER_PORT from a lax WSGI server, ASGI's None): none named.
        ("http", ("example.org", None), "example.org"),
        ("https", ("example.org", None), "example.org"),
    ],
)
def test_host_without_a_host_header_is_the_servers_address(interface, scheme, server, expected):
    # An HTTP/1.0 client may send no Host: req.host (and req.url) then name the
    # server the request reached: SERVER_NAME/SERVER_PORT (WSGI), scope["server"] (ASGI).
    app = App()

    @app.get("/")
    def where(req):
        return {"host": req.host, "url": req.url}

    result = CALLERS[interface](app, server=server, http_version="1.0", scheme=scheme)
    assert result.status == 200
    assert json.loads(result.body) == {"host": expected, "url": f"{scheme}://{expected}/"}


def test_host_without_a_host_header_or_a_server_address_is_localhost(interface):
    # ASGI lets a server leave scope["server"] out; a lax WSGI server may leave out
    # SERVER_NAME (PEP 3333 requires it). Both read as "localhost", never a 500.
    app = App()

    @app.get("/")
    def where(req):
        return req.host

    options = {"validate": False} if interface == "wsgi" else {}
    result = CALLERS[interface](app, server=None, **options)
    assert result.status == 200
    assert result.body == b"localhost"


def test_host_without_a_host_header_on_a_unix_socket_has_no_port(interface):
    # Waitress on a Unix socket puts the socket's path in SERVER_PORT; uvicorn
    # leaves scope["server"] out. Neither is a port to show: the host is the name.
    app = App()

    @app.get("/")
    def where(req):
        return {"host": req.host, "url": req.url}

    server = ("localhost", "/run/app.sock") if interface == "wsgi" else None
    result = CALLERS[interface](app, server=server, http_version="1.0")
    assert result.status == 200
    assert json.loads(result.body) == {"host": "localhost", "url": "http://localhost/"}
