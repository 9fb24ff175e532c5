"""HTTPError, its named subclasses, and RFC 9457 problem details (or plain text)."""

from __future__ import annotations

import io
import json
from http import HTTPStatus
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

import twinframe
from twinframe import App, HTTPError, MethodNotAllowed
from twinframe.response import problem_response
from twinframe.status import status_phrase

NAMED = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "NotAcceptable": 406,
    "Conflict": 409,
    "Gone": 410,
    "PayloadTooLarge": 413,
    "URITooLong": 414,
    "UnsupportedMediaType": 415,
    "UnprocessableContent": 422,
    "UpgradeRequired": 426,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}


def _error_app() -> App:
    app = App()

    @app.get("/status/{status:d}")
    def by_status(req, status):
        detail = req.query.get("detail")
        headers = dict(req.query.items())
        headers.pop("detail", None)
        raise HTTPError(status, detail, headers or None)

    @app.get("/named/{name}")
    def named(req, name):
        raise getattr(twinframe, name)(req.query.get("detail"))

    @app.get("/async/{status:d}")
    async def async_error(req, status):
        raise HTTPError(status, "from async")

    return app


def test_http_error_attributes():
    exc = HTTPError(404, "no such post", {"X-Why": "gone"})
    assert exc.status == 404
    assert exc.detail == "no such post"
    assert exc.headers == {"X-Why": "gone"}
    assert exc.title == "Not Found"
    assert str(exc) == "404 Not Found: no such post"
    bare = HTTPError(418)
    assert (bare.detail, bare.headers, str(bare)) == (None, {}, "418 I'm a Teapot")
    assert HTTPError().status == 500


@pytest.mark.parametrize("status", [200, 299, 600, 99])
def test_http_error_status_must_be_an_error_or_redirect(status):
    with pytest.raises(ValueError, match="300-599"):
        HTTPError(status)


def test_http_error_status_must_be_an_int():
    with pytest.raises(TypeError, match="status must be an int"):
        HTTPError("not found")  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "status"), NAMED.items())
def test_named_subclasses(name, status):
    cls = getattr(twinframe, name)
    assert issubclass(cls, HTTPError)
    exc = cls("why", {"X-A": "b"})
    assert (exc.status, exc.detail, exc.headers) == (status, "why", {"X-A": "b"})
    assert cls().status == status


def test_method_not_allowed_carries_allow():
    exc = MethodNotAllowed(["POST", "GET", "GET"])
    assert exc.status == 405
    assert exc.allowed == ["GET", "POST"]
    assert exc.headers == {"Allow": "GET, POST"}


