"""Routing: registration errors, 404/405/HEAD/OPTIONS, trailing slashes, include, url_for."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from raw_drivers import CALLERS

from twinframe import App, Response, Router

# -- registration errors ----------------------------------------------------------------------


def test_duplicate_method_and_pattern_raises():
    app = App()
    app.add_route("/a/{id}", lambda req, id: "", name="one")
    with pytest.raises(ValueError, match="already registered"):
        app.add_route("/a/{id}", lambda req, id: "", name="two")
    # Same shape, different field name: still the same route.
    with pytest.raises(ValueError, match="already registered"):
        app.add_route("/a/{other}", lambda req, other: "", name="three")
    with pytest.raises(ValueError, match="already registered"):
        app.add_route("/a/{id}", lambda req, id: "", methods=["GET", "POST"], name="four")
    # Other methods, or another converter, are other routes.
    app.add_route("/a/{id}", lambda req, id: "", methods=["POST"], name="five")
    app.add_route("/a/{id:d}", lambda req, id: "", name="six")
    with pytest.raises(ValueError, match="already registered"):
        app.add_route("/a/{n:d}", lambda req, n: "", name="seven")


def test_duplicate_route_name_for_another_handler_raises():
    app = App()

    @app.get("/a")
    def page(req):
        return ""

    with pytest.raises(ValueError, match="name 'page' is already used"):
        app.add_route("/b", lambda req: "", name="page")
    # The same handler under a second pattern keeps its name.
    app.add_route("/c", page)
    assert app.url_for("page") == "/a"


def test_handler_signature_checked_at_registration():
    app = App()
    with pytest.raises(TypeError, match="must accept path parameter 'id'"):

        @app.get("/a/{id}")
        def missing(req):
            return ""

    with pytest.raises(TypeError, match="must accept path parameter 'id'"):

        @app.get("/b/{id}")
        def positional_only(req, id, /):
            return ""

    with pytest.raises(TypeError, match="first argument"):

        @app.get("/c")
        def no_request():
            return ""

    with pytest.raises(TypeError, match="'extra'"):

        @app.get("/d/{id}")
        def extra_required(req, id, extra):
            return ""

    with pytest.raises(TypeError, match="'flag'"):

        @app.get("/e")
        def keyword_required(req, *, flag):
            return ""

    with pytest.raises(TypeError, match="'id'"):

        @app.get("/f/{id}")
        def request_named_like_param(id, req=None):
            return ""

    with pytest.raises(TypeError, match="not callable"):
        app.add_route("/g", "not a function")  # type: ignore[arg-type]

    @app.get("/ok/{id}")
    def with_defaults(req, id, page=1, *args, **kwargs):
        return ""

    @app.get("/ok2/{id}")
    def kwargs_only(req, **params):
        return ""

    assert len(app.routes) == 2


def test_empty_methods_rejected():
    with pytest.raises(ValueError, match="methods"):
        App().add_route("/", lambda req: "", methods=[])


# -- 404, 405, HEAD, OPTIONS -------------------------------------------------------------------


def _crud_app() -> App:
    app = App()

    @app.get("/items")
    def list_items(req):
        return ["a"]

    @app.post("/items")
    def create_item(req):
        return ({"created": True}, 201)

    @app.get("/items/{id:d}")
    def get_item(req, id):
        return {"id": id}

    @app.put("/items/{id:d}")
    def put_item(req, id):
        return {"put": id}

    @app.route("/report", methods=["POST"])
    def report(req):
        return "ok"

    return app


def test_404(make_client):
    client = make_client(_crud_app())
    response = client.get("/nothing/here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_405_with_allow(make_client):
    client = make_client(_crud_app())
    response = client.delete("/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.json()["status"] == 405
    response = client.patch("/items/3")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
    response = client.get("/report")
    assert response.status_code == 405
    assert response.headers["allow"] == "OPTIONS, POST"  # no GET, so no HEAD either
    # A typed field that doesn't convert is "no such path", not "wrong method".
    assert client.delete("/items/abc").status_code == 404


def test_head_for_every_get_route(make_client):
    app = _crud_app()

    @app.get("/big")
    def big(req):
        return "x" * 5000

    @app.get("/stream")
    def stream(req):
        return Response.stream(iter([b"a", b"b"]), content_type="text/plain")

    client = make_client(app)
    for path, length in [("/items", len(b'["a"]')), ("/items/7", len(b'{"id":7}')), ("/big", 5000)]:
        get = client.get(path)
        head = client.head(path)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(length) == get.headers["content-length"]
        assert head.headers["content-type"] == get.headers["content-type"]
    head = client.head("/stream")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "text/plain"
    # HEAD on a path without GET: 405 like any other missing method.
    assert client.head("/report").status_code == 405


def test_explicit_head_route_wins_over_get(make_client):
    app = App()

    @app.get("/thing")
    def thing(req):
        return "body"

    @app.route("/thing", methods=["HEAD"])
    def thing_head(req):
        return Response(b"", headers={"X-Head": "yes"})

    client = make_client(app)
    assert client.head("/thing").headers["x-head"] == "yes"
    assert client.get("/thing").text == "body"


def test_automatic_options(make_client):
    client = make_client(_crud_app())
    response = client.options("/items")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.content == b""
    assert client.options("/items/5").headers["allow"] == "GET, HEAD, OPTIONS, PUT"
    assert client.options("/nothing").status_code == 404


def test_explicit_options_route_is_used(make_client):
    app = App()

    @app.route("/cors", methods=["GET", "OPTIONS"])
    def cors(req):
        if req.method == "OPTIONS":
            return Response(status=200, headers={"Access-Control-Allow-Origin": "*"})
        return "data"

    client = make_client(app)
    response = client.options("/cors")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


# -- trailing slashes ------------------------------------------------------------------------


def test_trailing_slash_redirects_308_to_the_route_form(make_client):
    app = App()

    @app.get("/about")
    def about(req):
        return "about"

    @app.get("/docs/")
    def docs(req):
        return "docs"

    @app.post("/submit")
    def submit(req):
        return "submitted"

    @app.get("/users/{id:d}")
    def user(req, id):
        return str(id)

    client = make_client(app)
    response = client.get("/about/")
    assert response.status_code == 308
    assert response.headers["location"] == "/about"
    response = client.get("/docs")
    assert response.status_code == 308
    assert response.headers["location"] == "/docs/"
    response = client.get("/users/5/")
    assert response.status_code == 308
    assert response.headers["location"] == "/users/5"
    # 308 keeps the method: a POST is redirected too.
    response = client.post("/submit/", content=b"data")
    assert response.status_code == 308
    assert response.headers["location"] == "/submit"
    # The redirect is followed to the route itself.
    assert client.get("/about/", follow_redirects=True).text == "about"
    # Not for paths that don't match a route with the slash changed.
    assert client.get("/users/x/").status_code == 404


def test_trailing_slash_redirect_keeps_the_query_string(make_client):
    app = App()

    @app.get("/search")
    def search(req):
        return {"q": req.query.getall("q"), "page": req.query.get("page")}

    client = make_client(app)
    response = client.get("/search/?q=a%20b&q=caf%C3%A9&page=2")
    assert response.status_code == 308
    assert response.headers["location"] == "/search?q=a%20b&q=caf%C3%A9&page=2"
    followed = client.get("/search/?q=a%20b&q=caf%C3%A9&page=2", follow_redirects=True)
    assert followed.json() == {"q": ["a b", "café"], "page": "2"}


def test_trailing_slash_redirect_with_raw_non_ascii_query(interface):
    app = App()

    @app.get("/search")
    def search(req):
        return {"q": req.query.get("q")}

    # Some clients send 'é' unencoded (as its UTF-8 bytes); the Location must carry
    # the same bytes, percent-encoded once.
    result = CALLERS[interface](app, "GET", b"/search/?" + "q=é&x=a b".encode())
    assert result.status == 308
    assert result.header("location") == "/search?q=%C3%A9&x=a%20b"


def test_trailing_slash_redirect_percent_encodes_the_path(make_client):
    app = App()

    @app.get("/wiki/{title}")
    def wiki(req, title):
        return title

    client = make_client(app)
    response = client.get("/wiki/caf%C3%A9%20au%20lait/")
    assert response.status_code == 308
    assert response.headers["location"] == "/wiki/caf%C3%A9%20au%20lait"
    assert client.get(response.headers["location"]).text == "café au lait"


def test_trailing_slash_never_redirects_to_another_host(interface):
    # Raw targets through the raw drivers: httpx would normalise "//evil.com/"
    # before the app saw it. The routes below match an empty first segment, so
    # without the guard "//evil.com/" would get "Location: //evil.com", which a
    # browser reads as another host.
    app = App()
    app.add_converter("maybe", str, pattern=r"[a-z.]*")

    @app.get("/{a:maybe}/{b}")
    def two(req, a, b):
        return f"two {a!r} {b!r}"

    @app.get("/{a:maybe}/{b}/x/")
    def three(req, a, b):
        return "three"

    @app.get("/{b}")
    def one(req, b):
        return "one"

    call = CALLERS[interface]
    # The routes do answer those paths (so a redirect would be offered)...
    assert call(app, target=b"//evil.com").body == b"two '' 'evil.com'"
    assert call(app, target=b"//evil.com/x/").body == b"three"
    # ...and their trailing-slash twins are never redirected to "//host".
    for target in [b"//evil.com/", b"//evil.com/x"]:
        result = call(app, target=target)
        assert result.status == 404, (target, result.status, result.header("location"))
        assert result.header("location") is None
    # A backslash is percent-encoded in the Location, never sent as "/\host".
    result = call(app, target=b"/\\evil.com/")
    assert result.status == 308
    assert result.header("location") == "/%5Cevil.com"
    # An ordinary redirect still happens on the same app.
    assert call(app, target=b"/a/b/").header("location") == "/a/b"


def test_websocket_only_path_gets_426_not_redirect(make_client):
    app = App()

    @app.websocket("/ws")
    async def ws(ws):
        pass

    client = make_client(app)
    assert client.get("/ws").status_code == 426
    assert client.get("/ws/").status_code == 404


# -- Router and include ----------------------------------------------------------------------


def test_router_include_with_prefix(make_client):
    api = Router()

    @api.get("/items/{id:d}", name="api_item")
    def item(req, id):
        return {"id": id, "url": req.url_for("api_item", id=id)}

    @api.post("/items")
    async def create(req):
        return ({"ok": True}, 201)

    @api.get("/")
    def api_root(req):
        return "api root"

    app = App()

    @app.get("/items/{id:d}", name="site_item")
    def site_item(req, id):
        return {"site": id}

    app.include(api, prefix="/api")
    client = make_client(app)
    assert client.get("/api/items/3").json() == {"id": 3, "url": "/api/items/3"}
    assert client.post("/api/items").status_code == 201
    assert client.get("/items/3").json() == {"site": 3}
    assert client.get("/api/").text == "api root"
    assert client.get("/api").status_code == 308
    assert client.get("/api").headers["location"] == "/api/"
    assert app.url_for("api_item", id=9) == "/api/items/9"
    assert app.url_for("site_item", id=9) == "/items/9"
    assert app.url_for("create") == "/api/items"
    assert client.delete("/api/items").headers["allow"] == "OPTIONS, POST"


def test_include_without_prefix_and_nested_routers(make_client):
    inner = Router()

    @inner.get("/leaf/{x}")
    def leaf(req, x):
        return x

    outer = Router()
    outer.include(inner, prefix="/inner")

    @outer.get("/here")
    def here(req):
        return "here"

    app = App()
    app.include(outer, prefix="/v1")
    app.include(Router())
    client = make_client(app)
    assert client.get("/v1/inner/leaf/z").text == "z"
    assert client.get("/v1/here").text == "here"
    assert app.url_for("leaf", x="a b") == "/v1/inner/leaf/a%20b"


def test_include_conflicts_and_bad_prefixes():
    api = Router()
    api.add_route("/x", lambda req: "", name="x")
    app = App()
    app.add_route("/api/x", lambda req: "", name="other")
    with pytest.raises(ValueError, match="already registered"):
        app.include(api, prefix="/api")
    for prefix in ["api", "/api/"]:
        with pytest.raises(ValueError, match="prefix"):
            App().include(api, prefix=prefix)


def test_included_router_keeps_its_own_converters(make_client):
    api = Router()
    api.add_converter("code", str.lower, pattern=r"[A-Z]{3}")

    @api.get("/currency/{c:code}")
    def currency(req, c):
        return c

    app = App()
    # The app's converter of the same name means something else: the router's wins for its routes.
    app.add_converter("code", int, pattern=r"[0-9]{3}")

    @app.get("/status/{c:code}")
    def status(req, c):
        return {"c": c}

    app.include(api, prefix="/api")
    client = make_client(app)
    assert client.get("/api/currency/EUR").text == "eur"
    assert client.get("/api/currency/123").status_code == 404
    assert client.get("/status/200").json() == {"c": 200}


# -- url_for -----------------------------------------------------------------------------------


def _url_app() -> App:
    app = App()

    @app.get("/posts/{id:d}", name="post")
    def post(req, id):
        return ""

    @app.get("/people/{name}")
    def person(req, name):
        return ""

    @app.get("/files/{rest:path}")
    def files(req, rest):
        return ""

    @app.get("/docs/{page}.{ext}")
    def doc(req, page, ext):
        return ""

    @app.get("/")
    def index(req):
        return ""

    return app


def test_url_for_builds_percent_encoded_paths():
    app = _url_app()
    assert app.url_for("post", id=5) == "/posts/5"
    assert app.url_for("index") == "/"
    # `name` is positional-only, so a path parameter may be called `name`.
    assert app.url_for("person", name="Zoë Smith") == "/people/Zo%C3%AB%20Smith"
    # A single-segment value never produces a '/'; a path value keeps its slashes.
    assert app.url_for("person", name="a/b?c#d") == "/people/a%2Fb%3Fc%23d"
    assert app.url_for("files", rest="css/a b.css") == "/files/css/a%20b.css"
    assert app.url_for("doc", page="intro", ext="html") == "/docs/intro.html"


def test_url_for_extra_params_become_the_query_string():
    app = _url_app()
    assert app.url_for("post", id=1, page=2) == "/posts/1?page=2"
    assert app.url_for("post", id=1, tag=["a", "b c"]) == "/posts/1?tag=a&tag=b+c"


def test_url_for_errors():
    app = _url_app()
    with pytest.raises(LookupError, match="no route named 'nope'"):
        app.url_for("nope")
    with pytest.raises(ValueError, match=r"missing path parameter.*id"):
        app.url_for("post")
    with pytest.raises(ValueError, match=r"missing path parameter.*ext"):
        app.url_for("doc", page="x")


def test_url_for_round_trips_through_the_router(make_client):
    app = App()

    @app.get("/people/{name}/{rest:path}", name="person_file")
    def person_file(req, name, rest):
        return {"name": name, "rest": rest}

    client = make_client(app)
    url = app.url_for("person_file", name="Zoë & co", rest="a b/c?d.txt")
    assert client.get(url).json() == {"name": "Zoë & co", "rest": "a b/c?d.txt"}


def test_req_url_for_in_handler(make_client):
    app = _url_app()

    @app.get("/where")
    def where(req):
        return req.url_for("post", id=3)

    assert make_client(app).get("/where").text == "/posts/3"


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
@pytest.mark.parametrize("root_path", ["/mount", "/my app/v1"])
def test_req_url_for_includes_the_mount_prefix_and_app_url_for_does_not(interface, root_path):
    # Served under a prefix (WSGI SCRIPT_NAME, ASGI root_path), a link built in a
    # request must carry the prefix to reach the app again; app.url_for stays app-relative.
    app = _url_app()

    @app.get("/where")
    def where(req):
        return {"req": req.url_for("post", id=3, q="a b"), "app": app.url_for("post", id=3)}

    call = CALLERS[interface]
    prefix = quote(root_path)
    result = call(app, "GET", f"{prefix}/where".encode(), root_path=root_path)
    assert result.status == 200
    links = json.loads(result.body)
    assert links == {"req": f"{prefix}/posts/3?q=a+b", "app": "/posts/3"}
    # The link leads back into the app (to the post route: anything else is a 404).
    assert call(app, "GET", links["req"].encode(), root_path=root_path).status == 200


# -- found by mutation testing (CONTRIBUTING.md): the method helpers' arguments -----------


@pytest.mark.parametrize("on", ["app", "router"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_each_method_helper_registers_its_method_name_and_stream(make_client, on, method):
    # max_body_size binds read bodies only: a 12-byte body is refused on the plain
    # route and reaches the streamed one, so the helper passed stream=True on.
    app = App(max_body_size=8)
    router = Router() if on == "router" else app
    helper = getattr(router, method.lower())

    @helper("/plain/{id:d}", name=f"plain-{method}")
    def plain(req, id):
        return {"method": req.method, "id": id, "body": req.body.decode()}

    @helper("/streamed", name=f"streamed-{method}", stream=True)
    def streamed(req):
        return {"streamed": b"".join(req.stream()).decode()}

    if on == "router":
        app.include(router, prefix="/r")
    prefix = "/r" if on == "router" else ""
    assert app.url_for(f"plain-{method}", id=7) == f"{prefix}/plain/7"
    assert app.url_for(f"streamed-{method}") == f"{prefix}/streamed"
    client = make_client(app)
    content = b"" if method == "GET" else b"data"
    response = client.request(method, f"{prefix}/plain/7", content=content)
    assert response.json() == {"method": method, "id": 7, "body": content.decode()}
    other = "PUT" if method != "PUT" else "POST"
    assert client.request(other, f"{prefix}/plain/7").status_code == 405
    if method != "GET":
        response = client.request(method, f"{prefix}/streamed", content=b"chunked data")
        assert response.json() == {"streamed": "chunked data"}
        too_big = client.request(method, f"{prefix}/plain/7", content=b"chunked data")
        assert too_big.status_code == 413


def test_websocket_helper_names_the_route_and_a_sync_handler_in_the_error():
    router = Router()

    # A name other than the function's: the default name would hide a lost name=.
    @router.websocket("/feed/{id:d}", name="live-feed")
    async def feed(ws, id):
        await ws.close()

    async def board(ws):
        await ws.close()

    router.add_websocket_route("/board", board, name="scores")
    assert router.url_for("live-feed", id=2) == "/feed/2"
    assert router.url_for("scores") == "/board"
    for unnamed in ("feed", "board"):
        with pytest.raises(LookupError):
            router.url_for(unnamed)
    with pytest.raises(TypeError, match=r"handler .*sync_feed\(\) must be 'async def'"):

        @router.websocket("/sync")
        def sync_feed(ws):
            pass

    # A callable object has no __qualname__: the error names it by its repr.
    class SyncBoard:
        def __call__(self, ws):
            pass

        def __repr__(self):
            return "<SyncBoard>"

    with pytest.raises(TypeError, match=r"handler <SyncBoard>\(\) must be 'async def'"):
        router.add_websocket_route("/sync-board", SyncBoard())


def test_url_for_names_every_missing_parameter():
    app = App()

    @app.get("/{a}/{b}/{c}", name="three")
    def three(req, a, b, c):
        return "three"

    with pytest.raises(
        ValueError, match=r"missing path parameter\(s\) a, c for '/\{a\}/\{b\}/\{c\}'"
    ):
        app.url_for("three", b=1)
