"""The words drawn into the video (issue 19: English overlays on Indonesian pages): the app hands media/
its texts in the service's language (APEL_LANGUAGE, Indonesian by default), and the overlay captions
follow the same setting."""
from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from app.live.service import LiveService
from app.live.streams import StreamInfo
from app.live.translate import overlay_from_result
from app.web.app import create_app
from attendance.vision.types import DistancingAlert, FaceResult, FrameResult
from media.interfaces import MediaTexts, NoOverlays
from media.mosaic import render_mosaic


def _result() -> tuple[StreamInfo, FrameResult]:
    faces = [FaceResult((10 + 60 * k, 10, 40, 40), k + 1, str(k + 1) if k < 2 else None, 0.9, 0.3, k == 0,
                        0.9 if k == 0 else 0.1, (0.7 * k, 0.0, 3.0)) for k in range(3)]
    result = FrameResult(1.0, faces, violations=[(0, 1, 0.7)], alerts=[DistancingAlert(0, 1, 0.7, 0.05, new=True)])
    return StreamInfo("1/OPD", 1, 1, 1, "OPD", "j1", {"1": "Ayu", "2": "Budi"}, 0.0), result


def _media_texts(db_url: str, settings_factory, **overrides) -> MediaTexts:
    app = create_app(settings_factory(db_url, **overrides), migrate=False)
    with TestClient(app):
        service = LiveService(app, app.state.settings)   # built, not started: nothing runs
        texts = service.media.config.texts
        service.db._executor.shutdown()
    return texts


def test_overlay_caption_and_labels_are_indonesian_by_default() -> None:
    info, result = _result()
    ov = overlay_from_result(info, result, (640, 360))
    assert ov.caption == "2/3 dikenali, 1 terlalu dekat"
    assert [b.label for b in ov.boxes] == ["Ayu [masker] 0.70+-0.05m", "Budi 0.70+-0.05m", "?"]
    assert overlay_from_result(info, result, (640, 360), "en").caption == "2/3 recognised, 1 too close"


def test_media_draws_the_service_language(db_url: str, settings_factory) -> None:
    texts = _media_texts(db_url, settings_factory)          # APEL_LANGUAGE unset: Indonesian
    assert texts == MediaTexts(waiting_for_leader="Apel: menunggu pimpinan", waiting_for_offices="Menunggu kantor",
                               no_video="[tanpa video]", frozen="[membeku]")
    assert all(s.isascii() for s in (texts.waiting_for_leader, texts.waiting_for_offices, texts.no_video,
                                     texts.frozen)), "OpenCV's Hershey font draws ASCII only"
    # What the mosaic draws is those words, not media's English defaults.
    drawn = render_mosaic([], NoOverlays(), (640, 360), texts)
    assert np.array_equal(drawn, render_mosaic([], NoOverlays(), (640, 360), MediaTexts(
        waiting_for_offices="Menunggu kantor")))
    assert not np.array_equal(drawn, render_mosaic([], NoOverlays(), (640, 360)))
    tile = render_mosaic([("1/OPD", "OPD", None, False)], NoOverlays(), (640, 360), texts)
    assert not np.array_equal(tile, render_mosaic([("1/OPD", "OPD", None, False)], NoOverlays(), (640, 360)))

    assert _media_texts(db_url, settings_factory, language="en") == MediaTexts()   # configurable
