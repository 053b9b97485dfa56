"""The spec tests' bundles folder: the real catalog, and a field dictionary beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.spec.loader import BUNDLES_DIR
from tests.engine.spec.test_loader import FIELDS


def bundles_folder(tmp_path: Path, fields: str) -> Path:
    """A bundles folder under ``tmp_path`` with the real catalog; ``fields`` is written as the
    field dictionary beside it (``tmp_path / "fields.yaml"``)."""
    directory = tmp_path / "bundles"
    shutil.copytree(BUNDLES_DIR / "catalog", directory / "catalog")
    (tmp_path / "fields.yaml").write_text(fields, encoding="utf-8")
    return directory


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    """A bundles folder with the real catalog and the loader tests' field dictionary beside it."""
    return bundles_folder(tmp_path, FIELDS)
