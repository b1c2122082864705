"""One HR's bulk upload of big photos does not make another HR's single photo wait behind it: bulk
and single photos are analysed in separate lanes. Real images of the pixel-limit size made here (all
black: the costly part is decoding and searching them for a face) and a real photo from
../shared/data for the single enrolment."""
from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attendance.roster.photos import EnrolmentWorkers, PhotoLimits

pytestmark = pytest.mark.shared_data


def _big_black_png(pixels: int) -> bytes:
    side = int(pixels ** 0.5)
    out = io.BytesIO()
    Image.fromarray(np.zeros((side, side), np.uint8)).save(out, "PNG")
    return out.getvalue()


def test_a_single_photo_does_not_wait_behind_a_bulk_upload(shared_data: Path) -> None:
    limits = PhotoLimits()
    big = _big_black_png(int(limits.max_pixels * 0.9))
    single = (shared_data / "faces/lfw10/Tony_Blair").glob("*.jpg")
    photo = next(iter(sorted(single))).read_bytes()
    workers = EnrolmentWorkers(1)

    async def scenario() -> tuple[float, float]:
        # Warm both lanes (a worker's first task loads the models) so only the queueing is measured.
        await workers.analyse(photo, limits)
        await workers.analyse_many([("warm.jpg", photo)], limits)
        t0 = time.monotonic()
        bulk = asyncio.create_task(workers.analyse_many([(f"black{i}.png", big) for i in range(6)], limits))
        await asyncio.sleep(0.3)
        one = await workers.analyse(photo, limits, "single.jpg")
        single_done = time.monotonic() - t0
        results = await bulk
        assert one.ok and not any(r.ok for r in results)
        return single_done, time.monotonic() - t0

    try:
        single_s, bulk_s = asyncio.run(scenario())
    finally:
        workers.close()
    # In one queue the single photo finished after the whole bulk; in its own lane it finishes while
    # the bulk is still being worked through.
    assert single_s < 0.5 * bulk_s, (single_s, bulk_s)
