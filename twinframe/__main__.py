"""python -m twinframe serve module:app -- the development server from the command line."""

from __future__ import annotations

import argparse
import sys

from .server import DevServerError, run


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m twinframe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve an app with the development server",
        description="Serve an App for local development (wsgiref for WSGI, uvicorn for ASGI).",
    )
    serve.add_argument("target", help="module:attribute of the App, e.g. examples.hello:app")
    serve.add_argument(
        "--interface",
        choices=("wsgi", "asgi"),
        default="wsgi",
        help="wsgi: standard library server (default); asgi: uvicorn",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--reload", action="store_true", help="restart when a .py file changes")
    args = parser.parse_args(argv)
    try:
        run(args.target, args.host, args.port, args.interface, args.reload)
    except DevServerError as exc:
        print(f"twinframe: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
