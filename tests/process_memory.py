"""A real server's memory, read from /proc: the echo and HTTP/2 tests bound it.

``worker_pids`` finds the processes running the app (a pre-fork server's
workers, or the server itself); ``reset_peak_rss`` clears the peak (VmHWM) so
``peak_rss`` afterwards is the peak of what came in between.
"""

from __future__ import annotations

from pathlib import Path

MiB = 1024 * 1024


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _is_helper(pid: int) -> bool:
    # multiprocessing's resource tracker (beside hypercorn's spawned worker) runs no app.
    return b"multiprocessing.resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()


def worker_pids(pid: int) -> list[int]:
    """The processes running the app under server ``pid``: its workers (gunicorn's,
    granian's, hypercorn's), or the server itself when it has none (uvicorn)."""
    return [child for child in _children(pid) if not _is_helper(child)] or [pid]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss(pid: int) -> int:
    """Reset VmHWM (Linux >= 4.0: "5" > clear_refs) and return the current RSS in bytes."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kib(pid, "VmRSS") * 1024


def peak_rss(pid: int) -> int:
    """The peak resident set size (bytes) since start or since ``reset_peak_rss``."""
    return _status_kib(pid, "VmHWM") * 1024


def rss(pid: int) -> int:
    """The resident set size now, in bytes."""
    return _status_kib(pid, "VmRSS") * 1024
