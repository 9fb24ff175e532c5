"""Hostile and broken request input: a clear 4xx, no handler call on half-parsed input,
and the next request served normally. Every test runs on app.wsgi and app.asgi.

``make_client`` goes through httpx (WSGI under wsgiref.validate); where httpx
would normalise the input away (dot segments, body shorter than announced,
endless bodies) the entrypoints are driven directly by ``raw_drivers``.
"""

from __future__ import annotations

import json
import logging

import pytest
from raw_drivers import CALLERS, CountingInput, call_asgi, call_wsgi

from twinframe import App, Response

PROBLEM = "application/problem+json"


def build_app(**options: object) -> tuple[App, list[str]]:
    """An app whose handlers record each call that got parsed input.

    Bodies are parsed lazily: ``req.json`` / ``req.form`` raise the 4xx inside the
    handler, so a handler gets either the whole parsed value or an exception,
    never a half-parsed one; ``calls`` shows which handlers got a value.
    """
    app = App(**options)  # type: ignore[arg-type]
    calls: list[str] = []

    @app.post("/json")
    def read_json(req):
        value = req.json
        calls.append("json")
        return {"json": value}

    @app.post("/form")
    def read_form(req):
        form, files = dict(req.form), req.files
        calls.append("form")
        return {
            "form": form,
            "files": {name: [f.filename, f.data.decode("latin-1")] for name, f in files.items()},
        }

    @app.get("/items/{id:d}")
    def item(req, id):
        calls.append("item")
        return {"id": id}

    @app.get("/names/{name}")
    def name(req, name):
        calls.append("name")
        return {"name": name}

    @app.get("/rest/{rest:path}")
    def rest(req, rest):
        calls.append("rest")
        return {"rest": rest}

    @app.get("/query")
    def query(req):
        query = req.query
        calls.append("query")
        return {"n": len(query), "a": query.get("a")}

    @app.get("/cookies")
    def cookies(req):
        calls.append("cookies")
        return req.cookies

    @app.get("/headers")
    def headers(req):
        calls.append("headers")
        return {"x": req.headers.get("x-name")}

    @app.get("/host")
    def host(req):
        page = f"<a href='{req.url}'>{req.host}</a>"
        calls.append("host")
        return Response.html(page)

    @app.get("/ok")
    def ok(req):
        return "ok"

    return app, calls


def assert_problem(response, status: int, detail: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    if detail is not None:
        assert detail in problem["detail"]


def assert_still_serving(client) -> None:
    after = client.get("/ok")
    assert (after.status_code, after.text) == (200, "ok")


# -- body --------------------------------------------------------------------------


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
    app, calls = build_app()
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
    app, _ = build_app()
    client = make_client(app)
    response = client.post("/json", content=b'{"a": 1}')
    assert response.json() == {"json": {"a": 1}}
    assert client.post(
        "/json", content=b'{"a": 1}', headers={"content-type": "application/merge-patch+json"}
    ).json() == {"json": {"a": 1}}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "detail"),
    [
        (b"a=1", "application/json", 415, "x-www-form-urlencoded"),
        (b"a=1", None, 415, "no Content-Type"),
        (b"a=%FF", "application/x-www-form-urlencoded", 400, "UTF-8"),
        (b"a=%ZZ", "application/x-www-form-urlencoded", 400, "percent-encoding"),
    ],
)
def test_bad_urlencoded_form(make_client, content, content_type, status, detail):
    app, _ = build_app()
    client = make_client(app)
    headers = {"content-type": content_type} if content_type else {}
    assert_problem(client.post("/form", content=content, headers=headers), status, detail)
    assert_still_serving(client)


def test_declared_length_over_the_limit_is_413_without_reading(interface):
    app, calls = build_app(max_body_size=1000)
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
    app, calls = build_app(max_body_size=100_000)
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
    app, calls = build_app(max_body_size=10_000)
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
    app, calls = build_app()
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


