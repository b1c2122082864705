"""The leader's view of every office: one composed picture (a grid of the latest frame of each office
with its overlays), encoded once and shared by the leader and every observer.

Why a mosaic and not one track per office: forwarding N office feeds to the leader through aiortc means
decoding and re-encoding each of them (one VP8 encode per office; BENCHMARKS.md has the cost); a mosaic at a
modest rate costs one encode whatever the number of offices."""
from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.interfaces import AV_FRAME_LOCK, MediaTexts, Overlay, OverlaySource
from media.pacing import Pacer

Tile = tuple[str, str, "av.VideoFrame | None", bool]   # stream_key, caption, latest frame, frozen?
ENGLISH = MediaTexts()


def grid_shape(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    return cols, rows


def draw_overlay(tile: np.ndarray, overlay: Overlay, src_w: int, src_h: int) -> None:
    th, tw = tile.shape[:2]
    ref_w, ref_h = overlay.frame_size or (src_w, src_h)
    sx, sy = tw / max(ref_w, 1), th / max(ref_h, 1)
    for b in overlay.boxes:
        x, y, w, h = b.box
        p1 = (int(x * sx), int(y * sy))
        p2 = (int((x + w) * sx), int((y + h) * sy))
        cv2.rectangle(tile, p1, p2, b.color_bgr, 2)
        if b.label:
            (tw_, th_), base = cv2.getTextSize(b.label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            y = max(th_ + 4, p1[1] - 4)
            cv2.rectangle(tile, (p1[0], y - th_ - 3), (p1[0] + tw_ + 4, y + base - 1), (20, 20, 20), -1)
            cv2.putText(tile, b.label, (p1[0] + 2, y - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, b.color_bgr, 1, cv2.LINE_AA)
    for a, c, color in overlay.lines:
        cv2.line(tile, (int(a[0] * sx), int(a[1] * sy)), (int(c[0] * sx), int(c[1] * sy)), color, 2)
    if overlay.caption:
        cv2.putText(tile, overlay.caption, (6, th - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)


def render_mosaic(tiles: list[Tile], overlays: OverlaySource, size: tuple[int, int],
                  texts: MediaTexts = ENGLISH) -> np.ndarray:
    w, h = size
    canvas = np.zeros((h, w, 3), np.uint8)
    if not tiles:
        cv2.putText(canvas, texts.waiting_for_offices, (24, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (200, 200, 200), 2)
        return canvas
    cols, rows = grid_shape(len(tiles))
    tw, th = (w // cols) & ~1, (h // rows) & ~1
    for i, (key, caption, frame, frozen) in enumerate(tiles):
        x0, y0 = (i % cols) * tw, (i // cols) * th
        if frame is not None:
            # keep the office's aspect ratio (letterbox): stretched faces would mislead the leader
            scale = min(tw / frame.width, th / frame.height)
            fw, fh = max(2, int(frame.width * scale) & ~1), max(2, int(frame.height * scale) & ~1)
            with AV_FRAME_LOCK:   # the same frame may be converted for vision at this moment
                tile = np.ascontiguousarray(frame.reformat(width=fw, height=fh, format="bgr24").to_ndarray())
            overlay = overlays.overlay_for(key)
            if overlay is not None:
                draw_overlay(tile, overlay, frame.width, frame.height)
            ox, oy = x0 + (tw - fw) // 2, y0 + (th - fh) // 2
            canvas[oy:oy + fh, ox:ox + fw] = tile
        cv2.rectangle(canvas, (x0, y0), (x0 + tw - 1, y0 + th - 1), (80, 80, 80), 1)
        label = caption + (f"  {texts.no_video}" if frame is None else f"  {texts.frozen}" if frozen else "")
        cv2.putText(canvas, label, (x0 + 6, y0 + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 1, cv2.LINE_AA)
    return canvas


class MosaicTrack(MediaStreamTrack):
    """Produces a composed frame at `fps`, rendered in a worker thread so the event loop stays free."""

    kind = "video"

    def __init__(self, tiles: Callable[[], list[Tile]], overlays: OverlaySource, *,
                 size: tuple[int, int] = (1280, 720), fps: float = 5.0, texts: MediaTexts = ENGLISH) -> None:
        super().__init__()
        self._tiles = tiles
        self._texts = texts
        self._overlays = overlays
        self._size = size
        self._pacer = Pacer(fps)
        self._start = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait()
        tiles = self._tiles()
        img = await asyncio.get_running_loop().run_in_executor(None, render_mosaic, tiles, self._overlays, self._size,
                                                                self._texts)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = int((time.monotonic() - self._start) * 90000)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame
