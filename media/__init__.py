"""WebRTC session server (aiortc). Knows nothing of faces or the database: it hands sampled
office frames to a FrameSink and takes overlays from an OverlaySource."""
