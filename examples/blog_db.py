"""The blog's storage: posts, settings, users and API tokens, behind a small API.

    db = Database("blog.db")              # a SQLite file, or a postgresql:// URL
    db.setup()                            # at startup, in every process (many at once is safe)
    post = db.create_post("Title", "Body")  # {"id", "title", "body", "created_at"}
    db.get_post(post["id"]), db.list_posts(limit=20, offset=0), db.count_posts()
    db.delete_post(post["id"])            # True if it existed

    user = db.create_user("ada", "a long password")   # User(id=1, name="ada")
    db.verify_password("ada", "a long password")      # the User, or None
    token = db.create_token(user)         # shown once; only its SHA-256 is stored
    db.verify_token(token)                # the User, or None
    db.close()                            # at shutdown

Passwords are hashed with the standard library's ``hashlib.scrypt`` (no extra
package; the stored string names the algorithm and its parameters, so they can
change later without breaking stored hashes).

Every query is written once, with ``?`` placeholders, and run by one of the
backends in ``examples/blog_sql.py`` (SQLite's ``sqlite3``, PostgreSQL's psycopg
pool). Each statement commits on its own, so a writer holds locks only for one
INSERT/DELETE.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from examples.blog_sql import POSTGRES_SCHEMES, Backend, Row, connect

# {id} is the one thing the dialects spell differently: an auto-numbered primary key.
SCHEMA = (
    # The ids of deleted posts are never handed out again.
    """CREATE TABLE IF NOT EXISTS posts (
        id          {id},
        title       TEXT NOT NULL,
        body        TEXT NOT NULL,
        created_at  TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS settings (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS users (
        id             {id},
        name           TEXT NOT NULL UNIQUE,
        password_hash  TEXT NOT NULL,
        created_at     TEXT NOT NULL
    )""",
    # Only a token's SHA-256 is stored: a copy of the database gives no usable token.
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id          {id},
        user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_hash  TEXT NOT NULL UNIQUE,
        created_at  TEXT NOT NULL
    )""",
)

MAX_ID = 2**63 - 1
"""The largest id the tables hold: SQLite's INTEGER and PostgreSQL's BIGINT are 64-bit."""

USER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
"""What a user name may be: 1 to 64 letters, digits or ``_ . @ -``."""
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt's cost grows little with length, but a login form needs a cap
TOKEN_PREFIX = "blog_"

# scrypt at OWASP's 2^14/8/5 point (16 MiB and about 0.1-0.2 s of one core per hash): every
# guess costs an attacker as much; p=5 buys the cost in CPU rather than memory per login.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 5
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class UserExists(ValueError):
    """``create_user`` was given a name that is taken."""


@dataclass(frozen=True)
class User:
    """A blog author: what a login or an API token identifies."""

    id: int
    name: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$n$r$p$salt$hash`` (base64url)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (from ``hash_password``), in constant time."""
    try:
        algorithm, n, r, p, salt, digest = stored.split("$")
        if algorithm != "scrypt":
            return False
        expected = _unb64(digest)
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except ValueError:  # a malformed hash matches nothing
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the user name is unknown, so a wrong name takes as long as a
    # wrong password and response times don't tell which names exist.
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    # A token is 256 random bits: a fast hash is enough (nothing to brute-force), and
    # lets verify_token find the row by an indexed equality.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def database_target() -> str:
    """Where the blog's data lives: ``$BLOG_DATABASE_URL`` (``postgresql://...``), else
    the SQLite file ``$BLOG_DB``, else ``blog.db`` in the working directory."""
    url = os.environ.get("BLOG_DATABASE_URL")
    if url:
        if not url.startswith(POSTGRES_SCHEMES):
            raise ValueError(
                "BLOG_DATABASE_URL must be a postgresql:// URL (for SQLite, set BLOG_DB to a file)"
            )
        return url
    return os.environ.get("BLOG_DB") or "blog.db"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Database:
    """The blog's data (posts, settings, users, API tokens) at ``target``: a SQLite
    file path or a ``postgresql://`` URL (see ``database_target()``)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.backend: Backend = connect(target)

    def setup(self) -> None:
        """Create the schema if needed; every process calls it at startup."""
        self.backend.setup(SCHEMA)

    def close(self) -> None:
        """Close the connections (at shutdown)."""
        self.backend.close()

    # -- posts --------------------------------------------------------------------------

    def create_post(self, title: str, body: str) -> Row:
        """Store a new post; the stored row (``id``, ``title``, ``body``, ``created_at``)."""
        row = self.backend.one(
            "INSERT INTO posts (title, body, created_at) VALUES (?, ?, ?) "
            "RETURNING id, title, body, created_at",
            (title, body, _now()),
        )
        assert row is not None  # RETURNING always gives the inserted row
        return row

    def get_post(self, post_id: int) -> Row | None:
        """The post ``post_id``, or None (also for an id no post can have, like 10**20)."""
        if not 0 < post_id <= MAX_ID:  # sqlite3 would raise OverflowError
            return None
        return self.backend.one(
            "SELECT id, title, body, created_at FROM posts WHERE id = ?", (post_id,)
        )

    def list_posts(self, limit: int, offset: int) -> list[Row]:
        """Up to ``limit`` posts, newest first, skipping the ``offset`` newest."""
        return self.backend.all(
            "SELECT id, title, body, created_at FROM posts ORDER BY id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )

    def posts_after(self, post_id: int, limit: int) -> list[Row]:
        """Up to ``limit`` posts newer than ``post_id``, oldest first (the live index polls it)."""
        return self.backend.all(
            "SELECT id, title, created_at FROM posts WHERE id > ? ORDER BY id LIMIT ?",
            (post_id, limit),
        )

    def count_posts(self) -> int:
        """How many posts there are."""
        row = self.backend.one("SELECT count(*) AS n FROM posts")
        assert row is not None
        return int(row["n"])

    def delete_post(self, post_id: int) -> bool:
        """Delete the post ``post_id``; False if there was none."""
        if not 0 < post_id <= MAX_ID:
            return False
        return self.backend.run("DELETE FROM posts WHERE id = ?", (post_id,)) > 0

    # -- settings -----------------------------------------------------------------------

    def stored_secret(self, key: str = "flash_secret") -> str:
        """A random key created once and kept in the database, the same for every process."""
        # ON CONFLICT DO NOTHING: when several processes start at once, the first one's key wins.
        self.backend.run(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, secrets.token_urlsafe(32)),
        )
        row = self.backend.one("SELECT value FROM settings WHERE key = ?", (key,))
        assert row is not None
        return str(row["value"])

    # -- users and API tokens -------------------------------------------------------------

    def create_user(self, name: str, password: str) -> User:
        """Store a new author with a scrypt hash of ``password``.

        Raises ``ValueError`` for a bad name (see ``USER_NAME``) or a password
        shorter than ``MIN_PASSWORD`` / longer than ``MAX_PASSWORD``, and
        ``UserExists`` (a ``ValueError``) when the name is taken.
        """
        if not USER_NAME.fullmatch(name):
            raise ValueError(
                f"a user name is 1 to 64 letters, digits or '_', '.', '@', '-', got {name[:70]!r}"
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ValueError(
                f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {len(password)}"
            )
        row = self.backend.one(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING RETURNING id, name",
            (name, hash_password(password), _now()),
        )
        if row is None:  # the name was taken (perhaps by a concurrent create_user)
            raise UserExists(f"there is already a user named {name!r}")
        return User(int(row["id"]), str(row["name"]))

    def get_user(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        row = self.backend.one("SELECT id, name FROM users WHERE name = ?", (name,))
        return User(int(row["id"]), str(row["name"])) if row is not None else None

    def verify_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is ``name``'s password, else None (for /login).

        Takes as long for an unknown name as for a wrong password.
        """
        row = None
        if USER_NAME.fullmatch(name) and len(password) <= MAX_PASSWORD:
            row = self.backend.one(
                "SELECT id, name, password_hash FROM users WHERE name = ?", (name,)
            )
        if row is None:
            check_password(password[:MAX_PASSWORD], _dummy_hash())
            return None
        if not check_password(password, str(row["password_hash"])):
            return None
        return User(int(row["id"]), str(row["name"]))

    def create_token(self, user: User) -> str:
        """A new API token for ``user`` (``blog_`` + 43 characters): show it once, it is
        not stored (only its SHA-256 is). Send it as ``Authorization: Bearer <token>``."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.backend.run(
            "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)",
            (user.id, _token_hash(token), _now()),
        )
        return token

    def verify_token(self, token: str) -> User | None:
        """The user an API token (from ``create_token``) belongs to, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = self.backend.one(
            "SELECT users.id AS id, users.name AS name FROM api_tokens "
            "JOIN users ON users.id = api_tokens.user_id WHERE api_tokens.token_hash = ?",
            (_token_hash(token),),
        )
        return User(int(row["id"]), str(row["name"])) if row is not None else None
