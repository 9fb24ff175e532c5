"""Routing: patterns, converters, priorities, 404/405/HEAD/OPTIONS, slashes, include, url_for."""

from __future__ import annotations

import json
from urllib.parse import quote

import parse
import pytest
from helpers import assert_problem, recording_app
from hypothesis import given, settings
from hypothesis import strategies as st
from raw_drivers import CALLERS

from twinframe import App, Response, Router, matching, patterns
from twinframe.routing import Matcher

# -- patterns and converters ------------------------------------------------------------


def test_plain_field_is_one_segment_and_never_a_slash(make_client):
    app = App()

    @app.get("/users/{name}")
    def user(req, name):
        return {"name": name, "type": type(name).__name__}

    client = make_client(app)
    assert client.get("/users/alice").json() == {"name": "alice", "type": "str"}
    assert client.get("/users/al%20ice").json()["name"] == "al ice"
    assert client.get("/users/caf%C3%A9").json()["name"] == "café"
    assert client.get("/users/alice/extra").status_code == 404
    assert client.get("/users/").status_code in (404, 308)  # empty segment never matches a field
    assert client.get("/users/").status_code != 200


def test_int_converter(make_client):
    app = App()

    @app.get("/posts/{id:d}")
    def post(req, id):
        return {"id": id, "type": type(id).__name__}

    client = make_client(app)
    assert client.get("/posts/42").json() == {"id": 42, "type": "int"}
    assert client.get("/posts/-3").json() == {"id": -3, "type": "int"}
    # Only plain decimal digits: one resource, one URL.
    for bad in ["abc", "4.2", "0x1f", "0b11", "+4", "%205", "1_000", "12a"]:
        assert client.get(f"/posts/{bad}").status_code == 404, bad
    # A huge number is still a number, not a crash.
    assert client.get("/posts/" + "9" * 50).json()["id"] == int("9" * 50)


def test_float_converter(make_client):
    app = App()

    @app.get("/price/{amount:f}")
    def price(req, amount):
        return {"amount": amount, "type": type(amount).__name__}

    client = make_client(app)
    assert client.get("/price/1.5").json() == {"amount": 1.5, "type": "float"}
    assert client.get("/price/-0.25").json() == {"amount": -0.25, "type": "float"}
    assert client.get("/price/3").json() == {"amount": 3.0, "type": "float"}
    for bad in ["nan", "inf", "1e3", "abc", "1.2.3"]:
        assert client.get(f"/price/{bad}").status_code == 404, bad


def test_word_converter(make_client):
    app = App()

    @app.get("/tags/{tag:w}")
    def tag(req, tag):
        return tag

    client = make_client(app)
    assert client.get("/tags/python_3").text == "python_3"
    assert client.get("/tags/not-a-word").status_code == 404


# Texts close to what each type accepts: digits, signs, dots, exponents, spaces,
# underscores, non-ASCII digits and letters, newlines (parse anchors with \Z).
_NUMBERISH = st.text(alphabet="0123456789-+._ eExabnifINF\n\u0663\u00b2\u00e9", max_size=12)
_SEGMENT_TEXT = st.one_of(
    _NUMBERISH,
    st.text(max_size=12),
    st.from_regex(r"-?[0-9\u0663]{1,30}(\.[0-9]{0,3})?", fullmatch=True),
)


def _through_parse(spec: str) -> patterns.SegmentMatcher:
    """The general matcher (parse's compiled format) for a segment ``{x:<spec>}``."""
    pieces = list(patterns._formatter.parse("{x:" + spec + "}"))
    return patterns._parse_matcher(pieces, {}, "/{x:" + spec + "}", "{x:" + spec + "}")


@pytest.mark.parametrize("spec", ["d", "f", "w"])
@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(text=_SEGMENT_TEXT)
def test_whole_segment_fast_path_answers_like_parse(spec, text):
    # A segment that is one d/f/w field skips parse at match time: same answers, same types.
    (segment,) = patterns.compile_pattern("/{x:" + spec + "}")
    fast, slow = segment.matcher(text), _through_parse(spec)(text)
    assert fast == slow
    if fast is not None and slow is not None:
        assert type(fast["x"]) is type(slow["x"])


@pytest.mark.parametrize(
    "text",
    ["0", "-0", "007", "-12", "+4", " 5", "5 ", "5\n", "1_000", "0x1f", "\u0663", "\u00b2",
     "9" * 10_000, "1.5", ".5", "5.", "-.5", "1e3", "nan", "inf", "", "-", "abc", "a_b",
     "caf\u00e9"],
    ids=lambda text: repr(text[:12]),
)
@pytest.mark.parametrize("spec", ["d", "f", "w"])
def test_whole_segment_fast_path_edge_cases(spec, text):
    (segment,) = patterns.compile_pattern("/{x:" + spec + "}")
    assert segment.matcher(text) == _through_parse(spec)(text), (spec, text)


