"""Property-based fuzzing of both entrypoints with hypothesis.

Arbitrary methods, request targets (raw bytes a server could pass on, with
valid and broken percent-escapes, dot segments, encoded slashes), headers
(any latin-1 bytes, duplicated, hostile Content-Length / Cookie / Host / Range)
and bodies (random, or JSON / form / multipart shaped) go to ``app.wsgi`` under
``wsgiref.validate`` and to ``app.asgi`` under the spec-checking driver in
``raw_drivers``. For every input:

- nothing raises out of the entrypoint, exactly one well-formed response is sent;
- the body length matches the announced Content-Length (none for HEAD/204/304);
- no 5xx: the fuzz app's handlers only read their input, so any server error
  would be the framework failing on malformed input;
- the next, valid request is answered normally.

The run is derandomized (a fixed seed) with a small budget by default; set
``TWINFRAME_FUZZ_EXAMPLES=N`` or ``TWINFRAME_LONG=1`` (5,000 per test)
to fuzz longer.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from urllib.parse import quote_from_bytes, urlencode
from wsgiref.validate import WSGIWarning

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_drivers import CALLERS, check_framing

from twinframe import App, Response

LONG = os.environ.get("TWINFRAME_LONG") == "1"
EXAMPLES = int(os.environ.get("TWINFRAME_FUZZ_EXAMPLES") or (5000 if LONG else 300))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def fuzz_app(static_dir: Path) -> App:
    """Routes that exercise every input parser; none has a bug of its own."""
    app = App(max_body_size=4096, max_query_params=50, max_form_fields=20, max_url_length=2048)

    @app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def echo(req):
        return {
            "method": req.method,
            "path": req.path,
            "query": [list(pair) for pair in req.query.items()],
            "cookies": req.cookies,
            "headers": len(req.headers),
            "length": req.content_length,
            "body": len(req.body),
            "url": req.url,
        }

    @app.post("/json")
    async def read_json(req):
        return {"json": req.json}

    @app.post("/text")
    def read_text(req):
        return Response.text(req.text)

    @app.post("/form")
    def read_form(req):
        files = {k: [f.filename, f.content_type, f.size] for k, f in req.files.items()}
        return {"form": [list(pair) for pair in req.form.items()], "files": files}

    @app.post("/upload", stream=True)
    def upload(req):
        return {"size": sum(len(chunk) for chunk in req.stream())}

    @app.get("/items/{id:d}")
    def item(req, id):
        return {"id": id}

    @app.get("/price/{amount:f}/{currency:w}")
    async def price(req, amount, currency):
        return {"amount": amount, "currency": currency}

    @app.get("/users/me")
    def me(req):
        return "me"

    @app.get("/users/{name}/")
    def user(req, name):
        return {"name": name}

    @app.get("/static/{rest:path}")
    def static(req, rest):
        return Response.file(rest, root=static_dir)

    @app.get("/stream")
    def stream(req):
        return Response.stream(f"{i}," for i in range(int(req.query.get("n", "3")[:2] or 0)))

    @app.get("/cookie")
    def cookie(req):
        response = Response("ok")
        response.set_cookie("seen", str(len(req.cookies)))
        return response

    @app.get("/host")
    def host(req):
        return Response.html(f"<a href='{req.url}'>{req.host}</a>")

    @app.websocket("/ws")
    async def ws(socket):
        await socket.close()

    return app


@pytest.fixture(scope="module")
def app_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory /static/ serves: one small file."""
    directory = tmp_path_factory.mktemp("fuzz_static")
    (directory / "a.txt").write_text("static a\n" * 50)
    return directory


# -- strategies ----------------------------------------------------------------------

TOKEN = st.text(
    "!#$%&'*+-.^_`|~" + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=1,
    max_size=12,
)
METHODS = st.one_of(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]), TOKEN
)
# What may appear unescaped in a request target path (visible ASCII minus "#" and "?").
TARGET_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "#?")
ROUTES = [
    "echo",
    "json",
    "text",
    "form",
    "upload",
    "items",
    "price",
    "users",
    "static",
    "stream",
    "cookie",
    "host",
    "ws",
]


def _escaped(data: bytes) -> str:
    return quote_from_bytes(data, safe="")