def multipart(parts: list[tuple[str, bytes]], boundary: str = "XyZ") -> bytes:
    out = b""
    for disposition, data in parts:
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (multipart([('form-data; name="a"', b"1")]), "multipart/form-data", "without a boundary"),
        (
            multipart([('form-data; name="a"', b"1")]),
            "multipart/form-data; boundary=",
            "without a boundary",
        ),
        (
            b"this is not multipart at all",
            "multipart/form-data; boundary=XyZ",
            "malformed multipart",
        ),
        (
            multipart([('form-data; name="a"', b"1")])[:-8],
            "multipart/form-data; boundary=XyZ",
            "closing boundary",
        ),
        (
            multipart([("attachment", b"1")]),
            "multipart/form-data; boundary=XyZ",
            "Content-Disposition",
        ),
        (
            multipart([('form-data; name="a"', b"\xff")]),
            "multipart/form-data; boundary=XyZ",
            "UTF-8",
        ),
    ],
)
def test_garbled_multipart_is_400(make_client, content, content_type, detail):
    app, calls = build_app()
    client = make_client(app)
    assert_problem(
        client.post("/form", content=content, headers={"content-type": content_type}), 400, detail
    )
    assert calls == []
    assert_still_serving(client)


def test_multipart_limits(make_client):
    app, calls = build_app(max_body_size=50_000, max_form_fields=10)
    client = make_client(app)
    content_type = {"content-type": "multipart/form-data; boundary=XyZ"}
    many = multipart([(f'form-data; name="f{i}"', b"v") for i in range(11)])
    assert_problem(
        client.post("/form", content=many, headers=content_type), 413, "more than 10 parts"
    )
    huge = multipart([('form-data; name="f"; filename="big.bin"', b"x" * 60_000)])
    assert_problem(
        client.post("/form", content=huge, headers=content_type), 413, "50000-byte limit"
    )
    fine = multipart([(f'form-data; name="f{i}"', b"v") for i in range(10)])
    assert client.post("/form", content=fine, headers=content_type).status_code == 200
    assert calls == ["form"]


