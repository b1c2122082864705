"""APEL_MEDIA=janus: an office's video for the leader's console (its large view), and what vision found
in it for the console to draw over the video (app.live.office_watch)."""
from __future__ import annotations

from pydantic import BaseModel, Field


class OfficeVideoOfferOut(BaseModel):
    """Janus's SDP offer of one office's video, through Apel (nothing of Janus but the SDP)."""

    sdp: str
    type: str = Field(description="offer")
    assembly_id: int
    office: str = Field(description="Office code.")
    subscription: str = Field(description="Send it back with the answer, and to close the video.")


class OfficeVideoStartedOut(BaseModel):
    assembly_id: int
    office: str
    subscription: str


class OfficeVideoClosedOut(BaseModel):
    assembly_id: int
    office: str
    subscription: str
    closed: bool = True


class OverlayBoxOut(BaseModel):
    box: list[int] = Field(description="[x, y, width, height] in the office frame's pixels (frame_size).")
    label: str = Field(description="The person's name (and mask, distance), '?' for an unknown face.")
    color: str = Field(description="CSS colour: green named, orange named without a mask, red in a "
                       "distancing alert, grey unknown.")


class OverlayLineOut(BaseModel):
    start: list[int] = Field(alias="from", description="[x, y] in the office frame's pixels.")
    to: list[int]
    color: str


class OfficeOverlayOut(BaseModel):
    """What the embedded mosaic draws over an office's tile, for the console's canvas."""

    office: str
    frame_size: list[int] | None = Field(description="[width, height] the boxes refer to; null: nothing yet.")
    boxes: list[OverlayBoxOut]
    lines: list[OverlayLineOut] = Field(description="Between the people of each distancing alert.")
    caption: str