SEGMENT = st.one_of(
    st.sampled_from([*ROUTES, "", ".", "..", "%2E%2E", "%2e", "me", "a.txt", "1", "3.5", "EUR"]),
    st.text(TARGET_CHARS, max_size=10),
    st.binary(max_size=6).map(_escaped),
    st.sampled_from(["%", "%Z", "%ZZ", "%4", "%FF", "%C3%28", "%2F", "%00", "%25", "%E2%98%83"]),
    st.integers(min_value=0).map(str),
    st.just("9" * 5000),
)
VALID_PATHS = st.sampled_from(
    [
        "/echo",
        "/json",
        "/text",
        "/form",
        "/upload",
        "/items/12",
        "/price/3.5/EUR",
        "/users/me",
        "/users/bob/",
        "/users/bob",
        "/static/a.txt",
        "/stream",
        "/cookie",
        "/host",
        "/ws",
    ]
)
PATHS = st.one_of(
    VALID_PATHS,
    VALID_PATHS,
    st.tuples(VALID_PATHS, SEGMENT).map(lambda pair: pair[0].rstrip("/") + "/" + pair[1]),
    st.lists(SEGMENT, min_size=1, max_size=6).map(lambda segments: "/" + "/".join(segments)),
)
QUERY_PARTS = st.one_of(
    st.text(TARGET_CHARS + "?", max_size=20),
    st.binary(max_size=8).map(_escaped),
    st.sampled_from(["n=5", "n=-1", "n=99", "a=%FF", "a=%", "=&&=", "a=1&a=2", "x" * 3000]),
)
QUERIES = st.one_of(
    st.just(""),
    st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=4).map(
        lambda pairs: urlencode(pairs)
    ),
    st.lists(QUERY_PARTS, max_size=8).map("&".join),
)

HEADER_VALUE = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c not in b"\r\n\x00"))
HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "content-type",
            "cookie",
            "host",
            "accept",
            "range",
            "if-none-match",
            "if-modified-since",
            "if-range",
            "x-forwarded-for",
            "transfer-encoding",
            "expect",
            "connection",
        ]
    ),
    TOKEN.map(str.lower),
)
CONTENT_TYPES = st.sampled_from(
    [
        b"application/json",
        b"application/json; charset=latin-1",
        b"application/problem+json",
        b"text/plain; charset=utf-8",
        b"text/plain; charset=nope",
        b"text/plain; charset=utf-16",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=XyZ",
        b"multipart/form-data; boundary=",
        b"multipart/form-data",
        b'multipart/form-data; boundary="a b"',
        b";;;",
        b"",
    ]
)
SPECIAL_HEADERS = st.one_of(
    st.tuples(st.just(b"content-type"), st.one_of(CONTENT_TYPES, HEADER_VALUE)),
    st.tuples(
        st.just(b"cookie"),
        st.one_of(
            HEADER_VALUE,
            st.just(b'a=1; b="2; ;c; =d; e=\xff'),
            st.lists(
                st.sampled_from([b"a=1", b"b", b"=", b";", b'"', b" ", b"c=\xff\xfe", b"a=2"]),
                max_size=8,
            ).map(b"".join),
        ),
    ),
    st.tuples(
        st.just(b"host"), st.one_of(HEADER_VALUE, st.just(b"evil.com/<x>"), st.just(b"[::1]:80"))
    ),
    st.tuples(
        st.just(b"range"),
        st.one_of(
            HEADER_VALUE,
            st.sampled_from(
                [b"bytes=0-5", b"bytes=-3", b"bytes=9999-", b"bytes=5-1", b"bytes=0-1,3-4"]
            ),
        ),
    ),
    st.tuples(
        st.just(b"accept"),
        st.sampled_from([b"text/plain", b"*/*", b"application/json", b"text/html"]),
    ),
)
HEADERS = st.lists(
    st.one_of(SPECIAL_HEADERS, st.tuples(HEADER_NAMES.map(str.encode), HEADER_VALUE)), max_size=6
)

MULTIPART = st.lists(
    st.tuples(
        st.sampled_from(
            [
                'form-data; name="a"',
                'form-data; name="f"; filename="../x\x00.txt"',
                "form-data",
                "bogus",
                'form-data; name="\xff"',
            ]
        ),
        st.binary(max_size=30),
    ),
    max_size=4,
).map(
    lambda parts: (
        b"".join(
            b"--XyZ\r\nContent-Disposition: " + d.encode("latin-1") + b"\r\n\r\n" + data + b"\r\n"
            for d, data in parts
        )
        + b"--XyZ--\r\n"
    )
)
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    ).map(lambda v: json.dumps(v).encode()),
    st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=5).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode()
    ),
    MULTIPART,
    st.just(b"x" * 5000),
)
JSON_BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
).map(lambda v: json.dumps(v).encode())
FORM_BODIES = st.one_of(
    st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=5).map(
        lambda pairs: urlencode(pairs).encode()
    ),
    st.lists(QUERY_PARTS, max_size=5).map(lambda parts: "&".join(parts).encode()),
)
# Bodies with the Content-Type they claim and the route that parses them (or anything random).
TYPED_BODIES = st.one_of(
    st.tuples(
        st.just("/form"),
        MULTIPART,
        st.sampled_from(
            [b"multipart/form-data; boundary=XyZ", b'multipart/form-data; boundary="XyZ"']
        ),
    ),
    st.tuples(
        st.just("/json"),
        JSON_BODIES,
        st.sampled_from([b"application/json", b"application/x+json", b""]),
    ),
    st.tuples(st.just("/form"), FORM_BODIES, st.just(b"application/x-www-form-urlencoded")),
    st.tuples(st.sampled_from(["/json", "/text", "/form", "/upload"]), BODIES, CONTENT_TYPES),
)
# How the body is framed: an honest Content-Length, none, a wrong one, or a broken one.
LENGTHS = st.sampled_from(["exact", "exact", "none", "short", "long", "garbage", "twice"])


