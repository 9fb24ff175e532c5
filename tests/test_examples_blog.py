"""examples/blog.py through the TestClient, on both entrypoints (same assertions)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import run_together

from examples.blog import STATIC_DIR, create_app
from examples.blog_db import Database
from twinframe import App, NotFound
from twinframe.signing import sign
from twinframe.testing import TestClient

SECRET = "test-secret"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "blog.sqlite3"


@pytest.fixture
def client(make_client: Callable[[App], TestClient], blog_database: str) -> Iterator[TestClient]:
    # blog_database: every test using this client runs on SQLite and on PostgreSQL.
    with make_client(create_app(blog_database, SECRET)) as client:
        yield client


def _flash(html: str) -> str | None:
    found = re.search(r'<p class="flash" role="status">(.*?)</p>', html)
    return found.group(1) if found else None


# -- HTML ------------------------------------------------------------------------------


def test_empty_index(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "No posts yet" in response.text
    assert response.headers["content-security-policy"] == "default-src 'self'"


def test_create_show_list_delete_through_html(client: TestClient) -> None:
    form = client.get("/new")
    assert form.status_code == 200
    assert '<form method="post" action="/posts">' in form.text

    created = client.post(
        "/posts", data={"title": "First post", "body": "Hello\n\nSecond paragraph"}
    )
    assert created.status_code == 303
    location = created.headers["location"]
    assert re.fullmatch(r"/posts/\d+", location)

    page = client.get(location)
    assert page.status_code == 200
    assert "<h1>First post</h1>" in page.text
    assert "<p>Hello</p>\n<p>Second paragraph</p>" in page.text
    assert _flash(page.text) == "Post created"
    # Shown once: the page clears the cookie, a reload shows no flash.
    assert "flash=;" in page.headers["set-cookie"]
    assert _flash(client.get(location).text) is None

    client.post("/posts", data={"title": "Second post", "body": ""})
    index = client.get("/")
    assert index.text.index("Second post") < index.text.index("First post")  # newest first
    assert f'<a href="{location}">First post</a>' in index.text

    deleted = client.post(f"{location}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/"
    after = client.get("/")
    assert _flash(after.text) == "Post deleted"
    assert "First post" not in after.text
    assert client.get(location).status_code == 404
    assert client.post(f"{location}/delete").status_code == 404


def test_html_is_escaped(client: TestClient) -> None:
    evil = '<script>alert("x")</script>'
    location = client.post("/posts", data={"title": evil, "body": f"{evil} & more"}).headers[
        "location"
    ]
    for page in (client.get(location).text, client.get("/").text):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_empty_title_rerenders_form_with_error(client: TestClient) -> None:
    response = client.post("/posts", data={"title": "   ", "body": "kept <b>body</b>"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "the title must not be empty" in response.text
    assert (
        "kept &lt;b&gt;body&lt;/b&gt;</textarea>" in response.text
    )  # what the user typed survives
    assert client.get("/api/posts").json()["total"] == 0


def test_missing_post_is_a_friendly_html_404(client: TestClient) -> None:
    response = client.get("/posts/999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "No post number 999" in response.text


@pytest.mark.parametrize("post_id", ["99999999999999999999", "9223372036854775808"])
def test_ids_too_large_for_the_database_are_404s(client: TestClient, post_id: str) -> None:
    # Once a 500: the 20-digit id reached SQLite (OverflowError: ... too large to convert).
    # Now {id:d} stops at 2**63-1, so no route matches (and blog_db refuses such ids too).
    assert client.get(f"/posts/{post_id}").status_code == 404
    assert client.post(f"/posts/{post_id}/delete").status_code == 404
    for response in (client.get(f"/api/posts/{post_id}"), client.delete(f"/api/posts/{post_id}")):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    largest = client.get("/posts/9223372036854775807")  # reaches the handler and the database
    assert largest.status_code == 404
    assert largest.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/api/posts/9223372036854775807").status_code == 404


def test_forged_or_stale_flash_is_ignored(client: TestClient) -> None:
    client.cookies.set("flash", sign("Post created", "some other secret"))
    page = client.get("/")
    assert _flash(page.text) is None
    assert "flash=;" in page.headers["set-cookie"]
    client.cookies.set("flash", "Post created")  # unsigned
    assert _flash(client.get("/").text) is None
    client.cookies.set("flash", sign("<i>signed</i>", SECRET))
    assert _flash(client.get("/").text) == "&lt;i&gt;signed&lt;/i&gt;"


def test_index_pages(client: TestClient) -> None:
    for i in range(25):
        client.post("/api/posts", json={"title": f"post {i:02d}", "body": ""})
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


def test_api_create_get_list_delete(client: TestClient) -> None:
    created = client.post("/api/posts", json={"title": "Hello", "body": "World"})
    assert created.status_code == 201
    post = created.json()
    assert set(post) == {"id", "title", "body", "created_at"}
    assert (post["title"], post["body"]) == ("Hello", "World")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", post["created_at"])
    assert created.headers["location"] == f"/api/posts/{post['id']}"

    assert client.get(created.headers["location"]).json() == post
    second = client.post("/api/posts", json={"title": "Again", "body": ""}).json()
    listing = client.get("/api/posts").json()
    assert listing == {"posts": [second, post], "total": 2, "limit": 20, "offset": 0}

    deleted = client.delete(created.headers["location"])
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = client.get(created.headers["location"])
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.delete(created.headers["location"]).status_code == 404
    # Ids are never reused, even after the newest post is deleted.
    client.delete(f"/api/posts/{second['id']}")
    assert (
        client.post("/api/posts", json={"title": "t", "body": ""}).json()["id"] == second["id"] + 1
    )


def test_api_paging(client: TestClient) -> None:
    ids = [
        client.post("/api/posts", json={"title": f"p{i}", "body": ""}).json()["id"]
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
def test_api_create_rejects_bad_input(client: TestClient, body: bytes, detail: str) -> None:
    response = client.post("/api/posts", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert client.get("/api/posts").json()["total"] == 0


# -- static files, storage -------------------------------------------------------------


def test_static_css(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.content == (STATIC_DIR / "style.css").read_bytes()
    assert (
        client.get(
            "/static/style.css", headers={"if-none-match": response.headers["etag"]}
        ).status_code
        == 304
    )
    assert client.get("/static/missing.css").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/blog.py",
        "/static/..%2fblog.py",
        "/static/%2Fetc%2Fpasswd",
        "/static//etc/passwd",
    ],
)
def test_static_refuses_paths_outside_its_folder(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert b"create_app" not in response.content and b"root:" not in response.content


def test_static_handler_itself_refuses_escapes(client: TestClient) -> None:
    # The URL layer already refuses dot segments; the handler must hold on its own too.
    found = client.app.matcher.match("GET", "/static/x")
    assert found is not None
    handler = found[0].handler
    for escape in ("../blog.py", "../../etc/passwd", "/etc/passwd", "style.css/../../blog.py"):
        with pytest.raises(NotFound):
            handler(None, path=escape)


def test_schema_is_created_at_startup_in_wal_mode(
    make_client: Callable[[App], TestClient], db_path: Path
) -> None:
    app = create_app(str(db_path), SECRET)
    assert not db_path.exists()
    with make_client(app):
        conn = sqlite3.connect(db_path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            assert {"posts", "settings"} <= tables
        finally:
            conn.close()


def test_default_secret_is_kept_in_the_database(
    make_client: Callable[[App], TestClient], db_path: Path
) -> None:
    # Two app instances (think: two worker processes) on one file sign with the same key.
    with (
        make_client(create_app(str(db_path))) as first,
        make_client(create_app(str(db_path))) as second,
    ):
        created = first.post("/posts", data={"title": "t", "body": ""})
        second.cookies.set("flash", created.cookies["flash"])
        assert _flash(second.get("/").text) == "Post created"


def test_blog_secret_env_var(
    make_client: Callable[[App], TestClient], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLOG_SECRET", "from-the-environment")
    with make_client(create_app(str(db_path))) as client:
        client.cookies.set("flash", sign("hello", "from-the-environment"))
        assert _flash(client.get("/").text) == "hello"


def test_blog_db_env_var(
    make_client: Callable[[App], TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("BLOG_DB", str(target))
    with make_client(create_app()) as client:
        client.post("/api/posts", json={"title": "stored", "body": ""})
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
