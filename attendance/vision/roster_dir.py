"""A roster folder (one subfolder per person, named by the person's id, photos inside) turned
into RosterPerson templates, as `apel analyze` and the benchmarks use it."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from attendance.errors import Invalid
from attendance.vision.config import DEFAULT_RECOGNISER
from attendance.vision.enrol import FaceRejected, enrol_face
from attendance.vision.recognise.recognisers import Recogniser
from attendance.vision.types import RosterPerson

log = logging.getLogger(__name__)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image_rgb(path: Path) -> np.ndarray:
    """Decode an image file or raise ValueError naming it (zero-byte, not an image, truncated)."""
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    data = np.fromfile(str(path), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def roster_photos(root: Path) -> dict[str, list[Path]]:
    if not root.is_dir():
        raise Invalid("roster_not_a_folder", f"roster {root}: not a folder")
    people = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
        if photos:
            people[d.name] = photos
    if not people:
        raise Invalid("roster_empty", f"roster {root}: empty (expected one subfolder of photos per person)")
    return people


def _warn_skipped(path: Path, why: str) -> None:
    log.warning("roster photo %s skipped: %s", path, why)


def enrol_roster(root: Path, *, masked_variants: bool = True, strict: bool = True,
                 exclude: set[Path] | None = None, limit_per_person: int | None = None,
                 on_skip: Callable[[Path, str], None] | None = None,
                 recogniser: str | Recogniser = DEFAULT_RECOGNISER) -> list[RosterPerson]:
    """Enrol every photo. A photo without exactly one usable face (none, several, small, blurry,
    unreadable) is skipped and reported via on_skip (by default a logged warning naming it): one bad
    photo among a person's several must not stop an analysis. strict: a person left with no usable
    photo at all is an error naming every such person and why each of their photos failed; otherwise
    they are left out."""
    report = on_skip or _warn_skipped
    out = []
    hopeless: list[str] = []
    for pid, photos in roster_photos(root).items():
        rows, kinds = [], []
        used = 0
        reasons: list[str] = []
        for p in photos:
            if exclude and p.resolve() in exclude:
                continue
            if limit_per_person is not None and used >= limit_per_person:
                break
            try:
                face = enrol_face(read_image_rgb(p), masked_variants=masked_variants, recogniser=recogniser)
            except (FaceRejected, ValueError) as e:
                msg = e.message if isinstance(e, FaceRejected) else str(e)
                reasons.append(f"{p.name}: {msg}")
                report(p, msg)
                continue
            used += 1
            rows.append(face.embedding)
            kinds.append("photo")
            for m in face.masked_embeddings:
                rows.append(m)
                kinds.append("masked")
        if rows:
            out.append(RosterPerson(pid, np.stack(rows).astype(np.float32), tuple(kinds)))
        elif strict:
            hopeless.append(f"{pid} ({'; '.join(reasons) or 'no photo'})")
    if hopeless:
        raise Invalid("roster_no_usable_photo", f"roster {root}: no usable photo for {len(hopeless)} "
                      f"person(s): " + ", ".join(hopeless), details={"people": hopeless})
    if not out:
        raise Invalid("roster_no_usable_photo", f"roster {root}: no usable photos")
    return out
