"""Lottery test setup: pure Python, needs neither Django settings nor a database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package may not be installed into the environment running pytest
    sys.path.insert(0, str(ROOT))

from allot.lottery import write_bundle  # noqa: E402

from .builders import make_draw  # noqa: E402


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    c, r = make_draw()
    return write_bundle(tmp_path / "bundle", commitment=c, result=r)
