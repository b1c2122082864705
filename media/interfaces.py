"""The only two things media/ knows about the rest of Apel, its ports: where sampled office frames go
(a FrameSink, pushed into) and where overlays for the leader's view come from (an OverlaySource). Both
are plain protocols so the vision side can change (worker pool today, an SFU subscriber later) without
touching media/."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

# PyAV converts a VideoFrame with a scaler cached on the frame itself: two threads converting the
# same frame at once (the bridge taking a sampled office frame, the mosaic thread drawing it)
# corrupt the heap (seen: "free(): invalid next size", a segfault in render_mosaic). Every
# conversion of a received frame takes this lock; each costs a few milliseconds.
AV_FRAME_LOCK = threading.Lock()


class DecodedFrame(Protocol):
    """What a SampledFrame needs of its source (an av.VideoFrame)."""

    def to_ndarray(self, channel_last: bool = False, **kwargs: Any) -> Any: ...


class SampledFrame:
    """One office frame picked by the tap. `t_s` is wall-clock epoch seconds at receipt.

    The pixels are converted to a BGR array only when someone reads `frame_bgr`: most sampled frames
    are replaced by a newer one before a vision worker is free, and the conversion is not free."""

    __slots__ = ("stream_key", "t_s", "seq", "_source", "_bgr")

    def __init__(self, stream_key: str, frame_bgr: NDArray[np.uint8] | None = None, t_s: float = 0.0, seq: int = 0,
                 *, source: DecodedFrame | None = None) -> None:
        if frame_bgr is None and source is None:
            raise ValueError("give frame_bgr or source (an av.VideoFrame)")
        self.stream_key, self.t_s, self.seq = stream_key, t_s, seq
        self._bgr, self._source = frame_bgr, source

    @property
    def frame_bgr(self) -> NDArray[np.uint8]:
        if self._bgr is None:
            assert self._source is not None
            with AV_FRAME_LOCK:
                self._bgr = np.asarray(self._source.to_ndarray(format="bgr24"), dtype=np.uint8)
            self._source = None
        return self._bgr


class FrameSink(Protocol):
    """Where the tap pushes each sampled frame of an office, as it arrives. `put` is called on the
    event loop and must never block: the receiver keeps what it needs (the live bridge keeps the
    latest frame per stream until a vision worker is free) and drops the rest."""

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


@dataclass(frozen=True)
class MediaTexts:
    """The words media/ draws into pictures itself. Media knows no language (the page's is the app's
    business): the app passes these in translated (MediaConfig.texts); the English defaults serve
    media/ on its own. Drawn with OpenCV's Hershey font, so ASCII only."""

    waiting_for_leader: str = "Apel: waiting for the leader"
    waiting_for_offices: str = "Waiting for offices"
    no_video: str = "[no video]"
    frozen: str = "[frozen]"


class OverlaySource(Protocol):
    """Where the mosaic reads what to draw over each office's tile (called from the mosaic's thread)."""

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
