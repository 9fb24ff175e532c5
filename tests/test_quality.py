"""The code-quality gates run as tests: ``mypy --strict twinframe``, ``ruff check``,
``ruff format --check``, and no test module importing conftest."""

from __future__ import annotations

import re
import subprocess
import sys

from realserver import ROOT

LINTED = ["twinframe", "tests", "examples", "benchmarks"]


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_mypy_strict() -> None:
    # mypy's own incremental cache (.mypy_cache, git-ignored): a cold run checks the
    # standard library stubs too and takes tens of seconds on a loaded machine; later
    # runs recheck only what changed. The timeout allows for a cold cache under load.
    result = _run(["mypy", "--strict", "twinframe"], timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check() -> None:
    paths = [name for name in LINTED if (ROOT / name).is_dir()]
    paths += sorted(path.name for path in ROOT.glob("*.py"))  # gunicorn.conf.py
    result = _run(["ruff", "check", "--no-cache", *paths])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    paths = [name for name in LINTED if (ROOT / name).is_dir()]
    paths += sorted(path.name for path in ROOT.glob("*.py"))  # gunicorn.conf.py
    result = _run(["ruff", "format", "--check", "--no-cache", *paths])
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_test_module_imports_from_conftest() -> None:
    # conftest.py is pytest's to load; importing it by name loads it a second time
    # under another module name. Shared helpers live in helpers.py / realserver.py.
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if re.search(r"^\s*(from conftest import|import conftest)", path.read_text(), re.M)
    ]
    assert offenders == []


def test_the_pre_commit_hooks_run_the_same_gates() -> None:
    # pyyaml comes with uvicorn[standard], in the test extra.
    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    entries = {hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert entries == {"ruff format", "ruff check", "mypy --strict twinframe"}
