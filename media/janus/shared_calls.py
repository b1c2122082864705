"""One request to Janus answering everyone who asks for the same thing while it is under way.

Offices joining together each need their apel's room created, and a vision node opening several
offices of one room each needs the room's publishers listed: without sharing, each sends its own
request and Janus answers them one after another (docs/janus.md, joins at once)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SharedCalls(Generic[K, T]):
    """Callers of `run` with the same key while its call is under way await that one call (its result or
    its error); once it is done, the next caller starts a new one. A caller that is cancelled does not
    cancel the call for the others."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[T]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(call())
            running.add_done_callback(lambda f: f.cancelled() or f.exception())   # heard by each waiter
            running.add_done_callback(lambda f: self._forget(key, f))
        return await asyncio.shield(running)

    def _forget(self, key: K, done: asyncio.Future[T]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
