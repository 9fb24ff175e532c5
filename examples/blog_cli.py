"""The blog's command line: create the author account and API tokens.

    python -m examples.blog create-user NAME     # asks for the password, prints an API token
    python -m examples.blog create-token NAME    # prints another API token for NAME

Both use the database the app uses (``BLOG_DATABASE_URL``, else the SQLite file
``BLOG_DB``, else ``blog.db``) and create its schema if needed. The token is the
only thing written to stdout (messages go to stderr), so a script can capture it:
``TOKEN=$(python -m examples.blog create-token ada)``. It is shown once: only its
hash is stored. ``--password-stdin`` reads the password from the first line of
stdin instead of asking (for scripts and provisioning).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from examples.blog_db import MIN_PASSWORD, Database, database_target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.blog", description="Manage the blog's author accounts."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create_user = commands.add_parser(
        "create-user", help="create an author account and print an API token for it"
    )
    create_user.add_argument("name", help="the login name")
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of asking",
    )
    create_user.add_argument(
        "--no-token", action="store_true", help="create the account only, no API token"
    )
    create_token = commands.add_parser(
        "create-token", help="print a new API token for an existing account"
    )
    create_token.add_argument("name", help="the login name")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"Password (at least {MIN_PASSWORD} characters): ")
    if getpass.getpass("Password again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (``argv`` defaults to ``sys.argv[1:]``); the process's exit status."""
    args = _parser().parse_args(argv)
    db = Database(database_target())
    try:
        db.setup()
        if args.command == "create-user":
            password = _read_password(args.password_stdin)
            user = db.create_user(args.name, password)
            print(f"created user {user.name!r}", file=sys.stderr)
            if args.no_token:
                return 0
        else:
            found = db.get_user(args.name)
            if found is None:
                raise ValueError(f"there is no user named {args.name!r}")
            user = found
        token = db.create_token(user)
        print(
            f"API token for {user.name!r} (shown once; send it as 'Authorization: Bearer ...'):",
            file=sys.stderr,
        )
        print(token)
        return 0
    except (ValueError, EOFError, KeyboardInterrupt) as exc:
        print(f"error: {exc or 'cancelled'}", file=sys.stderr)
        return 1
    finally:
        db.close()


if __name__ == "__main__":
    raise SystemExit(main())
