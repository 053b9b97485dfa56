"""Strict typing is part of the test suite: `mypy --strict` over engine, api and flows."""

from __future__ import annotations

from pathlib import Path

from mypy import api as mypy

ROOT = Path(__file__).resolve().parents[1]


def test_the_code_type_checks_strictly() -> None:
    out, err, status = mypy.run(["--config-file", str(ROOT / "pyproject.toml"), "--no-incremental"])
    assert status == 0, out + err


def test_no_unused_imports_or_undefined_names() -> None:
    """pyflakes-level checks (ruff): unused imports, undefined names, shadowed definitions."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ruff", "check", "api", "engine", "flows", "tests", "bench"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