def build(
    draw_method: str,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    framing: str,
):
    target = (path + ("?" + query if query else "")).encode("latin-1")
    headers = [h for h in headers if h[0] not in (b"content-length",)]
    if framing == "exact" and body:
        headers.append((b"content-length", str(len(body)).encode()))
    elif framing == "short" and body:
        headers.append((b"content-length", str(len(body) // 2).encode()))
    elif framing == "long":
        headers.append((b"content-length", str(len(body) + 10).encode()))
    elif framing == "garbage":
        headers.append((b"content-length", b"12abc"))
    elif framing == "twice":
        headers += [(b"content-length", str(len(body)).encode()), (b"content-length", b"1")]
    return draw_method, target, headers, body


def _wsgi_acceptable(headers: list[tuple[bytes, bytes]]) -> bool:
    # wsgiref.validate asserts CONTENT_LENGTH is a number: a server would have
    # refused anything else before the app (the ASGI side still gets it).
    values = [v for k, v in headers if k == b"content-length"]
    return len(values) <= 1 and all(v.isdigit() for v in values)


def run_one(interface: str, app: App, method: str, target: bytes, headers, body: bytes) -> None:
    call = CALLERS[interface]
    if interface == "wsgi":
        short = any(
            k == b"content-length" and v.isdigit() and int(v) < len(body) for k, v in headers
        )
        if short:
            body = body[: min(int(v) for k, v in headers if k == b"content-length")]
        has_length = any(k == b"content-length" for k, _ in headers)
        options = {"input_terminated": not has_length, "validate": _wsgi_acceptable(headers)}
    else:
        options = {}
    with warnings.catch_warnings():
        # wsgiref.validate warns about methods outside its short list; any token
        # is a valid HTTP method and servers pass it on.
        warnings.filterwarnings("ignore", "Unknown REQUEST_METHOD", WSGIWarning)
        result = call(app, method, target, headers, body=body, **options)
    assert result.stream_error is None, (
        f"{method} {target!r}: stream raised {result.stream_error!r}"
    )
    assert result.status < 500, (
        f"{method} {target!r} {headers!r} -> {result.status}: {result.body[:300]!r}"
    )
    check_framing(result, method)
    if result.header("content-type") == "application/problem+json" and method != "HEAD":
        problem = json.loads(result.body)
        assert problem["status"] == result.status
    after = call(app, "GET", b"/users/me")
    assert (after.status, after.body) == (200, b"me")


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_fuzz_requests(interface, app_files):
    app = fuzz_app(app_files)

    @FUZZ_SETTINGS
    @given(METHODS, PATHS, QUERIES, HEADERS, BODIES, LENGTHS)
    def check(method, path, query, headers, body, framing):
        run_one(interface, app, *build(method, path, query, headers, body, framing))

    check()


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_fuzz_routed_requests(interface, app_files):
    """Existing routes with hostile headers, bodies and framing: every parser gets fuzzed."""
    app = fuzz_app(app_files)

    @FUZZ_SETTINGS
    @given(
        st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
        VALID_PATHS,
        QUERIES,
        st.lists(SPECIAL_HEADERS, max_size=4),
        BODIES,
        LENGTHS,
    )
    def check(method, path, query, headers, body, framing):
        run_one(interface, app, *build(method, path, query, headers, body, framing))

    check()


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_fuzz_body_parsers(interface, app_files):
    """JSON, text, form and multipart bodies, mostly shaped like their Content-Type."""
    app = fuzz_app(app_files)

    @FUZZ_SETTINGS
    @given(TYPED_BODIES, LENGTHS)
    def check(typed_body, framing):
        path, body, content_type = typed_body
        run_one(
            interface,
            app,
            *build("POST", path, "", [(b"content-type", content_type)], body, framing),
        )

    check()
