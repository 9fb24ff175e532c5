"""Matching: static before dynamic, backtracking, many routes, decoded-path segments."""

from __future__ import annotations

import pytest
from helpers import assert_problem, recording_app

from twinframe import App, matching
from twinframe.matching import Matcher

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
        paths += [
            f"/item{i}-{i * 3}",
            f"/item{i}-x",
            f"/item{i}",
            f"/item{i}-{i}.png",
            f"/item{i}-5/sub",
            f"/item{i}-a/4",
            f"/item{i}-",
            f"/i{i}",
            f"/item{i}-{i}/",
        ]
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


def test_a_mixed_segment_whose_field_may_be_empty_matches_its_bare_prefix(make_client):
    # A custom converter may match the empty string: the bare prefix then matches.
    app = App()
    app.add_converter("maybe", str, pattern=r"[a-z]*")

    @app.get("/p/ab{rest:maybe}")
    def prefixed(req, rest):
        return {"rest": rest}

    @app.get("/p/xy{n:d}")
    def other(req, n):
        return {"n": n}

    # Enough siblings that the node looks its children up by literal prefix
    # (matching._INDEX_FROM): the bare prefix "ab" must still find its child.
    for i in range(matching._INDEX_FROM):
        app.add_route(f"/p/z{i}-{{n:d}}", lambda req, n: {"n": n}, name=f"sibling{i}")

    client = make_client(app)
    assert client.get("/p/ab").json() == {"rest": ""}
    assert client.get("/p/abc").json() == {"rest": "c"}
    assert client.get("/p/xy3").json() == {"n": 3}
    assert client.get("/p/a").status_code == 404


# -- the 404 shortcut: a first segment no route has ---------------------------------------

_ROUTE_SETS = {
    "static": ["/", "/a", "/a/b", "/a/b/", "/c/"],
    "dynamic-below": ["/a/{x}", "/b/{x:d}/c", "/users/{id:d}"],
    "dynamic-root": ["/{x}", "/a/b"],
    "catch-all-root": ["/{rest:path}"],
    "mixed-root": ["/item{n:d}", "/a"],
}
_PATHS = [
    "/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/b", "/b/", "/b/1/c", "/b/1/c/", "/c",
    "/c/", "/zz", "/zz/", "/zz/a", "//", "//a", "/users/1", "/users", "/item3", "/item3/",
    "*", "",
]  # fmt: skip


@pytest.mark.parametrize("routes", list(_ROUTE_SETS))
def test_leads_nowhere_only_when_the_path_and_its_slash_twin_have_no_route(routes):
    app = App()
    for i, pattern in enumerate(_ROUTE_SETS[routes]):
        app.add_route(pattern, lambda req, **params: "x", name=f"r{i}")
        app.add_route(pattern, lambda req, **params: "x", methods=["WEBSOCKET"], name=f"w{i}")
    matcher = Matcher(app.routes)
    shortcuts = 0
    for path in _PATHS:
        if matcher.leads_nowhere(path):
            shortcuts += 1
            twin = path[:-1] if path.endswith("/") else path + "/"
            assert matcher.allowed_methods(path) == set(), path
            assert matcher.allowed_methods(twin) == set(), twin
    # The shortcut is taken where the root has only static children.
    assert (shortcuts > 0) == (routes in ("static", "dynamic-below"))


def test_unknown_first_segments_still_redirect_or_refuse_as_before(make_client):
    app = App()
    app.add_route("/a/", lambda req: "a", name="a")
    app.add_route("/b", lambda req: "b", methods=["POST"], name="b")
    client = make_client(app)
    assert client.get("/a", follow_redirects=False).status_code == 308
    assert client.get("/b").status_code == 405
    assert client.get("/zz").status_code == 404
    assert client.get("/zz/").status_code == 404
