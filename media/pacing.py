"""Small asyncio helpers the media tracks share: frame pacing and task cancellation."""
from __future__ import annotations

import asyncio
import contextlib
import time


class Pacer:
    """Wakes a track at most `fps` times a second. When the consumer is late it does not try to
    catch up with a burst of frames: the next slot is counted from now."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel a background task and wait until it has really stopped."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
