"""Helpers for vision tests: real photos from ../shared/data (via the `shared_data` fixture)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
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


def annotated_group_photos(shared_data: Path,
                           dogs: bool = True) -> Iterator[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]]:
    """groups/dlib_annotated: PASCAL VOC photos with every face boxed (dlib's own annotations),
    as (file name, RGB, boxes); with `dogs`, also dogs.jpg, which has no human face."""
    root = shared_data / "groups" / "dlib_annotated"
    for xml in ("training.xml", "testing.xml"):
        for im in ET.parse(root / xml).getroot().iter("image"):
            gt = [(int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height")))
                  for b in im.iter("box")]
            yield im.get("file"), read_rgb(root / im.get("file")), gt
    if dogs:
        yield "dogs.jpg", read_rgb(root / "dogs.jpg"), []
