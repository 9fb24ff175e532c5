"""The code-quality gates run as tests: ``mypy --strict twinframe`` and ``ruff check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LINTED = ["twinframe", "tests", "examples", "benchmarks"]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_mypy_strict(tmp_path: Path) -> None:
    # A private cache: no stale or shared state, nothing written into the repository.
    result = _run(["mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"), "twinframe"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check() -> None:
    paths = [name for name in LINTED if (ROOT / name).is_dir()]
    paths += sorted(path.name for path in ROOT.glob("*.py"))  # gunicorn.conf.py
    result = _run(["ruff", "check", "--no-cache", *paths])
    assert result.returncode == 0, result.stdout + result.stderr
