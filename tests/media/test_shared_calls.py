"""SharedCalls: offices joining together share one room create, a node's opens share one listing."""
from __future__ import annotations

import asyncio

import pytest

from media.janus.shared_calls import SharedCalls


async def test_callers_during_a_call_share_it_and_the_next_starts_anew() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def call(key: str) -> int:
        calls.append(key)
        await release.wait()
        return len(calls)

    shared: SharedCalls[str, int] = SharedCalls()
    waiting = [asyncio.ensure_future(shared.run("room", lambda: call("room"))) for _ in range(5)]
    other = asyncio.ensure_future(shared.run("other", lambda: call("other")))
    await asyncio.sleep(0.01)   # both calls under way
    release.set()
    assert await asyncio.gather(*waiting) == [2] * 5   # one call for the five; "other" had its own
    assert await other == 2
    assert calls == ["room", "other"]
    assert await shared.run("room", lambda: call("room")) == 3   # done: a new call


async def test_an_error_reaches_every_waiter_and_is_not_kept() -> None:
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("Janus said no")

    shared: SharedCalls[int, int] = SharedCalls()
    results = await asyncio.gather(*(shared.run(1, failing) for _ in range(3)), return_exceptions=True)
    assert [str(r) for r in results] == ["Janus said no"] * 3
    assert attempts == 1
    with pytest.raises(RuntimeError):
        await shared.run(1, failing)
    assert attempts == 2


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "created"

    shared: SharedCalls[int, str] = SharedCalls()
    first = asyncio.ensure_future(shared.run(7, slow))
    second = asyncio.ensure_future(shared.run(7, slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "created"
    with pytest.raises(asyncio.CancelledError):
        await first
