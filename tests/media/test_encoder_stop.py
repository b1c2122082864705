"""A shared encoder stopped while it waits for its source's next frame (the apel ends while the leader
is connected) leaves nothing behind: its read of the source goes with it, so the leader's track ending
a moment later logs no "Task exception was never retrieved" MediaStreamError traceback."""
from __future__ import annotations

import asyncio
import gc

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.broadcast import SharedAudioEncoder, SharedVideoEncoder


class EndingTrack(MediaStreamTrack):
    """A remote track as aiortc gives it: recv waits for the next frame; when the peer goes, it raises."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.gone = asyncio.Event()

    async def recv(self):
        await self.gone.wait()
        raise MediaStreamError


@pytest.mark.parametrize("encoder", [SharedVideoEncoder, SharedAudioEncoder])
@pytest.mark.parametrize("turns", [None, 0, 1, 2, 3])   # the track ends after the stop, or that many loop turns before
async def test_stopping_an_encoder_leaves_no_unread_error(encoder, turns) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        source = EndingTrack("video" if encoder is SharedVideoEncoder else "audio")
        enc = encoder(source)
        enc.start()
        await asyncio.sleep(0.05)   # the encoder waits in source.recv()
        if turns is not None:
            source.gone.set()
            for _ in range(turns):
                await asyncio.sleep(0)
        await enc.stop()
        source.gone.set()
        for _ in range(5):
            await asyncio.sleep(0.01)
        gc.collect()
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(previous)
    assert not reported, [(c.get("message"), repr(c.get("exception"))) for c in reported]
