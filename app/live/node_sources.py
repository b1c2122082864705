"""Where a vision node gets an office's video: a frame source opens one leased feed and pushes its
sampled frames into a FrameSink (media's port; the node's FrameBridge is one), until closed.

The node knows nothing of where the pixels come from. `make_source` turns the `apel node --source`
spec into a source: `file:PATH` plays a video file for every office (PATH may hold `{office}`, the
office's code), for tests, demos and benchmarks on real clips. A source of live video (an RTP
forward from the media server) plugs in here the same way: a class with `open` and a spec prefix."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from attendance.errors import Invalid
from media.interfaces import FrameSink


@dataclass(frozen=True)
class Feed:
    """One leased office feed, as a source needs it."""

    assembly_id: int
    office_id: int
    office_code: str
    stream_key: str      # the key its frames carry ("<apel id>/<office code>")
    epoch: int           # the lease's run: a source may use it to tell a take-over from a rejoin
    node_id: str = ""    # the node it is opened for: a source whose feeds live on elsewhere marks them with it
    video_mid: str | None = None   # the office's video stream, when the web node told it (Janus: skips asking)


# The ApelError code a source raises while the office sends no video (it has not joined yet): the
# node asks again within a fraction of a second (node.WAITING_POLL_S) rather than after its retry
# pause, so a join is analysed at once; such a refusal should be cheap for the source.
NOT_PUBLISHING = "office_not_publishing"


class OpenFeed(Protocol):
    """A feed a source is pushing frames of; `close` stops it (no frame is pushed after it returns)."""

    async def close(self) -> None: ...


class WatchedFeed(OpenFeed, Protocol):
    """An open feed that can go dead while the office is still there (a live source: the office
    rejoined as a new publisher, which the feed does not follow). `stalled` says why it should be
    closed and opened again, or None; the node asks it several times a second (node.WAITING_POLL_S).
    A source whose feeds never stall (a looped file) leaves it out."""

    async def stalled(self) -> str | None: ...


class OrphanStopper(Protocol):
    """A source whose feeds outlive the node that opened them (Janus keeps an RTP forward to a dead
    node's port): the node that takes offices over asks it to stop what the `gone` nodes (dead or
    stopped, holding no lease) left in the apel, and to let go of its own at the end (`close`).
    `stop_orphans` raises when it could not finish (the node tries again later)."""

    async def stop_orphans(self, assembly_id: int, gone: Collection[str]) -> Sequence[object]: ...

    async def close(self) -> None: ...


class FrameSource(Protocol):
    async def open(self, feed: Feed, sink: FrameSink) -> OpenFeed:
        """Start pushing the feed's sampled frames into `sink` (on the running loop). Raises ApelError
        (or OSError) when the feed cannot be opened; the node retries later (ApelError NOT_PUBLISHING:
        within a fraction of a second)."""
        ...


class _TapFeed:
    def __init__(self, tap: object, track: object) -> None:
        self._tap, self._track = tap, track

    async def close(self) -> None:
        await self._tap.stop()    # type: ignore[attr-defined]
        self._track.stop()        # type: ignore[attr-defined]


class FileFrameSource:
    """Every office's camera is a video file, played at its own pace and looped (media.file_source),
    sampled like an office track (media.sampling.FrameTap)."""

    def __init__(self, pattern: str, *, sample_fps: float = 5.0) -> None:
        self.pattern, self.sample_fps = pattern, sample_fps

    def path_for(self, office_code: str) -> Path:
        return Path(self.pattern.replace("{office}", office_code))

    async def open(self, feed: Feed, sink: FrameSink) -> OpenFeed:
        from media.file_source import FileVideoTrack
        from media.sampling import FrameTap

        path = self.path_for(feed.office_code)
        if not path.is_file():
            raise Invalid("bad_source", f"no video file {path} for office {feed.office_code}")
        track = await asyncio.to_thread(FileVideoTrack, str(path), loop=True)
        tap = FrameTap(feed.stream_key, track, sink, sample_fps=self.sample_fps)
        tap.start()
        return _TapFeed(tap, track)


# spec prefix -> maker(rest of the spec, sample fps); a live source adds itself here
def _janus_source(rest: str, fps: float) -> FrameSource:
    """`janus:` (or `janus:ADDRESS`, this node's address as Janus reaches it; default
    APEL_JANUS_FORWARD_HOST): each leased office's video forwarded by Janus to this node. Janus's URL
    and keys come from the same settings as the web node's."""
    from app.settings import get_settings
    from media.janus.feed_source import JanusFeedSource

    s = get_settings()
    if not s.janus_url:
        raise Invalid("bad_source", "frame source janus: needs APEL_JANUS_URL (and the web node's "
                                    "APEL_JANUS_API_SECRET, APEL_JANUS_ADMIN_KEY, APEL_SECRET_KEY)")
    if not s.secret_key and not (s.data_dir / "secret_key").is_file():
        raise Invalid("bad_source", "frame source janus: set APEL_SECRET_KEY to the web node's (Janus rooms' keys "
                                    "come from it); this node has neither it nor the web node's data folder")
    return JanusFeedSource(s.janus_url, room_key=s.session_secret(), api_secret=s.janus_api_secret,
                           admin_key=s.janus_admin_key, room_base=s.janus_room_base,
                           node_address=rest.strip() or s.janus_forward_host, sample_fps=fps)


SOURCES: dict[str, Callable[[str, float], FrameSource]] = {
    "file": lambda rest, fps: FileFrameSource(rest, sample_fps=fps),
    "janus": _janus_source,
}


def make_source(spec: str, *, sample_fps: float = 5.0) -> FrameSource:
    """`KIND:ARGS` (e.g. `file:/clips/{office}.mp4`) -> a frame source; a bad spec is refused at once."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in SOURCES:
        raise Invalid("bad_source", f"frame source {spec!r}: give one of {', '.join(k + ':...' for k in SOURCES)}")
    if not sample_fps > 0:
        raise Invalid("invalid", "the sample rate must be above 0 frames a second")
    if kind == "file":
        probe = Path(rest.replace("{office}", "x"))
        if "{office}" not in rest and not probe.is_file():
            raise Invalid("bad_source", f"frame source {spec!r}: {rest} is not a file")
        if "{office}" in rest and not probe.parent.is_dir():
            raise Invalid("bad_source", f"frame source {spec!r}: the folder {probe.parent} does not exist")
    return SOURCES[kind](rest, sample_fps)
