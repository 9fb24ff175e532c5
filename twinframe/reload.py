"""The development server's reloader: a watcher process that restarts the server.

``app.run(reload=True)`` and ``python -m twinframe serve --reload`` start the
watcher instead of serving: it runs the same command again as a child process
(with ``TWINFRAME_RELOAD_CHILD`` set, so the child serves) and restarts it
whenever a ``.py`` file under the working directory, the main script's
directory or the app module's directory changes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

# Set in the server process the reloader starts, so that it serves instead of watching.
RELOAD_CHILD = "TWINFRAME_RELOAD_CHILD"
_POLL_SECONDS = 0.5
_MAX_WATCHED_FILES = 20000
_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "build", "dist"}


def watch_roots(app: object) -> list[Path]:
    """The directories to watch: the working directory, the main script's and the app module's."""
    roots = [Path.cwd()]
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file:
        roots.append(Path(main_file).resolve().parent)
    if isinstance(app, str):
        import importlib.util

        try:
            spec = importlib.util.find_spec(app.partition(":")[0])
        except (ImportError, ValueError):
            spec = None  # the server process reports it; we watch the working directory
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            roots.append(Path(spec.origin).resolve().parent)
    unique: list[Path] = []
    for root in roots:
        if not any(root == r or r in root.parents for r in unique):
            unique = [r for r in unique if root not in r.parents] + [root]
    return unique


def _python_files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        for directory, dirnames, filenames in os.walk(root):
            # Skip hidden directories, caches and virtualenvs: they are not the user's source.
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and d not in _SKIP_DIRS
                and not os.path.exists(os.path.join(directory, d, "pyvenv.cfg"))
            ]
            for name in filenames:
                if name.endswith(".py"):
                    yield Path(directory, name)


def _snapshot(roots: list[Path]) -> dict[Path, int]:
    mtimes: dict[Path, int] = {}
    for path in _python_files(roots):
        try:
            mtimes[path] = path.stat().st_mtime_ns
        except OSError:
            continue  # deleted while we looked
        if len(mtimes) >= _MAX_WATCHED_FILES:
            break
    return mtimes


def _changed(before: dict[Path, int], after: dict[Path, int]) -> Path | None:
    for path, mtime in after.items():
        if before.get(path) != mtime:
            return path
    for path in before:
        if path not in after:
            return path
    return None


def run_reloader(roots: list[Path]) -> int:
    """Run this command again as a child server process, restarting it on changes; returns 0.

    Polls the ``.py`` files under ``roots`` every half second; Ctrl-C or SIGTERM
    stops the child (its shutdown hooks run) and then the watcher.
    """
    command = [sys.executable, *sys.orig_argv[1:]]
    env = {**os.environ, RELOAD_CHILD: "1"}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {int(sig): signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(
        "twinframe: reload on: watching " + ", ".join(str(r) for r in roots),
        file=sys.stderr,
        flush=True,
    )
    snapshot = _snapshot(roots)
    child = subprocess.Popen(command, env=env)
    reported_exit = False
    try:
        while not stopping:
            time.sleep(_POLL_SECONDS)
            current = _snapshot(roots)
            changed = _changed(snapshot, current)
            if changed is not None:
                print(f"twinframe: {changed} changed, restarting", file=sys.stderr, flush=True)
                _stop_child(child)
                snapshot = current
                child = subprocess.Popen(command, env=env)
                reported_exit = False
            elif child.poll() is not None and not reported_exit:
                print(
                    f"twinframe: the server exited (code {child.returncode}); "
                    "it restarts when a source file changes",
                    file=sys.stderr,
                    flush=True,
                )
                reported_exit = True
    finally:
        _stop_child(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)  # the server runs its shutdown hooks, then exits
    try:
        child.wait(15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