def test_user_subclass_with_a_fixed_status(make_client):
    class Teapot(HTTPError):
        status = 418

    app = App()

    @app.get("/tea")
    def tea(req):
        raise Teapot(detail="short and stout")

    response = make_client(app).get("/tea")
    assert response.status_code == 418
    assert response.json() == {
        "type": "about:blank",
        "title": "I'm a Teapot",
        "status": 418,
        "detail": "short and stout",
    }


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503])
def test_problem_json_shape(make_client, status):
    client = make_client(_error_app())
    response = client.get(f"/status/{status}", params={"detail": "the reason"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body == {
        "type": "about:blank",
        "title": HTTPError(status).title,
        "status": status,
        "detail": "the reason",
    }
    assert response.headers["content-length"] == str(len(response.content))


def test_problem_json_without_detail_has_no_detail_member(make_client):
    response = make_client(_error_app()).get("/status/409")
    assert response.json() == {"type": "about:blank", "title": "Conflict", "status": 409}


@pytest.mark.parametrize(("name", "status"), NAMED.items())
def test_named_errors_render(make_client, name, status):
    client = make_client(_error_app())
    response = client.get(f"/named/{name}", params={"detail": "because"})
    assert response.status_code == status
    assert response.json()["title"] == HTTPError(status).title
    assert response.json()["detail"] == "because"


_RAISED = {
    "http-error": lambda: HTTPError(422, "from either", {"X-Why": "because"}),
    "named": lambda: twinframe.Conflict("taken"),
    "method-not-allowed": lambda: twinframe.MethodNotAllowed({"GET", "PUT"}),
    "no-detail": lambda: HTTPError(503),
    "crash": lambda: RuntimeError("secret internals"),
}


@pytest.mark.parametrize("accept", [None, "text/plain"])
@pytest.mark.parametrize("kind", list(_RAISED))
def test_async_handlers_raise_the_same(make_client, kind, accept):
    # The same exception raised from a sync and an async handler gives the same
    # response: status, headers and body, problem+json or plain text alike.
    app = App()

    @app.get("/sync")
    def sync_handler(req):
        raise _RAISED[kind]()

    @app.get("/async")
    async def async_handler(req):
        raise _RAISED[kind]()

    client = make_client(app)
    headers = {"Accept": accept} if accept else {}
    sync, async_ = (client.get(path, headers=headers) for path in ("/sync", "/async"))
    assert sync.status_code == async_.status_code
    assert sync.headers.multi_items() == async_.headers.multi_items()
    assert sync.content == async_.content
    expected = _RAISED[kind]()
    status = expected.status if isinstance(expected, HTTPError) else 500
    assert sync.status_code == status
    assert b"secret internals" not in sync.content


def test_non_ascii_detail(make_client):
    response = make_client(_error_app()).get("/status/400", params={"detail": "champ « nom » vide"})
    assert response.json()["detail"] == "champ « nom » vide"
    text = make_client(_error_app()).get(
        "/status/400", params={"detail": "champ « nom » vide"}, headers={"Accept": "text/plain"}
    )
    assert text.text == "400 Bad Request: champ « nom » vide\n"


@pytest.mark.parametrize(
    "accept",
    [
        "text/plain",
        "text/html",
        "text/*",
        "text/html, text/plain;q=0.5",
        "text/plain, application/json;q=0",
    ],
)
def test_plain_text_when_the_client_only_accepts_text(make_client, accept):
    client = make_client(_error_app())
    params = {"detail": "no such page"}
    response = client.get("/status/404", params=params, headers={"Accept": accept})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "404 Not Found: no such page\n"
    bare = client.get("/status/503", headers={"Accept": accept})
    assert bare.text == "503 Service Unavailable\n"


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/problem+json",
        "application/*",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "text/plain, application/json",
    ],
)
def test_problem_json_otherwise(make_client, accept):
    client = make_client(_error_app())
    headers = {"Accept": accept} if accept else {}
    response = client.get("/status/404", headers=headers)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_error_headers_are_applied(make_client):
    client = make_client(_error_app())
    params = {"detail": "wait", "Retry-After": "30", "X-Limit": "10"}
    for accept in ("application/json", "text/plain"):
        response = client.get("/status/429", params=params, headers={"Accept": accept})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "30"
        assert response.headers["x-limit"] == "10"


def test_redirect_status_with_location(make_client):
    app = App()

    @app.get("/old")
    def old(req):
        raise HTTPError(301, headers={"Location": "/new"})

    response = make_client(app).get("/old")
    assert response.status_code == 301
    assert response.headers["location"] == "/new"


def test_unsafe_error_header_is_refused_not_sent(make_client):
    app = App()

    @app.get("/split")
    def split(req):
        raise HTTPError(400, "bad", {"X-Evil": "a\r\nSet-Cookie: owned=1"})

    response = make_client(app).get("/split")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "x-evil" not in response.headers


def test_head_error_has_headers_but_no_body(make_client):
    client = make_client(_error_app())
    get = client.get("/status/404")
    head = client.head("/status/404")
    assert head.status_code == 404
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/problem+json"


def test_problem_response_helper():
    extra = {"errors": [{"field": "name"}]}
    response = problem_response(422, "bad field", {"X-A": "1"}, None, extra)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert response.headers["X-A"] == "1"
    assert json.loads(response.body) == {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "bad field",
        "errors": [{"field": "name"}],
    }


