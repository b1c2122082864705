"""The live apel: ICE servers for the browser, the SDP answers to joins, and the live roll-call with
the media status of each office's feed (what the consoles show next to the roll-call)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from app.web.schemas.attendance import RollcallOut


class IceServer(BaseModel):
    urls: str = Field(examples=["stun:stun.example:3478"])
    username: str | None = Field(None, description="TURN servers only.")
    credential: str | None = Field(None, description="TURN servers only.")


class IceServersOut(BaseModel):
    # The name RTCConfiguration takes: the browser passes this list to RTCPeerConnection as it is.
    iceServers: list[IceServer]


class JoinOut(BaseModel):
    """The server's SDP answer to a console's offer."""

    sdp: str
    type: str = Field(description="answer")
    assembly_id: int
    peer_id: str


class OfficeJoinOut(JoinOut):
    office: str = Field(description="Office code.")
    roster_size: int = Field(description="How many people the office's camera can recognise (its enrolled staff).")
    media: str = Field("embedded", description="embedded | janus (APEL_MEDIA).")
    leader_feed: str | None = Field(None, description="APEL_MEDIA=janus: the leader's audio and video come on a "
                                    "second connection; POST here (office, token) for its SDP offer, then "
                                    "POST the answer to <leader_feed>/answer.")


class LeaderFeedOfferOut(BaseModel):
    """Janus's SDP offer of the leader's feed to one office (APEL_MEDIA=janus)."""

    sdp: str
    type: str = Field(description="offer")
    assembly_id: int
    office: str
    subscription: str = Field(description="Send it back with the answer.")


class LeaderFeedStartedOut(BaseModel):
    assembly_id: int
    office: str
    subscription: str


class CameraCheckOut(BaseModel):
    """Can this office's camera name its people (attendance.vision.camera_check), from the last few
    seconds of its feed. Advice codes translate as `camera.advice.<code>` (locales/camera.json)."""

    state: str = Field(description="ok | warn | bad")
    advice: list[str] = Field(description="What to change, most important first: zoom_in, closer, send_1080p, "
                              "back_row, more_light, backlit, blurry, no_faces.")
    width: int = Field(description="Resolution actually received (pixels).")
    height: int
    faces: int = Field(description="Faces in view.")
    median_face_px: int | None = Field(description="Median face box width (pixels); null without faces.")
    smallest_face_px: int | None
    under_floor: int = Field(description="Faces narrower than the floor below which faces are seldom named.")
    floor_px: int
    masked_floor_px: int
    brightness: float = Field(description="Mean grey level of the frame, 0-255.")
    face_brightness: float | None
    sharpness: float | None
    t_s: float = Field(description="Frame time of the check (seconds of the stream).")


class OfficeCameraOut(BaseModel):
    """An office's own camera check, for its join page and `apel camera`."""

    office: str
    assembly_id: int
    joined: bool = Field(description="The office's feed has joined this apel on this server.")
    camera: CameraCheckOut | None = Field(description="Null until the first analysed frames.")


class FeedStatus(BaseModel):
    """One office's camera feed; the `*_frames` and `join_to_*` fields only while it is analysed."""

    office: str = Field(description="Office code.")
    label: str
    connected: bool
    frames: int = Field(description="Frames received.")
    sampled: int = Field(description="Frames sampled for analysis.")
    resolution: list[int] | None = Field(description="[width, height]")
    seconds_since_frame: float | None
    frozen: bool = Field(description="No frame for a while although connected.")
    max_gap_s: float | None
    analysed_frames: int | None = None
    submitted_frames: int | None = None
    replaced_before_analysis: int | None = Field(None, description="Sampled frames a newer one replaced before a "
                                                 "vision worker was free.")
    join_to_first_analysis_s: float | None = None
    join_to_first_frame_s: float | None = None
    camera: CameraCheckOut | None = None


class LeaderStreamStatus(BaseModel):
    frames_encoded: int
    receivers: int
    keyframes: int


class PushLatency(BaseModel):
    """Seconds from an office frame's arrival to the roll-call with its sightings on the consoles (the
    last 500 roll-calls sent)."""

    n: int
    p50: float
    max: float


class MediaStatus(BaseModel):
    room: str
    leader_connected: bool
    observers: int
    offices: list[FeedStatus]
    leader_stream: LeaderStreamStatus
    sighting_to_console_s: PushLatency | None
    media: str = Field("embedded", description="embedded | janus (APEL_MEDIA).")
    media_error: str | None = Field(None, description="APEL_MEDIA=janus: why Janus cannot be reached now "
                                    "(null while it works); the feeds through it are gone until it is back.")


class LiveRollcallOut(RollcallOut):
    media: MediaStatus | None = Field(description="Null while nobody is connected to the apel.")
