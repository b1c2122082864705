"""Helpers for vision tests: real photos from ../shared/data (via the `shared_data` fixture)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def lfw(shared_data: Path) -> Path:
    return shared_data / "faces" / "lfw10"