def _wsgi_call(app: App, method: str, body: bytes = b"", path: str = "/") -> tuple[str, bytes]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING="",
        CONTENT_LENGTH=str(len(body)),
        HTTP_ACCEPT="application/json",
    )
    environ["wsgi.input"] = io.BytesIO(body)
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append(status)

    chunks = validator(app.wsgi)(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return started[0], data


def test_the_wsgi_status_line_says_what_the_problem_title_says():
    # One table of reason phrases: a 413 said "Request Entity Too Large" in the
    # status line and "Content Too Large" in the body.
    app = App(max_body_size=4)

    @app.post("/")
    def upload(req):
        return "never"

    status, data = _wsgi_call(app, "POST", b"0123456789")
    assert status == "413 Content Too Large"
    assert json.loads(data)["title"] == "Content Too Large"


def test_every_error_status_has_one_reason_phrase():
    app = App()

    @app.get("/{code:d}")
    def fail(req, code):
        raise HTTPError(code)

    for code in [s.value for s in HTTPStatus if 400 <= s.value <= 599]:
        status, data = _wsgi_call(app, "GET", path=f"/{code}")
        title = json.loads(data)["title"]
        assert status == f"{code} {title}", code
        assert title == status_phrase(code)


# -- found by mutation testing (CONTRIBUTING.md): edges the tests above left open --------


@pytest.mark.parametrize("status", [300, 599])
def test_http_error_status_range_includes_its_ends(status):
    assert HTTPError(status).status == status


def test_a_status_without_a_standard_phrase_is_titled_unknown(make_client):
    assert HTTPError(599).title == "Unknown"
    assert str(HTTPError(599, "odd")) == "599 Unknown: odd"
    app = App()

    @app.get("/")
    def odd(req):
        raise HTTPError(599, "odd")

    response = make_client(app).get("/")
    assert response.status_code == 599
    assert response.json()["title"] == "Unknown"


def test_passing_the_detail_positionally_to_a_fixed_status_error_says_how_to_fix_it():
    class Gone(HTTPError):
        status = 410

    with pytest.raises(TypeError, match=r"takes the detail as a keyword: MyError\(detail=\.\.\.\)"):
        Gone("this page is gone")
    assert Gone(detail="this page is gone").status == 410


def test_405_says_which_methods_are_allowed_unless_given_a_detail(make_client):
    assert MethodNotAllowed({"PUT", "GET"}).detail == "allowed methods: GET, PUT"
    assert MethodNotAllowed({"GET"}, "read only").detail == "read only"
    app = App()

    @app.get("/thing")
    def thing(req):
        return "thing"

    response = make_client(app).delete("/thing")
    assert response.json()["detail"] == "allowed methods: GET, HEAD, OPTIONS"


def test_problem_body_is_compact_json(make_client):
    # The exact bytes: compact separators, members in RFC 9457's order.
    app = App()

    @app.get("/")
    def missing(req):
        raise HTTPError(404, "no such thing")

    response = make_client(app).get("/")
    assert response.content == (
        b'{"type":"about:blank","title":"Not Found","status":404,"detail":"no such thing"}'
    )
    assert response.headers["content-length"] == str(len(response.content))


@pytest.mark.parametrize(
    "detail",
    [
        None,
        "",
        "nothing here",
        'quote " and \\ backslash',
        "tab\tnewline\n",
        "é ü 漢字 \U0001f600",
        "\x00\x1f",
    ],
)
@pytest.mark.parametrize("status", [400, 404, 405, 418, 500, 599])
def test_problem_body_is_the_compact_json_of_the_problem(status: int, detail: str | None) -> None:
    # problem_response builds the common body without json.dumps' per-call encoder:
    # it must be byte for byte what json.dumps(problem, separators=(",", ":")) gives.
    from twinframe.response import problem_response
    from twinframe.status import status_phrase

    problem: dict[str, object] = {"type": "about:blank", "title": status_phrase(status)}
    problem["status"] = status
    if detail:
        problem["detail"] = detail
    response = problem_response(status, detail, None, "application/json")
    assert response.body == json.dumps(problem, separators=(",", ":")).encode()
    assert response.content_type == "application/problem+json"
    assert response.header_list() == [
        ("content-type", "application/problem+json"),
        ("content-length", str(len(response.body))),
    ]
    with_extra = problem_response(status, detail, None, None, {"errors": ["x"]})
    assert json.loads(with_extra.body) == {**problem, "errors": ["x"]}
