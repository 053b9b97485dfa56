"""Lint inside the suite: ruff's pyflakes-level checks (well under a second).

Strict typing (`mypy --strict` over engine, api and flows, configured in pyproject.toml) is its
own CI step in .ci/run, before the tests: inside pytest it cost half a minute of every run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_unused_imports_or_undefined_names() -> None:
    """pyflakes-level checks (ruff): unused imports, undefined names, shadowed definitions."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "api", "engine", "flows", "tests", "bench"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
