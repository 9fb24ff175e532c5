"""System programs some tests need: redis-server, Debian's chromium, PostgreSQL, valgrind.

Test modules wrap these helpers in fixtures (``yield from run_redis_server(tmp_path)``,
``yield from run_postgres()``).

They are Debian packages, not Python ones. CI (``.ci/run``) installs them when
missing. On a developer's machine the tests never skip: when a program is
missing they install it with apt-get if the suite runs as root (a fresh
container), and otherwise fail with the one command to run.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from realserver import free_port

APT_PACKAGES = ("redis-server", "chromium", "postgresql")
CHROMIUM = "/usr/bin/chromium"
# Debian keeps the server's programs (initdb, postgres) off PATH, in one folder per version.
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"

_install_lock = threading.Lock()
_install_failed: dict[tuple[str, ...], str] = {}  # packages -> why they could not be had


def _postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (with initdb and postgres), if any."""
    found = [
        Path(folder)
        for folder in glob.glob(POSTGRES_BIN_GLOB)
        if os.access(Path(folder) / "initdb", os.X_OK)
    ]
    return max(found, key=lambda folder: int(folder.parent.name), default=None)


def _missing() -> bool:
    return (
        shutil.which("redis-server") is None
        or not os.access(CHROMIUM, os.X_OK)
        or _postgres_bin() is None
    )


def _require(packages: tuple[str, ...], missing: Callable[[], bool]) -> None:
    """Make sure ``missing()`` is false: install ``packages`` with apt-get as root, else fail."""
    with _install_lock:
        if not missing():
            return
        if packages in _install_failed:
            pytest.fail(_install_failed[packages], pytrace=False)
        can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
        if not can_install:
            message = (
                f"these tests need {', '.join(packages)} (Debian packages); install them with:\n"
                f"    sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"
            )
            _install_failed[packages] = message
            pytest.fail(message, pytrace=False)
        print(
            f"\ninstalling {', '.join(packages)} with apt-get (needed by the tests)",
            file=sys.stderr,
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock_wait = ["-o", "DPkg::Lock::Timeout=600"]
        for command in (
            ["apt-get", *lock_wait, "update", "-q"],
            ["apt-get", *lock_wait, "install", "-y", "-q", *packages],
        ):
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                message = (
                    f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
                )
                _install_failed[packages] = message
                pytest.fail(message, pytrace=False)
        if missing():
            pytest.fail(f"apt-get ran but {' or '.join(packages)} is still missing", pytrace=False)


def require_system_programs() -> None:
    """Make sure redis-server, chromium and PostgreSQL exist: install them as root, else fail."""
    _require(APT_PACKAGES, _missing)


def require_valgrind() -> None:
    """Make sure valgrind exists (``benchmarks.instructions`` runs under it), as above."""
    _require(("valgrind",), lambda: shutil.which("valgrind") is None)


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


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust authentication, no fsync)."""

    proc: subprocess.Popen[bytes]
    port: int
    _names: Iterator[int]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database of its own (each test gets one).

        It is a schema of its own in the cluster's one database, chosen by the
        URL's ``search_path``: a new schema takes milliseconds, where each
        CREATE DATABASE copies (and logs) a 7 MB template.
        """
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]
        return f"{self.url()}?options=-csearch_path%3D{name}"


def run_postgres() -> Iterator[PostgresServer]:
    """Start a private PostgreSQL cluster on a free port (generator: stopped by pid when closed).

    PostgreSQL refuses to run as root, so as root ``initdb`` and ``postgres`` run
    as the ``postgres`` user the Debian package creates, in a temporary folder
    that user owns (pytest's own tmp_path is private to root).
    """
    import psycopg

    require_system_programs()
    bin_dir = _postgres_bin()
    assert bin_dir is not None
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if as_root else pwd.getpwuid(os.geteuid())
    run_as = {"user": owner.pw_uid, "group": owner.pw_gid} if as_root else {}
    # /dev/shm (else /tmp), not $TMPDIR or pytest's tmp_path: the postgres user must be able
    # to reach it. Memory, not disk: on a busy machine removing the cluster's ~1,500 files
    # from disk took over a minute, past the per-test timeout of the test that ends the run.
    # A container's /dev/shm may be 64 MB: the cluster (~80 MB by the end of a run) needs more.
    shm = (
        "/dev/shm"
        if os.access("/dev/shm", os.W_OK) and shutil.disk_usage("/dev/shm").free > 512 * 2**20
        else "/tmp"
    )
    base = Path(tempfile.mkdtemp(prefix="twinframe-pg-", dir=shm if as_root else None))
    os.chown(base, owner.pw_uid, owner.pw_gid)
    data, log_path = base / "data", base / "postgres.log"
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(base)}
    proc = None
    try:
        subprocess.run(
            [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, capture_output=True, env=env, cwd=base, timeout=120, **run_as,
        )  # fmt: skip
        port = free_port()
        with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            os.chown(log_path, owner.pw_uid, owner.pw_gid)
            proc = subprocess.Popen(
                [bin_dir / "postgres", "-D", data, "-p", str(port), "-k", base,
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200",
                 # Little WAL (nothing replicates or archives it): the cluster stays near
                 # 80 MB rather than growing with the run, and is quick to remove.
                 "-c", "wal_level=minimal", "-c", "max_wal_senders=0",
                 "-c", "min_wal_size=32MB", "-c", "max_wal_size=64MB"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base, **run_as,
            )  # fmt: skip
        server = PostgresServer(proc, port, itertools.count())
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(server.url(), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres did not start:\n{log_path.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.1)
        yield server
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # "fast" shutdown: ends the sessions, then exits
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(base, ignore_errors=True)
