"""examples/blog_db.py: the blog's storage API (posts, users, API tokens) and its command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import run_together
from realserver import ROOT
from system_programs import PostgresServer

from examples import blog_cli
from examples.blog_db import (
    MAX_ID,
    TOKEN_PREFIX,
    Database,
    User,
    UserExists,
    check_password,
    database_target,
    hash_password,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def db(blog_database: str) -> Iterator[Database]:
    database = Database(blog_database)
    database.setup()
    try:
        yield database
    finally:
        database.close()


# -- posts ------------------------------------------------------------------------------


@pytest.mark.parametrize("post_id", [0, -1, 2**63, 10**20, -(2**64)])
def test_ids_no_column_can_hold_are_missing_posts(db: Database, post_id: int) -> None:
    db.create_post("kept", "")
    assert db.get_post(post_id) is None
    assert db.delete_post(post_id) is False
    assert db.count_posts() == 1


def test_largest_id_is_looked_up_without_error(db: Database) -> None:
    assert db.get_post(MAX_ID) is None
    assert db.delete_post(MAX_ID) is False


# -- passwords --------------------------------------------------------------------------


def test_password_hash_is_salted_scrypt_and_checks() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second  # a fresh salt each time
    algorithm, n, r, p, _salt, _digest = first.split("$")
    assert (algorithm, n, r, p) == ("scrypt", "16384", "8", "5")
    assert PASSWORD not in first
    assert check_password(PASSWORD, first) and check_password(PASSWORD, second)
    assert not check_password(PASSWORD + "!", first)
    assert not check_password("", first)


@pytest.mark.parametrize("stored", ["", "scrypt$1$2", "md5$x$y$z$a$b", "scrypt$x$8$5$AA$AA"])
def test_malformed_stored_hash_matches_nothing(stored: str) -> None:
    assert not check_password(PASSWORD, stored)


# -- users ------------------------------------------------------------------------------


def test_create_and_verify_user(db: Database) -> None:
    user = db.create_user("ada", PASSWORD)
    assert user == User(user.id, "ada")
    assert db.get_user("ada") == user
    assert db.verify_password("ada", PASSWORD) == user
    assert db.verify_password("ada", "wrong password") is None
    assert db.verify_password("nobody", PASSWORD) is None
    assert db.verify_password("bad name!", PASSWORD) is None
    assert db.verify_password("ada", "x" * 5000) is None
    assert db.get_user("nobody") is None
    stored = db.backend.one("SELECT password_hash FROM users WHERE name = ?", ("ada",))
    assert stored is not None and stored["password_hash"].startswith("scrypt$")
    assert PASSWORD not in stored["password_hash"]


def test_user_names_are_unique(db: Database) -> None:
    db.create_user("ada", PASSWORD)
    with pytest.raises(UserExists, match="already a user named 'ada'"):
        db.create_user("ada", "another password")
    assert db.verify_password("ada", PASSWORD) is not None  # the first one is kept


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", PASSWORD, "user name"),
        ("with space", PASSWORD, "user name"),
        ("x" * 65, PASSWORD, "user name"),
        ("ada", "short", "8 to 1024 characters"),
        ("ada", "p" * 1025, "8 to 1024 characters"),
    ],
)
def test_create_user_rejects_bad_input(
    db: Database, name: str, password: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        db.create_user(name, password)
    assert db.get_user("ada") is None


# -- API tokens -------------------------------------------------------------------------


def test_tokens_identify_their_user_and_are_stored_hashed(db: Database) -> None:
    ada, bob = db.create_user("ada", PASSWORD), db.create_user("bob", PASSWORD)
    first, second, bobs = db.create_token(ada), db.create_token(ada), db.create_token(bob)
    assert len({first, second, bobs}) == 3
    assert first.startswith(TOKEN_PREFIX) and len(first) == len(TOKEN_PREFIX) + 43
    assert db.verify_token(first) == ada and db.verify_token(second) == ada
    assert db.verify_token(bobs) == bob
    stored = db.backend.all("SELECT token_hash FROM api_tokens")
    assert len(stored) == 3
    assert all(first not in row["token_hash"] for row in stored)


@pytest.mark.parametrize(
    "token", ["", "blog_", "blog_wrong", "not-a-blog-token", "blog_" + "x" * 500, "Bearer x"]
)
def test_unknown_tokens_identify_nobody(db: Database, token: str) -> None:
    db.create_token(db.create_user("ada", PASSWORD))
    assert db.verify_token(token) is None


# -- the command line -------------------------------------------------------------------


def _cli(db_file: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.blog", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "BLOG_DB": str(db_file)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_create_user_then_token(tmp_path: Path) -> None:
    db_file = tmp_path / "blog.sqlite3"
    created = _cli(db_file, "create-user", "ada", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "created user 'ada'" in created.stderr
    token = created.stdout.strip()
    assert token.startswith(TOKEN_PREFIX) and "\n" not in token  # the only line on stdout

    again = _cli(db_file, "create-token", "ada")
    assert again.returncode == 0, again.stderr
    second = again.stdout.strip()
    assert second.startswith(TOKEN_PREFIX) and second != token

    db = Database(str(db_file))
    try:
        ada = db.verify_password("ada", PASSWORD)
        assert ada is not None
        assert db.verify_token(token) == ada and db.verify_token(second) == ada
    finally:
        db.close()

    taken = _cli(db_file, "create-user", "ada", "--password-stdin", stdin="other password\n")
    assert (taken.returncode, taken.stdout) == (1, "")
    assert "already a user named 'ada'" in taken.stderr
    missing = _cli(db_file, "create-token", "nobody")
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr
    short = _cli(db_file, "create-user", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "8 to 1024 characters" in short.stderr
    assert "Traceback" not in taken.stderr + missing.stderr + short.stderr
    usage = _cli(db_file, "create-user")
    assert usage.returncode == 2 and "usage: python -m examples.blog" in usage.stderr


def test_cli_asks_for_the_password_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BLOG_DB", str(tmp_path / "blog.sqlite3"))
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "a different one"])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(blog_cli.getpass, "getpass", fake_getpass)
    assert blog_cli.main(["create-user", "ada", "--no-token"]) == 0
    assert prompts == ["Password (at least 8 characters): ", "Password again: "]
    assert capsys.readouterr().out == ""  # --no-token: nothing on stdout

    assert blog_cli.main(["create-user", "bob"]) == 1  # the second answer differs
    assert "the two passwords differ" in capsys.readouterr().err
    db = Database(str(tmp_path / "blog.sqlite3"))
    try:
        assert db.verify_password("ada", PASSWORD) is not None
        assert db.get_user("bob") is None
    finally:
        db.close()


# -- PostgreSQL ---------------------------------------------------------------------------


def test_postgres_processes_starting_together_all_succeed(postgres: PostgresServer) -> None:
    # Two gunicorn -w 2 and a uvicorn starting at once on a new database: concurrent
    # CREATE TABLE IF NOT EXISTS fails on PostgreSQL's catalog without the advisory lock.
    for round_ in range(5):
        url = postgres.new_database()
        keys: list[str] = []

        def start_worker(wait: Callable[[], None], url: str = url, keys: list[str] = keys) -> None:
            db = Database(url)
            wait()
            try:
                db.setup()
                keys.append(db.stored_secret())
            finally:
                db.close()

        errors = run_together(start_worker, 6)
        assert errors == [], f"round {round_}: {errors!r}"
        assert len(keys) == 6 and len(set(keys)) == 1  # the first one's key won
        db = Database(url)
        try:
            db.setup()
            assert db.count_posts() == 0
        finally:
            db.close()


def test_sqlite_needs_nothing_beyond_the_standard_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's serve command works without the postgres extra.
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    db = Database(str(tmp_path / "blog.sqlite3"))
    try:
        db.setup()
        assert db.get_post(db.create_post("t", "b")["id"]) is not None
    finally:
        db.close()


def test_postgres_needs_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # as if not installed
    with pytest.raises(RuntimeError, match=r"pip install 'twinframe\[postgres\]'"):
        Database("postgresql://127.0.0.1/blog")


def test_database_target_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLOG_DATABASE_URL", raising=False)
    monkeypatch.delenv("BLOG_DB", raising=False)
    assert database_target() == "blog.db"
    monkeypatch.setenv("BLOG_DB", "/srv/blog.sqlite3")
    assert database_target() == "/srv/blog.sqlite3"
    monkeypatch.setenv("BLOG_DATABASE_URL", "postgresql://blog@db.internal/blog")
    assert database_target() == "postgresql://blog@db.internal/blog"  # the URL wins
    monkeypatch.setenv("BLOG_DATABASE_URL", "sqlite:///blog.db")
    with pytest.raises(ValueError, match="must be a postgresql:// URL"):
        database_target()
