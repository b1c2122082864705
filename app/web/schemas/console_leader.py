"""APEL_MEDIA=janus: the leader's audio and video for the read-only console (app.live.leader_watch)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class ConsoleLeaderOfferOut(BaseModel):
    """Janus's SDP offer of the leader's feed, through Apel (nothing of Janus but the SDP)."""

    sdp: str
    type: str = Field(description="offer")
    assembly_id: int
    subscription: str = Field(description="Send it back with the answer, and to close the feed.")


class ConsoleLeaderStartedOut(BaseModel):
    assembly_id: int
    subscription: str


class ConsoleLeaderClosedOut(BaseModel):
    assembly_id: int
    subscription: str
    closed: bool = True
