"""examples/blog.py through the TestClient, on both entrypoints (same assertions)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import run_together

from examples import blog_db
from examples.blog import STATIC_DIR, create_app, safe_next
from examples.blog_db import Database
from twinframe import App, NotFound
from twinframe.testing import TestClient

SECRET = "test-secret-of-at-least-32-characters!"
AUTHOR, PASSWORD = "ada", "correct horse battery"


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test logs in, on two entrypoints and two databases: scrypt's real cost
    # (0.1-0.2 s a hash, tests/test_blog_db.py) would dominate the run. The cost
    # travels in the stored hash, so verification uses the same lower one.
    monkeypatch.setattr(blog_db, "_SCRYPT_N", 2**8)


def add_author(target: str) -> str:
    """Create the author account in the database ``target``; an API token for it."""
    db = Database(target)
    try:
        db.setup()
        return db.create_token(db.create_user(AUTHOR, PASSWORD))
    finally:
        db.close()


@pytest.fixture
def token(blog_database: str) -> dict[str, str]:
    """The headers that authenticate an API call (the author's account exists)."""
    return {"Authorization": f"Bearer {add_author(blog_database)}"}


@pytest.fixture
def client(
    make_client: Callable[[App], TestClient], blog_database: str, token: dict[str, str]
) -> Iterator[TestClient]:
    """A visitor, not logged in (blog_database: every test runs on SQLite and PostgreSQL)."""
    with make_client(create_app(blog_database, SECRET)) as client:
        yield client


def log_in(client: TestClient, name: str = AUTHOR, password: str = PASSWORD) -> None:
    response = client.post("/login", data={"name": name, "password": password, "next": "/"})
    assert response.status_code == 303, response.text


@pytest.fixture
def author(client: TestClient) -> TestClient:
    """The same client, logged in as the author."""
    log_in(client)
    assert _flash(client.get("/").text) == f"Logged in as {AUTHOR}"
    return client


def _flash(html: str) -> str | None:
    found = re.search(r'<p class="flash[^"]*" role="status">(.*?)</p>', html)
    return found.group(1) if found else None


# -- visitors --------------------------------------------------------------------------


def test_empty_index(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "No posts yet" in response.text
    assert response.headers["content-security-policy"] == "default-src 'self'"
    assert '<link rel="stylesheet" href="/static/style.css">' in response.text
    assert '<a href="/login" class="button">Log in</a>' in response.text
    assert "New post" not in response.text and "Write the first one" not in response.text
    assert "set-cookie" not in response.headers  # nothing stored, nothing sent


@pytest.mark.parametrize("method_path", ["GET /new", "POST /posts", "POST /posts/1/delete"])
def test_writing_needs_the_login(client: TestClient, token: dict[str, str], method_path) -> None:
    post = client.post("/api/posts", json={"title": "kept", "body": ""}, headers=token).json()
    method, path = method_path.split()
    path = path.replace("/1/", f"/{post['id']}/")
    response = client.request(method, path, data={"title": "sneaky", "body": ""})
    assert response.status_code == 303
    expected_next = "%2Fnew" if method == "GET" else "%2F"
    assert response.headers["location"] == f"/login?next={expected_next}"
    login_page = client.get(response.headers["location"])
    assert 'class="flash error" role="status">Log in to write or delete posts.<' in login_page.text
    listing = client.get("/api/posts").json()
    assert [p["title"] for p in listing["posts"]] == ["kept"]  # nothing created or deleted


def test_a_tampered_session_is_no_login(client: TestClient) -> None:
    log_in(client)
    cookie = client.cookies["session"]
    client.cookies.clear()
    client.cookies.set("session", cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1])
    page = client.get("/")
    assert page.status_code == 200 and "Log out" not in page.text
    client.cookies.set("session", "garbage")
    assert client.get("/new").status_code == 303


# -- logging in and out ----------------------------------------------------------------


def test_login_and_logout(client: TestClient) -> None:
    form = client.get("/login?next=/new")
    assert form.status_code == 200
    assert '<input type="hidden" name="next" value="/new">' in form.text
    assert '<form method="post" action="/login">' in form.text

    wrong = client.post("/login", data={"name": AUTHOR, "password": "not it", "next": "/new"})
    assert wrong.status_code == 400
    assert "Wrong name or password." in wrong.text
    assert 'value="ada"' in wrong.text and "not it" not in wrong.text  # the name survives
    unknown = client.post("/login", data={"name": "bob", "password": PASSWORD})
    assert unknown.status_code == 400 and "Wrong name or password." in unknown.text
    assert client.post("/login", data={}).status_code == 400
    assert client.get("/new").status_code == 303  # still a visitor

    right = client.post("/login", data={"name": AUTHOR, "password": PASSWORD, "next": "/new"})
    assert right.status_code == 303 and right.headers["location"] == "/new"
    cookie = right.headers["set-cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    new = client.get("/new")
    assert new.status_code == 200 and '<form method="post" action="/posts">' in new.text
    assert _flash(new.text) == "Logged in as ada"
    assert '<span class="user">ada</span>' in new.text

    out = client.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/"
    after = client.get("/")
    assert _flash(after.text) == "Logged out" and "Log out" not in after.text
    assert client.get("/new").status_code == 303


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/posts/3", "/posts/3"),
        ("/?page=2", "/?page=2"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/\t/evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_login_only_goes_back_to_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_login_redirect_refuses_other_sites(client: TestClient) -> None:
    form = client.get("/login", params={"next": "//evil.example/x"})
    assert '<input type="hidden" name="next" value="/">' in form.text
    data = {"name": AUTHOR, "password": PASSWORD, "next": "https://evil.example/"}
    assert client.post("/login", data=data).headers["location"] == "/"


# -- cross-site form posts -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another origin
        {"Origin": "https://evil.example"},
    ],
)
def test_cross_site_posts_are_refused(author: TestClient, headers: dict[str, str]) -> None:
    response = author.post("/posts", data={"title": "forged", "body": ""}, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    logout = author.post("/logout", headers=headers)
    assert logout.status_code == 403
    assert "forged" not in author.get("/").text and "Log out" in author.get("/").text


def test_same_origin_posts_pass(author: TestClient) -> None:
    for headers in (
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Origin": "http://testserver"},
    ):
        response = author.post("/posts", data={"title": "mine", "body": ""}, headers=headers)
        assert response.status_code == 303, response.text


# -- the author's HTML pages -----------------------------------------------------------


def test_create_show_list_delete_through_html(author: TestClient) -> None:
    form = author.get("/new")
    assert form.status_code == 200
    assert '<form method="post" action="/posts">' in form.text

    created = author.post(
        "/posts", data={"title": "First post", "body": "Hello\n\nSecond paragraph"}
    )
    assert created.status_code == 303
    location = created.headers["location"]
    assert re.fullmatch(r"/posts/\d+", location)

    page = author.get(location)
    assert page.status_code == 200
    assert "<h1>First post</h1>" in page.text
    assert "<p>Hello</p>\n<p>Second paragraph</p>" in page.text
    assert _flash(page.text) == "Post created"
    assert _flash(author.get(location).text) is None  # shown once

    author.post("/posts", data={"title": "Second post", "body": ""})
    index = author.get("/")
    assert index.text.index("Second post") < index.text.index("First post")  # newest first
    assert f'<a href="{location}">First post</a>' in index.text

    deleted = author.post(f"{location}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/"
    after = author.get("/")
    assert _flash(after.text) == "Post deleted"
    assert "First post" not in after.text
    assert author.get(location).status_code == 404
    assert author.post(f"{location}/delete").status_code == 404


def test_visitors_see_posts_without_the_author_controls(
    client: TestClient, token: dict[str, str]
) -> None:
    location = client.post(
        "/api/posts", json={"title": "Public", "body": "text"}, headers=token
    ).headers["location"]
    page = client.get(location.replace("/api", ""))
    assert page.status_code == 200 and "<h1>Public</h1>" in page.text
    assert "Delete this post" not in page.text and "New post" not in page.text


def test_html_is_escaped(author: TestClient) -> None:
    evil = '<script>alert("x")</script>'
    location = author.post("/posts", data={"title": evil, "body": f"{evil} & more"}).headers[
        "location"
    ]
    for page in (author.get(location).text, author.get("/").text):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_empty_title_rerenders_form_with_error(author: TestClient) -> None:
    response = author.post("/posts", data={"title": "   ", "body": "kept <b>body</b>"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<p class="error" role="alert">the title must not be empty</p>' in response.text
    assert "kept &lt;b&gt;body&lt;/b&gt;</textarea>" in response.text  # what was typed survives
    assert author.get("/api/posts").json()["total"] == 0


def test_missing_post_is_a_friendly_html_404(client: TestClient) -> None:
    response = client.get("/posts/999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "No post number 999." in response.text
    assert '<a href="/login" class="button">Log in</a>' in response.text  # in the layout


@pytest.mark.parametrize("post_id", ["99999999999999999999", "9223372036854775808"])
def test_ids_too_large_for_the_database_are_404s(
    author: TestClient, token: dict[str, str], post_id: str
) -> None:
    # Once a 500: the 20-digit id reached SQLite (OverflowError: ... too large to convert).
    # Now {id:d} stops at 2**63-1, so no route matches (and blog_db refuses such ids too).
    assert author.get(f"/posts/{post_id}").status_code == 404
    assert author.post(f"/posts/{post_id}/delete").status_code == 404
    for response in (
        author.get(f"/api/posts/{post_id}"),
        author.delete(f"/api/posts/{post_id}", headers=token),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    browser = author.get(f"/posts/{post_id}", headers={"Accept": "text/html"})
    assert browser.headers["content-type"] == "text/html; charset=utf-8"  # the site's 404 page
    largest = author.get("/posts/9223372036854775807")  # reaches the handler and the database
    assert largest.status_code == 404
    assert largest.headers["content-type"] == "text/html; charset=utf-8"
    assert author.get("/api/posts/9223372036854775807").status_code == 404
    assert author.post("/posts/9223372036854775807/delete").status_code == 404


def test_unknown_pages_are_html_for_browsers_problem_json_for_the_rest(
    client: TestClient,
) -> None:
    browser = client.get("/nowhere", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 404
    assert browser.headers["content-type"] == "text/html; charset=utf-8"
    assert "There is nothing at this address." in browser.text
    other = client.get("/nowhere")
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    api = client.get("/api/nowhere", headers={"Accept": "text/html,*/*;q=0.8"})
    assert api.status_code == 404 and "nothing at this address" not in api.text


def test_index_pages(client: TestClient, token: dict[str, str]) -> None:
    for i in range(25):
        client.post("/api/posts", json={"title": f"post {i:02d}", "body": ""}, headers=token)
    first = client.get("/").text
    assert "post 24" in first and "post 05" in first and "post 04" not in first
    assert '<a href="/?page=2">Older posts</a>' in first
    second = client.get("/?page=2").text
    assert "post 04" in second and "post 00" in second and "post 05" not in second
    assert '<a href="/?page=1">Newer posts</a>' in second and "Older posts" not in second
    assert client.get("/?page=0").status_code == 400
    assert client.get("/?page=abc").status_code == 400
    past_the_end = client.get("/?page=9").text
    assert "No posts on this page" in past_the_end and "No posts yet" not in past_the_end


# -- JSON API --------------------------------------------------------------------------


def test_api_create_get_list_delete(client: TestClient, token: dict[str, str]) -> None:
    created = client.post("/api/posts", json={"title": "Hello", "body": "World"}, headers=token)
    assert created.status_code == 201
    post = created.json()
    assert set(post) == {"id", "title", "body", "created_at"}
    assert (post["title"], post["body"]) == ("Hello", "World")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", post["created_at"])
    assert created.headers["location"] == f"/api/posts/{post['id']}"

    assert client.get(created.headers["location"]).json() == post  # reading is public
    second = client.post("/api/posts", json={"title": "Again", "body": ""}, headers=token).json()
    listing = client.get("/api/posts").json()
    assert listing == {"posts": [second, post], "total": 2, "limit": 20, "offset": 0}

    deleted = client.delete(created.headers["location"], headers=token)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = client.get(created.headers["location"])
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.delete(created.headers["location"], headers=token).status_code == 404
    # Ids are never reused, even after the newest post is deleted.
    client.delete(f"/api/posts/{second['id']}", headers=token)
    again = client.post("/api/posts", json={"title": "t", "body": ""}, headers=token)
    assert again.json()["id"] == second["id"] + 1


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Basic YWRhOmNvcnJlY3Q=", None),
        ("Bearer blog_not-a-real-token", "invalid_token"),
        ("Bearer " + "x" * 5000, "invalid_token"),
    ],
)
def test_api_writes_need_a_token(
    client: TestClient, token: dict[str, str], authorization: str | None, error: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    post = client.post("/api/posts", json={"title": "kept", "body": ""}, headers=token).json()
    for response in (
        client.post("/api/posts", json={"title": "t", "body": ""}, headers=headers),
        client.delete(f"/api/posts/{post['id']}", headers=headers),
        client.post("/api/posts", content=b"{", headers=headers),  # auth comes first
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="blog"')
        assert (error in challenge) if error else ("error=" not in challenge)
    assert client.get("/api/posts").json()["total"] == 1


def test_a_login_session_is_not_an_api_token(author: TestClient) -> None:
    response = author.post("/api/posts", json={"title": "t", "body": ""})
    assert response.status_code == 401


def test_api_paging(client: TestClient, token: dict[str, str]) -> None:
    ids = [
        client.post("/api/posts", json={"title": f"p{i}", "body": ""}, headers=token).json()["id"]
        for i in range(7)
    ]
    page = client.get("/api/posts", params={"limit": 3, "offset": 2}).json()
    assert [p["id"] for p in page["posts"]] == ids[::-1][2:5]
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 2)
    assert client.get("/api/posts?offset=7").json()["posts"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "offset=-3",
        "offset=x",
        "limit=" + "9" * 40,
    ],
)
def test_api_paging_validation(client: TestClient, query: str) -> None:
    response = client.get(f"/api/posts?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert "must be an integer" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "malformed JSON"),
        (b"", "empty"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"title": "x"}', "missing field(s): body"),
        (b"{}", "missing field(s): title, body"),
        (b'{"title": 5, "body": ""}', "must be strings"),
        (b'{"title": "  ", "body": ""}', "title must not be empty"),
        (b'{"title": "' + b"t" * 201 + b'", "body": ""}', "at most 200"),
    ],
)
def test_api_create_rejects_bad_input(
    client: TestClient, token: dict[str, str], body: bytes, detail: str
) -> None:
    headers = {"content-type": "application/json", **token}
    response = client.post("/api/posts", content=body, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert client.get("/api/posts").json()["total"] == 0


# -- static files, storage -------------------------------------------------------------


def test_static_css(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.content == (STATIC_DIR / "style.css").read_bytes()
    etag = response.headers["etag"]
    assert client.get("/static/style.css", headers={"if-none-match": etag}).status_code == 304
    assert client.get("/static/missing.css").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/blog.py",
        "/static/..%2fblog.py",
        "/static/%2Fetc%2Fpasswd",
        "/static//etc/passwd",
        "/static/../templates/base.html",
    ],
)
def test_static_refuses_paths_outside_its_folder(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert b"create_app" not in response.content and b"root:" not in response.content
    assert b"{%" not in response.content


def test_static_handler_itself_refuses_escapes(client: TestClient) -> None:
    # The URL layer already refuses dot segments; the handler must hold on its own too.
    found = client.app.matcher.match("GET", "/static/x")
    assert found is not None
    handler = found[0].handler
    for escape in ("../blog.py", "../../etc/passwd", "/etc/passwd", "style.css/../../blog.py"):
        with pytest.raises(NotFound):
            handler(None, path=escape)


def test_schema_is_created_at_startup_in_wal_mode(
    make_client: Callable[[App], TestClient], tmp_path: Path
) -> None:
    db_path = tmp_path / "new.sqlite3"
    app = create_app(str(db_path), SECRET)
    assert not db_path.exists()
    with make_client(app):
        conn = sqlite3.connect(db_path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            assert {"posts", "settings", "users", "api_tokens"} <= tables
        finally:
            conn.close()


def test_default_secret_is_kept_in_the_database(
    make_client: Callable[[App], TestClient], blog_database: str, token: dict[str, str]
) -> None:
    # Two app instances (think: two worker processes) on one database sign with the same
    # key, so a login made through one is a login in the other.
    with (
        make_client(create_app(blog_database)) as first,
        make_client(create_app(blog_database)) as second,
    ):
        log_in(first)
        second.cookies.set("session", first.cookies["session"])
        assert _flash(second.get("/").text) == "Logged in as ada"
        assert second.get("/new").status_code == 200


def test_blog_secret_env_var(
    make_client: Callable[[App], TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two databases, one BLOG_SECRET: the key comes from the environment, not the data.
    paths = [str(tmp_path / "one.sqlite3"), str(tmp_path / "two.sqlite3")]
    for path in paths:
        add_author(path)
    monkeypatch.setenv("BLOG_SECRET", "from-the-environment-and-long-enough-1234")
    with (
        make_client(create_app(paths[0])) as first,
        make_client(create_app(paths[1])) as second,
    ):
        log_in(first)
        second.cookies.set("session", first.cookies["session"])
        assert second.get("/new").status_code == 200
    monkeypatch.setenv("BLOG_SECRET", "another-secret-entirely-and-long-enough")
    with make_client(create_app(paths[1])) as third:
        third.cookies.set("session", first.cookies["session"])
        assert third.get("/new").status_code == 303


def test_a_short_blog_secret_fails_the_startup(
    make_client: Callable[[App], TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOG_SECRET", "short")
    with pytest.raises(Exception, match="at least 32"):
        with make_client(create_app(str(tmp_path / "blog.sqlite3"))):
            pass


def test_blog_db_env_var(
    make_client: Callable[[App], TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "from-env.sqlite3"
    token = {"Authorization": f"Bearer {add_author(str(target))}"}
    monkeypatch.setenv("BLOG_DB", str(target))
    with make_client(create_app()) as client:
        client.post("/api/posts", json={"title": "stored", "body": ""}, headers=token)
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT title FROM posts").fetchall() == [("stored",)]
    finally:
        conn.close()


def test_workers_starting_together_on_a_new_database_all_succeed(tmp_path: Path) -> None:
    # gunicorn -w 4: four workers run their startup hook at once on a new file.
    # SQLite answers "database is locked" at once (no busy timeout) to all but one
    # of the connections switching the file to WAL together: setup() must retry.
    for round_ in range(40):
        path = str(tmp_path / f"race-{round_}.sqlite3")

        def start_worker(wait: Callable[[], None], path: str = path) -> None:
            db = Database(path)
            db.backend.connection()  # opened before the race, like a worker's first request
            wait()
            try:
                db.setup()
                db.stored_secret()
            finally:
                db.close()

        errors = run_together(start_worker, 4)
        assert errors == [], f"round {round_}: {errors!r}"
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            conn.execute("SELECT count(*) FROM posts")
