"""The roll-call's throttle: a change the throttle held back reaches the consoles as soon as the
throttle allows, on its own (not at the next housekeeping tick or sighting), and nothing is sent after
the service closed the publisher."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from app.live.events import ROLLCALL_MIN_INTERVAL_S, EventHub, RollcallPublisher


def _publisher() -> tuple[RollcallPublisher, asyncio.Queue[dict[str, Any]], list[float]]:
    hub = EventHub()
    asked: list[float] = []

    async def rollcall(assembly_id: int) -> dict[str, Any]:
        asked.append(time.monotonic())
        return {"assembly_id": assembly_id, "n": len(asked)}

    return RollcallPublisher(hub, rollcall), hub.subscribe(1), asked


async def test_a_held_back_rollcall_goes_out_when_the_throttle_allows() -> None:
    publisher, console, asked = _publisher()
    try:
        publisher.mark_due(1)
        await publisher.publish_due()
        assert (await asyncio.wait_for(console.get(), 1))["data"]["n"] == 1
        publisher.mark_due(1)           # a sighting right after: held back ...
        await publisher.publish_due()
        assert console.empty()
        second = await asyncio.wait_for(console.get(), 2 * ROLLCALL_MIN_INTERVAL_S)   # ... and sent by itself
        assert second["data"]["n"] == 2
        assert ROLLCALL_MIN_INTERVAL_S - 0.01 <= asked[1] - asked[0] <= ROLLCALL_MIN_INTERVAL_S + 0.15, asked
    finally:
        await publisher.close()


async def test_nothing_is_sent_after_close() -> None:
    publisher, console, asked = _publisher()
    publisher.mark_due(1)
    await publisher.publish_due()
    await console.get()
    publisher.mark_due(1)
    await publisher.publish_due()   # held back: a timer would send it
    await publisher.close()
    await asyncio.sleep(ROLLCALL_MIN_INTERVAL_S + 0.2)
    assert console.empty() and len(asked) == 1
