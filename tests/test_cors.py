"""CORS: preflights, actual requests, origins and patterns, credentials; on both entrypoints."""

from __future__ import annotations

import pytest

from twinframe import App
from twinframe.middleware import CORS

SITE = "https://app.example.com"


def cors_app(**options) -> tuple[App, list[str]]:
    options.setdefault("allow_origins", [SITE])
    app = App(middleware=[CORS(**options)])
    calls: list[str] = []

    @app.route("/items", methods=["GET", "POST", "DELETE"])
    def items(req):
        calls.append(req.method)
        return {"items": []}

    @app.get("/boom")
    def boom(req):
        raise RuntimeError("failed")

    return app, calls


def preflight(client, origin=SITE, method="DELETE", headers=None, path="/items"):
    request_headers = {"origin": origin, "access-control-request-method": method}
    if headers:
        request_headers["access-control-request-headers"] = headers
    return client.options(path, headers=request_headers)


def test_preflight_is_answered_without_the_handler(make_client):
    app, calls = cors_app(max_age=300)
    response = preflight(make_client(app), headers="Content-Type, Authorization")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == (
        "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    )
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"
    assert response.headers["access-control-max-age"] == "300"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers
    assert calls == []


def test_preflight_for_a_path_with_no_route_is_answered_too(make_client):
    app, _ = cors_app()
    assert preflight(make_client(app), path="/nowhere").status_code == 204


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        ({"origin": "https://evil.example"}, "origin 'https://evil.example' is not allowed"),
        ({"method": "PURGE"}, "method 'PURGE' is not allowed"),
        ({"headers": "x-secret"}, "header 'x-secret' is not allowed"),
    ],
)
def test_a_refused_preflight_is_a_400_without_cors_headers(make_client, kwargs, detail):
    app, calls = cors_app()
    response = preflight(make_client(app), **kwargs)
    assert response.status_code == 400
    assert response.json()["detail"] == f"CORS preflight refused: {detail}"
    assert not [h for h in response.headers if h.startswith("access-control-")]
    assert calls == []


def test_safelisted_headers_need_not_be_listed(make_client):
    app, _ = cors_app(allow_headers=[])
    response = preflight(make_client(app), headers="accept, content-language")
    assert response.status_code == 204
    assert "access-control-allow-headers" not in response.headers


def test_wildcard_methods_and_headers_echo_what_was_asked(make_client):
    app, _ = cors_app(allow_methods=["*"], allow_headers=["*"])
    response = preflight(make_client(app), method="PURGE", headers="X-One, x-two")
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "PURGE"
    assert response.headers["access-control-allow-headers"] == "x-one, x-two"


def test_an_allowed_origin_gets_the_header_on_actual_requests(make_client):
    app, calls = cors_app(expose_headers=["X-Total", "X-Page"])
    client = make_client(app)
    response = client.get("/items", headers={"origin": SITE})
    assert response.json() == {"items": []}
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-expose-headers"] == "X-Total, X-Page"
    assert response.headers["vary"] == "Origin"
    # A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
    assert client.options("/items", headers={"origin": SITE}).status_code == 204
    assert calls == ["GET"]


def test_a_disallowed_origin_gets_no_cors_headers(make_client):
    app, calls = cors_app()
    response = make_client(app).post("/items", headers={"origin": "https://evil.example"})
    assert response.status_code == 200  # the server answers; the browser hides it from the page
    assert not [h for h in response.headers if h.startswith("access-control-")]
    assert response.headers["vary"] == "Origin"
    assert calls == ["POST"]


def test_requests_without_origin_get_vary_only(make_client):
    app, _ = cors_app()
    response = make_client(app).get("/items")
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in response.headers


def test_error_responses_carry_the_headers(make_client):
    app, _ = cors_app()
    client = make_client(app)
    for path, status in (("/boom", 500), ("/missing", 404)):
        response = client.get(path, headers={"origin": SITE})
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == SITE
    assert (
        client.put("/items", headers={"origin": SITE}).headers["access-control-allow-origin"]
        == SITE
    )  # 405


def test_any_origin_is_a_star_without_credentials(make_client):
    app, _ = cors_app(allow_origins=["*"])
    client = make_client(app)
    response = client.get("/items", headers={"origin": "https://anyone.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "vary" not in response.headers  # the same answer for every origin
    assert (
        preflight(client, origin="https://x.example").headers["access-control-allow-origin"] == "*"
    )


@pytest.mark.parametrize("origins", [[SITE], ["*"]])
def test_with_credentials_the_origin_is_echoed_never_star(make_client, origins):
    app, _ = cors_app(allow_origins=origins, allow_credentials=True)
    client = make_client(app)
    for response in (
        client.get("/items", headers={"origin": SITE}),
        preflight(client),
    ):
        assert response.headers["access-control-allow-origin"] == SITE
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://a.example.com", True),
        ("https://a.b.example.com", True),
        ("https://A.Example.com", True),
        ("https://example.com", False),  # the pattern is for subdomains
        ("http://a.example.com", False),  # another scheme
        ("https://a.example.com:8443", False),  # another port
        ("https://evilexample.com", False),
        ("https://a.example.com.evil.net", False),
        ("https://api.other.org:8443", True),
        ("null", False),
    ],
)
def test_origin_patterns(make_client, origin, allowed):
    app, _ = cors_app(allow_origins=["https://*.example.com", "https://api.other.org:8443"])
    response = make_client(app).get("/items", headers={"origin": origin})
    assert ("access-control-allow-origin" in response.headers) is allowed


def test_an_existing_vary_header_is_extended(make_client):
    app = App(middleware=[CORS(allow_origins=[SITE])])

    @app.get("/")
    def handler(req):
        return "hi", 200, {"Vary": "Accept-Language"}

    response = make_client(app).get("/", headers={"origin": SITE})
    assert response.headers["vary"] == "Accept-Language, Origin"


@pytest.mark.parametrize(
    "origin", ["app.example.com", "https://app.example.com/path", "ftp://x.org", "https://*"]
)
def test_a_malformed_origin_fails_at_startup(origin):
    with pytest.raises(ValueError, match="is not scheme://host"):
        CORS(allow_origins=[origin])


def test_origins_must_be_a_list():
    with pytest.raises(TypeError, match="list of origins"):
        CORS(allow_origins=SITE)
