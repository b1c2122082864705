"""What the consoles hear (Server-Sent Events): the hub of per-apel subscribers, and the roll-call
publisher that sends the full live roll-call after new sightings, at most every ROLLCALL_MIN_INTERVAL_S
per apel however fast the sightings arrive; a roll-call the throttle held back goes out when the
throttle allows it (a timer), not at the next housekeeping tick."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("apel.live")

ROLLCALL_MIN_INTERVAL_S = 0.5
Event = dict[str, Any]   # {"event": name, "data": payload}


@dataclass
class EventHub:
    """Per-assembly subscribers (SSE connections), each a small queue that drops its oldest event, so a
    slow console never holds up the others or the service."""

    subscribers: dict[int, set[asyncio.Queue[Event]]] = field(default_factory=lambda: defaultdict(set))

    def subscribe(self, assembly_id: int) -> asyncio.Queue[Event]:
        q: asyncio.Queue[Event] = asyncio.Queue(maxsize=20)
        self.subscribers[assembly_id].add(q)
        return q

    def unsubscribe(self, assembly_id: int, q: asyncio.Queue[Event]) -> None:
        self.subscribers[assembly_id].discard(q)

    def has_subscribers(self, assembly_id: int) -> bool:
        return bool(self.subscribers.get(assembly_id))

    def watched(self) -> list[int]:
        """The apels some console is following."""
        return [aid for aid, subs in list(self.subscribers.items()) if subs]

    def publish(self, assembly_id: int, event: Event) -> None:
        for q in list(self.subscribers.get(assembly_id, ())):
            if q.full():
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(event)


class RollcallPublisher:
    """Marks apels whose roll-call changed and publishes it to their consoles, throttled per apel.
    Also measures the push latency: a sighting's frame time to its roll-call on the consoles."""

    def __init__(self, hub: EventHub, rollcall: Callable[[int], Awaitable[dict[str, Any]]]) -> None:
        self._hub = hub
        self._rollcall = rollcall
        self._due: set[int] = set()
        self._last: dict[int, float] = {}               # apel -> monotonic time of its last roll-call
        self._unpublished_since: dict[int, float] = {}  # apel -> frame time (epoch) of its oldest unsent sighting
        self.push_lags_s: list[float] = []              # office frame received -> its sightings on the consoles
        self._poked: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # publishes what the throttle held back, when it allows
        self._closed = False

    def poke(self, assembly_id: int) -> None:
        """Another process wrote sightings of this apel (a vision node's NOTIFY): its roll-call is due,
        published now if the throttle allows (one publishing task at a time however many pokes come;
        what the throttle holds back goes out when it allows, by publish_due's timer)."""
        if not self._hub.has_subscribers(assembly_id):
            return
        self.mark_due(assembly_id)
        self._publish_soon()

    def _publish_soon(self) -> None:
        if self._poked is None or self._poked.done():
            self._poked = asyncio.ensure_future(self.publish_due())

    def _publish_at(self, when: float) -> None:
        """publish_due at `when` (loop time): a roll-call the throttle held back goes out as soon as the
        throttle allows (the housekeeping's ticks, every 0.5 s, added up to 0.5 s to its wait)."""
        if self._closed or (self._timer is not None and self._timer.when() <= when):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._poked is not None and not self._poked.done():   # a publication runs: once it is done
            self._publish_at(asyncio.get_running_loop().time() + 0.05)
            return
        self._publish_soon()

    def mark_due(self, assembly_id: int, *, sighting_at: float | None = None, now: bool = False) -> None:
        """The apel's roll-call changed (`sighting_at`: the frame time of new sightings); `now`: send
        the next one without waiting for the throttle (the apel ended)."""
        self._due.add(assembly_id)
        if sighting_at is not None:
            self._unpublished_since.setdefault(assembly_id, sighting_at)
        if now:
            self._last.pop(assembly_id, None)

    async def close(self) -> None:
        """The service stops: a publication a poke started is waited for (briefly), not left behind;
        what the throttle holds back is not sent later by a timer."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._poked = self._poked, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(task, 2.0)
            except Exception:
                pass

    async def publish_due(self) -> None:
        """Publish every due roll-call whose throttle allows it; the rest stay due for the next call."""
        now = time.monotonic()
        held: float | None = None   # the soonest the throttle lets a held-back roll-call go
        for assembly_id in list(self._due):
            if not self._hub.has_subscribers(assembly_id):
                self._due.discard(assembly_id)
                self._unpublished_since.pop(assembly_id, None)
                continue
            allowed = self._last.get(assembly_id, 0.0) + ROLLCALL_MIN_INTERVAL_S
            if now < allowed:
                held = allowed if held is None else min(held, allowed)
                continue
            self._due.discard(assembly_id)
            self._last[assembly_id] = now
            try:
                data = await self._rollcall(assembly_id)
            except Exception:
                log.exception("roll-call for apel %s failed", assembly_id)
                continue
            self._hub.publish(assembly_id, {"event": "rollcall", "data": data})
            since = self._unpublished_since.pop(assembly_id, None)
            if since is not None:
                self.push_lags_s.append(time.time() - since)
                del self.push_lags_s[:-500]
        if held is not None:
            loop = asyncio.get_running_loop()
            self._publish_at(loop.time() + max(0.0, held - time.monotonic()))
