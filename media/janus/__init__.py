"""Media on the Janus WebRTC server (APEL_MEDIA=janus, docs/janus.md): its HTTP API client, the
VideoRoom requests Apel uses, the rooms and joins behind Apel's own endpoints, and an office's video
forwarded by Janus to a vision node as decoded frames."""