def test_hostile_filenames_are_kept_as_data(make_client):
    app, _ = build_app()
    client = make_client(app)
    names = ["../../etc/passwd", "..\\..\\boot.ini", "/abs/path", "nul\x00byte.txt"]
    parts = [(f'form-data; name="f{i}"; filename="{n}"', b"data") for i, n in enumerate(names)]
    response = client.post(
        "/form",
        content=multipart(parts),
        headers={"content-type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 200
    assert response.json()["files"] == {f"f{i}": [n, "data"] for i, n in enumerate(names)}


# -- URL ---------------------------------------------------------------------------


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
    app, calls = build_app()
    client = make_client(app)
    response = client.get(url)
    if detail is None:
        assert response.status_code == 200
        return
    assert_problem(response, 400, detail)
    assert calls == []
    assert_still_serving(client)


def test_literal_percent_escaped_as_25_is_fine(make_client):
    app, _ = build_app()
    client = make_client(app)
    assert client.get("/names/100%25").json() == {"name": "100%"}
    assert client.get("/query?a=100%25").json() == {"n": 1, "a": "100%"}


@pytest.mark.parametrize(
    "target", [b"/names/..", b"/rest/a/../../etc/passwd", b"/names/./x", b"/rest/."]
)
def test_raw_dot_segments_are_400(interface, target):
    # Clients normalise these away; a request that still carries them is crafted.
    app, calls = build_app()
    result = CALLERS[interface](app, "GET", target)
    assert result.status == 400
    assert b"segments" in result.body
    assert calls == []


def test_encoded_slash_separates_segments(make_client):
    # Decision: routing uses the decoded path (WSGI servers decode PATH_INFO
    # before the app sees it, so %2F can't be told apart there): %2F splits
    # segments, so "{name}" never receives a "/", and a path field gets it as "/".
    app, _ = build_app()
    client = make_client(app)
    assert_problem(client.get("/names/a%2Fb"), 404)
    assert client.get("/rest/a%2Fb").json() == {"rest": "a/b"}


def test_long_urls_are_414_and_the_limit_is_an_app_option(make_client):
    app, calls = build_app()
    client = make_client(app)
    assert_problem(client.get("/names/" + "a" * 9000), 414, "8192")
    assert_problem(client.get("/query?a=" + "b" * 9000), 414, "8192")
    small = make_client(build_app(max_url_length=100)[0])
    assert_problem(small.get("/names/" + "a" * 100), 414, "100 characters")
    assert small.get("/names/" + "a" * 50).status_code == 200
    assert calls == []


def test_thousands_of_query_params_are_bounded(make_client):
    app, _ = build_app(max_query_params=100, max_url_length=100_000)
    client = make_client(app)
    assert_problem(
        client.get("/query?" + "&".join(f"k{i}=v" for i in range(5000))),
        400,
        "more than 100 parameters",
    )
    assert client.get("/query?" + "&".join(f"k{i}=v" for i in range(100))).json()["n"] == 100


def test_huge_int_path_param_is_404_not_a_slow_parse(make_client):
    app, calls = build_app(max_url_length=20_000)
    client = make_client(app)
    assert_problem(client.get("/items/" + "9" * 10_000), 404)
    assert client.get("/items/" + "9" * 30).json() == {"id": int("9" * 30)}
    assert calls == ["item"]


# -- headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; ;;; =x; b; c=3", {"a": "1", "c": "3"}),
        ('a="quoted"; a=second; =; ==; d==e', {"a": "quoted", "d": "=e"}),
        ("\x00\x01=\x02; e=\xff\xfe", {"\x00\x01": "\x02", "e": "\xff\xfe"}),
        (";" * 10_000, {}),
    ],
)
def test_malformed_cookie_headers_never_fail(make_client, header, expected):
    app, _ = build_app()
    client = make_client(app)
    response = client.get("/cookies", headers={"cookie": header.encode("latin-1")})
    assert response.status_code == 200
    assert response.json() == expected


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
    app, calls = build_app()
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


def test_non_latin1_header_bytes_arrive_as_latin1_text(make_client):
    # Header bytes are not decoded as UTF-8 by anyone (PEP 3333, ASGI): a handler
    # wanting UTF-8 re-encodes with .encode("latin-1").decode("utf-8").
    app, _ = build_app()
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
    app, calls = build_app()
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
    app, _ = build_app()
    client = make_client(app)
    response = client.get("/host", headers={"host": host})
    assert response.status_code == 200
    assert f">{host}</a>" in response.text


class RefusingInput(CountingInput):
    """A ``wsgi.input`` whose server-side parser refuses the body framing mid-read."""

    def read(self, size: int = -1) -> bytes:
        raise _ServerParseError("Invalid chunk size: 'zz'")


class _ServerParseError(Exception):
    """Like gunicorn's InvalidChunkSize: not an OSError, raised from wsgi.input.read()."""


def test_wsgi_input_refusing_the_framing_is_400(caplog):
    # WSGI only: ASGI servers refuse bad framing before the app sees a message.
    app, calls = build_app()
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    with caplog.at_level(logging.DEBUG, logger="twinframe"):
        result = call_wsgi(
            app, "POST", b"/json", headers, wsgi_input=RefusingInput([]), input_terminated=True
        )
    assert result.status == 400
    assert json.loads(result.body)["detail"] == "malformed request body framing"
    assert calls == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_urlencoded_field_limit(make_client):
    app, calls = build_app(max_form_fields=10)
    client = make_client(app)
    form = {"content-type": "application/x-www-form-urlencoded"}
    many = "&".join(f"f{i}=v" for i in range(11)).encode()
    assert_problem(client.post("/form", content=many, headers=form), 413, "more than 10 fields")
    assert calls == []
    fine = "&".join(f"f{i}=v" for i in range(10)).encode()
    assert len(client.post("/form", content=fine, headers=form).json()["form"]) == 10
