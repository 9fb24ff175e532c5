"""Route patterns: fields, converters (built-in and custom), the fast path, bad patterns."""

from __future__ import annotations

import parse
import pytest
from helpers import assert_problem, recording_app
from hypothesis import given, settings
from hypothesis import strategies as st

from twinframe import App, patterns

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
    # Exactly the signed 64-bit range (what a database's id column holds); beyond
    # it the route doesn't match: a 404, never a crash in the handler's driver.
    assert client.get(f"/posts/{2**63 - 1}").json()["id"] == 2**63 - 1
    assert client.get(f"/posts/{-(2**63)}").json()["id"] == -(2**63)
    for outside in [str(2**63), str(-(2**63) - 1), "99999999999999999999", "9" * 50]:
        assert client.get(f"/posts/{outside}").status_code == 404, outside


def test_int_bounds_hold_in_mixed_segments_too(make_client):
    app = App()

    @app.get("/v{major:d}.{minor:d}")
    def version(req, major, minor):
        return {"major": major, "minor": minor}

    client = make_client(app)
    assert client.get(f"/v1.{2**63 - 1}").json() == {"major": 1, "minor": 2**63 - 1}
    assert client.get(f"/v1.{2**63}").status_code == 404
    assert client.get(f"/v{-(2**63) - 1}.2").status_code == 404


def test_integers_of_any_size_through_a_converter_of_your_own(make_client):
    app = App()
    app.add_converter("bigint", int, pattern=r"-?[0-9]+")

    @app.get("/factorial/{n:bigint}")
    def factorial(req, n):
        return {"n": str(n)}

    client = make_client(app)
    assert client.get("/factorial/" + "9" * 50).json() == {"n": "9" * 50}


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
    [
        "0",
        "-0",
        "007",
        "-12",
        "+4",
        " 5",
        "5 ",
        "5\n",
        "1_000",
        "0x1f",
        "\u0663",
        "\u00b2",
        "9" * 10_000,
        str(2**63 - 1),
        str(2**63),
        str(-(2**63)),
        str(-(2**63) - 1),
        "0" * 30 + "1",
        "1.5",
        ".5",
        "5.",
        "-.5",
        "1e3",
        "nan",
        "inf",
        "",
        "-",
        "abc",
        "a_b",
        "caf\u00e9",
    ],
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


# -- hostile paths ------------------------------------------------------------------


def test_huge_int_path_param_is_404_not_a_slow_parse(make_client):
    app, calls = recording_app(max_url_length=20_000)
    client = make_client(app)
    assert_problem(client.get("/items/" + "9" * 10_000), 404)
    assert_problem(client.get("/items/" + "9" * 30), 404)  # over 64 bits
    assert client.get("/items/" + "9" * 18).json() == {"id": int("9" * 18)}
    assert calls == ["item"]