def test_a_converter_named_like_a_builtin_type_replaces_the_fast_path(make_client):
    app = App()
    app.add_converter("d", lambda text: f"hex {int(text, 16)}", pattern=r"[0-9a-f]+")

    @app.get("/n/{n:d}")
    def n(req, n):
        return n

    assert make_client(app).get("/n/ff").text == "hex 255"


def test_path_converter_takes_the_rest_with_slashes(make_client):
    app = App()

    @app.get("/static/{rest:path}")
    def static(req, rest):
        return rest

    @app.get("/static/special")
    def special(req):
        return "special"

    client = make_client(app)
    assert client.get("/static/css/site.css").text == "css/site.css"
    assert client.get("/static/a").text == "a"
    assert client.get("/static/special").text == "special"
    assert client.get("/static/special/more").text == "special/more"
    assert client.get("/static/").status_code != 200  # the rest must not be empty


def test_path_converter_must_be_last_and_whole():
    app = App()
    with pytest.raises(ValueError, match="last segment"):
        app.add_route("/a/{rest:path}/b", lambda req, rest: "")
    with pytest.raises(ValueError, match="whole segment"):
        app.add_route("/a/x{rest:path}", lambda req, rest: "")


def test_mixed_segment(make_client):
    app = App()

    @app.get("/files/{name}.{ext}")
    def file(req, name, ext):
        return {"name": name, "ext": ext}

    @app.get("/v{major:d}.{minor:d}/info")
    def version(req, major, minor):
        return [major, minor]

    client = make_client(app)
    assert client.get("/files/report.pdf").json() == {"name": "report", "ext": "pdf"}
    # Fields of a mixed segment match as little as possible, left to right.
    assert client.get("/files/a.tar.gz").json() == {"name": "a", "ext": "tar.gz"}
    assert client.get("/files/noext").status_code == 404
    assert client.get("/v2.10/info").json() == [2, 10]
    assert client.get("/v2.x/info").status_code == 404


def test_custom_converter_with_add_converter(make_client):
    app = App()
    app.add_converter("upper", str.upper, pattern=r"[a-z]+")

    def slug_list(text):
        return text.split(",")

    app.add_converter("csv", parse.with_pattern(r"[a-z0-9,]+")(slug_list))

    @app.get("/shout/{word:upper}")
    def shout(req, word):
        return word

    @app.get("/many/{items:csv}")
    def many(req, items):
        return items

    client = make_client(app)
    assert client.get("/shout/hello").text == "HELLO"
    assert client.get("/shout/Hello").status_code == 404
    assert client.get("/many/a,b,c1").json() == ["a", "b", "c1"]
    assert client.get("/many/a;b").status_code == 404


def test_converter_raising_value_error_means_no_match(make_client):
    app = App()

    @parse.with_pattern(r"\d{4}-\d{2}-\d{2}")
    def iso_date(text):
        import datetime

        return datetime.date.fromisoformat(text)

    app.add_converter("date", iso_date)

    @app.get("/day/{day:date}")
    def day(req, day):
        return day.isoformat()

    client = make_client(app)
    assert client.get("/day/2024-02-29").text == "2024-02-29"
    assert client.get("/day/2023-02-30").status_code == 404


def test_converters_passed_to_app_and_overriding_builtin(make_client):
    app = App(converters={"hex": parse.with_pattern(r"[0-9a-f]+")(lambda t: int(t, 16))})

    @app.get("/color/{value:hex}")
    def color(req, value):
        return {"value": value}

    client = make_client(app)
    assert client.get("/color/ff").json() == {"value": 255}


def test_unknown_converter_is_an_error_at_registration():
    app = App()
    with pytest.raises(ValueError, match=r"unknown converter 'nope'.*add_converter"):
        app.add_route("/x/{a:nope}", lambda req, a: "")
    with pytest.raises(ValueError, match="needs a regex"):
        app.add_converter("bad", str.upper)


@pytest.mark.parametrize(
    "pattern",
    ["no-slash", "/x/{a b}", "/x/{1a}", "/x/{a}{a}", "/x/{a!r}", "/x/{", "/x/}"],
)
def test_bad_patterns_are_errors_at_registration(pattern):
    app = App()
    with pytest.raises(ValueError):
        app.add_route(pattern, lambda req, **kw: "")


# -- priorities and backtracking ----------------------------------------------------------


