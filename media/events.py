"""What a media server (the embedded aiortc one or Janus behind Apel) tells the app about who came and
went: one event shape for both, so the live service reads them the same way whichever carries the media."""
from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("apel.media")

EventCallback = Callable[[dict[str, object]], None]


class MediaEvents:
    """The app's event callback, called safely: a failing callback is logged, never raised into the
    media path (a peer's close must finish whatever the app does with the news)."""

    on_event: EventCallback | None

    def _emit(self, **event: object) -> None:
        if self.on_event is not None:
            try:
                self.on_event(dict(event))
            except Exception:
                log.exception("event callback failed")

    def _emit_left(self, room_id: str, role: str, office_key: str | None, stream: str, rejoining: bool) -> None:
        """An office or the leader hung up (others leave no trace in the app's events)."""
        if role == "office":
            self._emit(type="office_left", room=room_id, office=office_key, stream=stream, rejoining=rejoining)
        elif role == "leader":
            self._emit(type="leader_left", room=room_id)
