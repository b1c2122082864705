"""The only two things media/ knows about the rest of Apel: where sampled office frames go (a FrameSink)
and where overlays for the leader's view come from (an OverlaySource). Both are plain protocols so the
vision side can change (worker pool today, an SFU subscriber later) without touching media/."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SampledFrame:
    """One office frame picked by the tap. `t_s` is wall-clock epoch seconds at receipt."""

    stream_key: str
    frame_bgr: np.ndarray
    t_s: float
    seq: int


class FrameSink(Protocol):
    """Receives sampled frames. `put` is called on the event loop and must never block."""

    def put(self, frame: SampledFrame) -> None: ...


@dataclass(frozen=True)
class OverlayBox:
    box: tuple[int, int, int, int]          # x, y, w, h in the office frame's pixels
    label: str = ""
    color_bgr: tuple[int, int, int] = (0, 200, 0)


@dataclass
class Overlay:
    """What to draw over one office feed on the leader's mosaic."""

    boxes: list[OverlayBox] = field(default_factory=list)
    lines: list[tuple[tuple[int, int], tuple[int, int], tuple[int, int, int]]] = field(default_factory=list)
    caption: str = ""
    frame_size: tuple[int, int] | None = None  # (w, h) the boxes refer to; None = the current frame's


class OverlaySource(Protocol):
    def overlay_for(self, stream_key: str) -> Overlay | None: ...


class NoOverlays:
    def overlay_for(self, stream_key: str) -> Overlay | None:
        return None


class StaticOverlays:
    """A dict-backed OverlaySource: the app's bridge writes the latest overlay per stream into it."""

    def __init__(self) -> None:
        self._by_stream: dict[str, Overlay] = {}

    def set(self, stream_key: str, overlay: Overlay | None) -> None:
        if overlay is None:
            self._by_stream.pop(stream_key, None)
        else:
            self._by_stream[stream_key] = overlay

    def overlay_for(self, stream_key: str) -> Overlay | None:
        return self._by_stream.get(stream_key)