@pytest.mark.parametrize("static_first", [True, False])
def test_static_beats_dynamic_regardless_of_order(make_client, static_first):
    app = App()

    def me(req):
        return "me"

    def by_id(req, id):
        return f"user {id}"

    if static_first:
        app.add_route("/users/me", me)
        app.add_route("/users/{id}", by_id)
    else:
        app.add_route("/users/{id}", by_id)
        app.add_route("/users/me", me)

    client = make_client(app)
    assert client.get("/users/me").text == "me"
    assert client.get("/users/42").text == "user 42"
    assert client.get("/users/mee").text == "user mee"


@pytest.mark.parametrize("typed_first", [True, False])
def test_static_segment_beats_dynamic_deeper_in_the_path(make_client, typed_first):
    app = App()

    def settings(req):
        return "settings"

    def posts(req, id):
        return f"posts of {id}"

    routes = [("/users/{id}/posts", posts), ("/users/me/settings", settings)]
    for pattern, handler in routes if typed_first else reversed(routes):
        app.add_route(pattern, handler)

    client = make_client(app)
    assert client.get("/users/me/settings").text == "settings"
    # 'me' matches the static branch first, which has no 'posts': backtrack to {id}.
    assert client.get("/users/me/posts").text == "posts of me"
    assert client.get("/users/7/posts").text == "posts of 7"
    assert client.get("/users/7/settings").status_code == 404


def test_backtracking_over_several_levels(make_client):
    app = App()

    @app.get("/a/{x}/c/{y:d}")
    def first(req, x, y):
        return {"route": "first", "x": x, "y": y}

    @app.get("/a/b/{z}/d")
    def second(req, z):
        return {"route": "second", "z": z}

    @app.get("/a/b/c/{w}")
    def third(req, w):
        return {"route": "third", "w": w}

    client = make_client(app)
    # Depth first, static before dynamic at every level.
    assert client.get("/a/b/c/d").json() == {"route": "third", "w": "d"}
    assert client.get("/a/b/x/d").json() == {"route": "second", "z": "x"}
    assert client.get("/a/q/c/5").json() == {"route": "first", "x": "q", "y": 5}
    # "/a/b/x/5": second needs 'd' at the end, third needs 'c': back up to {x}.
    assert client.get("/a/b/c/5").json() == {"route": "third", "w": "5"}
    assert client.get("/a/b/x/e").status_code == 404


def test_typed_and_untyped_fields_side_by_side(make_client):
    app = App()

    @app.get("/items/{id:d}")
    def by_id(req, id):
        return {"id": id}

    @app.get("/items/{slug}", name="by_slug")
    def by_slug(req, slug):
        return {"slug": slug}

    client = make_client(app)
    assert client.get("/items/12").json() == {"id": 12}
    assert client.get("/items/twelve").json() == {"slug": "twelve"}


def test_same_path_different_methods_with_different_field_names(make_client):
    app = App()

    @app.get("/things/{id}")
    def read(req, id):
        return f"read {id}"

    @app.delete("/things/{key}")
    def remove(req, key):
        return f"delete {key}"

    client = make_client(app)
    assert client.get("/things/1").text == "read 1"
    assert client.delete("/things/2").text == "delete 2"
    response = client.post("/things/3")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"


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


def test_trailing_slash_never_redirects_to_another_host(make_client):
    app = App()

    @app.get("/{a}/{b}")
    def two(req, a, b):
        return "two"

    @app.get("/x/{rest:path}")
    def catch(req, rest):
        return "catch"

    @app.get("/")
    def root(req):
        return "root"

    client = make_client(app)
    # "//evil.com/x/" would become "//evil.com/x": a browser reads that as another host.
    for path in ["//evil.com/", "//evil.com", "//evil.com/x/"]:
        response = client.get(path)
        location = response.headers.get("location", "")
        assert not location.startswith("//"), (path, location)
        assert not location.startswith("/\\"), (path, location)
    response = client.get("/\\evil.com/")
    assert not response.headers.get("location", "").startswith(("//", "/\\"))


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


# -- scale ----------------------------------------------------------------------------------------


def test_thousand_routes_still_match_correctly(make_client):
    app = App()

    def make(kind, i):
        def handler(req, **params):
            return {"kind": kind, "i": i, "params": params}

        handler.__name__ = f"{kind}_{i}"
        return handler

    for i in range(250):
        app.add_route(f"/static/{i}/page", make("static", i))
        app.add_route(f"/dyn{i}/{{id:d}}", make("dyn", i))
        app.add_route(f"/mixed/{i}/{{slug}}/edit", make("mixed", i))
        app.add_route(f"/files{i}/{{rest:path}}", make("files", i))
    assert len(app.routes) == 1000

    client = make_client(app)
    for i in (0, 1, 137, 249):
        assert client.get(f"/static/{i}/page").json() == {"kind": "static", "i": i, "params": {}}
        expected = {"kind": "dyn", "i": i, "params": {"id": i * 7}}
        assert client.get(f"/dyn{i}/{i * 7}").json() == expected
        assert client.get(f"/mixed/{i}/s{i}/edit").json()["params"] == {"slug": f"s{i}"}
        assert client.get(f"/files{i}/a/b").json()["params"] == {"rest": "a/b"}
    assert client.get("/static/250/page").status_code == 404
    assert client.get("/dyn3/x").status_code == 404

    # The matcher directly, on every route.
    matcher = Matcher(app.routes)
    for i in range(250):
        route, params = matcher.match("GET", f"/dyn{i}/{i}")  # type: ignore[misc]
        assert route.name == f"dyn_{i}" and params == {"id": i}
        route, params = matcher.match("GET", f"/mixed/{i}/x/edit")  # type: ignore[misc]
        assert route.name == f"mixed_{i}"
        assert matcher.match("POST", f"/static/{i}/page") is None
        assert matcher.allowed_methods(f"/static/{i}/page") == {"GET"}


def test_many_mixed_segments_at_one_level_match_like_trying_each_in_turn():
    # Past a few dynamic children a node looks them up by their literal prefix
    # (/item7-{id} -> "item7-"); the answers must be those of trying every child
    # in registration order, as the node does without the index.
    app = App()

    def make(i):
        def handler(req, **params):
            return i

        handler.__name__ = f"h{i}"
        return handler

    sources = [f"item{i}-{{id:d}}" for i in range(1, 60)]
    sources += ["item{id:d}", "it{a}-{b}", "{name}.json", "i{x:w}", "item1-{id:d}.{ext}", "{any}"]
    sources += ["x{{lit}}{v}", "item", "item1-{id:d}/sub", "item2-{a}/{b:d}", "a{p}b{q}"]
    for i, source in enumerate(sources):
        app.add_route("/" + source, make(i), methods=("GET", "POST") if i % 3 else ("GET",))
    indexed = Matcher(app.routes)
    linear_from, matching._INDEX_FROM = matching._INDEX_FROM, 10**9
    try:
        linear = Matcher(app.routes)
    finally:
        matching._INDEX_FROM = linear_from
    assert indexed._root.by_prefix is not None and linear._root.by_prefix is None

    paths = ["/item", "/items", "/it-", "/it5-6", "/x{lit}1", "/x{lit}", "/ab", "/apbq", "/a.json"]
    for i in range(0, 70, 3):
        paths += [f"/item{i}-{i * 3}", f"/item{i}-x", f"/item{i}", f"/item{i}-{i}.png",
                  f"/item{i}-5/sub", f"/item{i}-a/4", f"/item{i}-", f"/i{i}", f"/item{i}-{i}/"]
    for path in paths:
        for method in ("GET", "POST", "HEAD", "PUT"):
            found, expected = indexed.match(method, path), linear.match(method, path)
            assert (found and (found[0].name, found[1])) == (
                expected and (expected[0].name, expected[1])
            ), (method, path)
        assert indexed.allowed_methods(path) == linear.allowed_methods(path), path
    assert indexed.match("GET", "/item7-21")[1] == {"id": 21}  # type: ignore[index]
    # Registration order still decides between children with different prefixes.
    assert indexed.match("GET", "/item1-2.txt")[1] == {"a": "em1", "b": "2.txt"}  # type: ignore[index]


def test_routes_added_after_first_request_are_served(make_client):
    app = App()

    @app.get("/one")
    def one(req):
        return "1"

    client = make_client(app)
    assert client.get("/one").text == "1"

    @app.get("/two")
    def two(req):
        return "2"

    assert client.get("/two").text == "2"


# -- hostile paths ------------------------------------------------------------------


def test_encoded_slash_separates_segments(make_client):
    # Decision: routing uses the decoded path (WSGI servers decode PATH_INFO
    # before the app sees it, so %2F can't be told apart there): %2F splits
    # segments, so "{name}" never receives a "/", and a path field gets it as "/".
    app, _ = recording_app()
    client = make_client(app)
    assert_problem(client.get("/names/a%2Fb"), 404)
    assert client.get("/rest/a%2Fb").json() == {"rest": "a/b"}


def test_huge_int_path_param_is_404_not_a_slow_parse(make_client):
    app, calls = recording_app(max_url_length=20_000)
    client = make_client(app)
    assert_problem(client.get("/items/" + "9" * 10_000), 404)
    assert client.get("/items/" + "9" * 30).json() == {"id": int("9" * 30)}
    assert calls == ["item"]
