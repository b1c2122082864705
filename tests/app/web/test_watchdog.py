"""The loop watchdog names the call that blocks the event loop (the server's one loop serves every
request and peer), and stays quiet while the loop answers."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from app.web.watchdog import LoopWatchdog


def blocking_call_for_the_test(seconds: float) -> None:
    time.sleep(seconds)


@contextmanager
def watching(caplog, threshold_s: float) -> Iterator[LoopWatchdog]:
    """A watchdog on the running loop, its errors captured, stopped however the block ends."""
    dog = LoopWatchdog(asyncio.get_running_loop(), threshold_s=threshold_s, interval_s=0.05)
    caplog.set_level(logging.ERROR, logger="apel.watchdog")
    dog.start()
    try:
        yield dog
    finally:
        dog.stop()


@pytest.mark.asyncio
async def test_a_blocked_loop_is_logged_with_the_blocking_stack(caplog):
    with watching(caplog, 0.3) as dog:
        await asyncio.sleep(0.3)        # an answering loop: nothing logged
        assert not caplog.records
        blocking_call_for_the_test(1.0)
        await asyncio.sleep(0.3)        # let the watchdog see the loop answer again
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "event loop blocked" in messages[0] and "blocking_call_for_the_test" in messages[0]
    assert "answered again" in messages[1]
    assert len(dog.stalls) == 1 and 0.8 <= dog.stalls[0] <= 2.0


@pytest.mark.asyncio
async def test_busy_but_answering_loop_is_not_a_stall(caplog):
    with watching(caplog, 0.5) as dog:
        for _ in range(10):             # short blocking slices, each well under the threshold
            blocking_call_for_the_test(0.1)
            await asyncio.sleep(0)
    assert not caplog.records and dog.stalls == []


def test_watchdog_refuses_nonsense_settings():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError):
            LoopWatchdog(loop, threshold_s=0)
    finally:
        loop.close()
