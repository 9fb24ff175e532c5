"""System programs some real-server tests need: redis-server and Debian's chromium.

Test modules wrap these helpers in fixtures (``yield from run_redis_server(tmp_path)``).

They are Debian packages, not Python ones. CI (``.ci/run``) installs them when
missing. On a developer's machine the tests never skip: when a program is
missing they install it with apt-get if the suite runs as root (a fresh
container), and otherwise fail with the one command to run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from realserver import free_port

APT_PACKAGES = ("redis-server", "chromium")
CHROMIUM = "/usr/bin/chromium"
INSTALL_COMMAND = f"sudo apt-get update && sudo apt-get install -y {' '.join(APT_PACKAGES)}"

_install_lock = threading.Lock()
_install_failed: list[str] = []


def _missing() -> bool:
    return shutil.which("redis-server") is None or not os.access(CHROMIUM, os.X_OK)


def require_system_programs() -> None:
    """Make sure redis-server and chromium exist: install them as root, else fail clearly."""
    with _install_lock:
        if not _missing():
            return
        if _install_failed:
            pytest.fail(_install_failed[0], pytrace=False)
        can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
        if not can_install:
            message = (
                "these tests need redis-server and chromium (Debian packages); install them with:\n"
                f"    {INSTALL_COMMAND}"
            )
            _install_failed.append(message)
            pytest.fail(message, pytrace=False)
        print(
            f"\ninstalling {', '.join(APT_PACKAGES)} with apt-get (needed by the tests)",
            file=sys.stderr,
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock_wait = ["-o", "DPkg::Lock::Timeout=600"]
        for command in (
            ["apt-get", *lock_wait, "update", "-q"],
            ["apt-get", *lock_wait, "install", "-y", "-q", *APT_PACKAGES],
        ):
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                message = (
                    f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
                )
                _install_failed.append(message)
                pytest.fail(message, pytrace=False)
        if _missing():
            pytest.fail(
                f"apt-get ran but {' or '.join(APT_PACKAGES)} is still missing", pytrace=False
            )


@dataclass
class RedisServer:
    """A throwaway redis-server on 127.0.0.1 (no persistence)."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def run_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Start redis-server on a free loopback port (generator: stopped by pid when closed)."""
    require_system_programs()
    port = free_port()
    log = open(tmp_path / f"redis-{port}.log", "wb")  # closed in finally
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1) as client:
                    if client.ping():
                        break
            except redis.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{Path(log.name).read_text()}")
            time.sleep(0.05)
        yield RedisServer(proc, port)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()


def chromium_path() -> str:
    """The path of Debian's chromium (installed first if needed)."""
    require_system_programs()
    return CHROMIUM
