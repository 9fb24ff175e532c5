"""CrossOriginProtection: unsafe cross-site browser requests refused (403); both entrypoints."""

from __future__ import annotations

import pytest

from twinframe import App
from twinframe.middleware import CrossOriginProtection

PROBLEM = "application/problem+json"


def protected_app(**options) -> tuple[App, list[str]]:
    app = App(middleware=[CrossOriginProtection(**options)])
    calls: list[str] = []

    @app.route("/", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def handler(req):
        calls.append(req.method)
        return "done"

    return app, calls


def assert_refused(response, calls: list[str]) -> None:
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "cross-origin" in response.json()["detail"]
    assert calls == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_unsafe_cross_site_requests_are_refused(make_client, method, site):
    app, calls = protected_app()
    response = make_client(app).request(
        method, "/", headers={"sec-fetch-site": site, "origin": "https://evil.example"}
    )
    assert_refused(response, calls)


@pytest.mark.parametrize("site", ["same-origin", "none", "Same-Origin"])
def test_same_origin_and_user_initiated_requests_pass(make_client, site):
    app, calls = protected_app()
    response = make_client(app).post("/", headers={"sec-fetch-site": site})
    assert (response.status_code, calls) == (200, ["POST"])


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_never_refused(make_client, method):
    app, calls = protected_app()
    response = make_client(app).request(
        method, "/", headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"}
    )
    assert response.status_code == 200
    assert calls == [method if method != "HEAD" else "HEAD"]


def test_without_sec_fetch_site_the_origin_must_be_this_host(make_client):
    app, calls = protected_app()
    client = make_client(app)
    assert client.post("/", headers={"origin": "http://testserver"}).status_code == 200
    assert client.post("/", headers={"origin": "HTTP://TestServer"}).status_code == 200
    assert calls == ["POST", "POST"]
    calls.clear()
    assert_refused(client.post("/", headers={"origin": "http://evil.example"}), calls)
    assert_refused(client.post("/", headers={"origin": "http://testserver.evil.example"}), calls)
    assert_refused(client.post("/", headers={"origin": "null"}), calls)


def test_the_port_is_part_of_the_host(make_client):
    app, calls = protected_app()
    client = make_client(app)
    headers = {"host": "example.com:8443"}
    ok = client.post("/", headers={**headers, "origin": "https://example.com:8443"})
    assert ok.status_code == 200
    calls.clear()
    other_port = client.post("/", headers={**headers, "origin": "https://example.com:9000"})
    assert_refused(other_port, calls)


def test_requests_without_either_header_pass(make_client):
    # curl, servers, tests: a forgery needs a browser, and browsers send one of them.
    app, calls = protected_app()
    assert make_client(app).delete("/").status_code == 200
    assert calls == ["DELETE"]


def test_trusted_origins_may_post_cross_site(make_client):
    app, calls = protected_app(trusted_origins=["https://app.example.com/"])
    client = make_client(app)
    trusted = {"sec-fetch-site": "cross-site", "origin": "https://app.example.com"}
    assert client.post("/", headers=trusted).status_code == 200
    assert client.post("/", headers={"origin": "https://app.example.com"}).status_code == 200
    assert calls == ["POST", "POST"]
    calls.clear()
    other = {"sec-fetch-site": "cross-site", "origin": "https://other.example.com"}
    assert_refused(client.post("/", headers=other), calls)
    assert_refused(client.post("/", headers={"sec-fetch-site": "cross-site"}), calls)


@pytest.mark.parametrize("origin", ["app.example.com", "ftp://x.example", "https://x.example/path"])
def test_a_malformed_trusted_origin_fails_at_startup(origin):
    with pytest.raises(ValueError, match="not scheme://host"):
        CrossOriginProtection(trusted_origins=[origin])


def test_the_apps_403_handler_renders_the_refusal(make_client):
    app, calls = protected_app()

    @app.errorhandler(403)
    def forbidden(req, exc):
        return f"Refused: {exc.detail}"

    response = make_client(app).post("/", headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert (
        response.text == "Refused: cross-origin POST request refused (Sec-Fetch-Site: cross-site)"
    )
    assert calls == []
