"""Fixtures for the report tests: the hand-checkable dataset on each database, a signer."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from attendance.reports.signing import Signer, load_signer

from .dataset import Dataset, seed


@pytest.fixture
def ds(session: Session) -> Dataset:
    return seed(session)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def signer(data_dir: Path) -> Signer:
    return load_signer(data_dir)
