"""A real headless Chromium joins from the office page with a 1080p camera (its fake camera plays a
real 1920x1080 clip with faces) and the server receives 1920x1080 frames, from the first decoded
frame and all through the join: the page asks getUserMedia for 1080p, sets the sender to keep the
resolution (degradationPreference "maintain-resolution", enough maxBitrate, contentHint "detail"),
so a low bandwidth estimate or a busy CPU lowers the frame rate, not the size the camera check and
recognition need; and the estimate starts where 1080p fits (x-google-start-bitrate in the answer),
since aiortc's receiver lets it grow only from what already arrives. The received size is read where
the server samples frames (the media status's `resolution`, the one the consoles show); the
browser's own sender statistics are in the failure message. Without maintain-resolution Chromium
sent 640x360 for the whole join; without the start bitrate, 1080p at about 2.4 frames a second."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.app.live.conftest import build_live_world

from .cdp import Browser, fake_camera
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]
WATCH_S = 20.0      # how long the received size is watched after the first frame
FULL_HD = [1920, 1080]
MIN_FPS = 5.0       # received frames a second, at least

# Every RTCPeerConnection the page makes, so the test can read the sender's own statistics.
KEEP_PEERS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) { const pc = new Original(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Original.prototype;
})();
"""
SENDER_STATS = r"""
(async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  if (!pc) return null;
  const sender = pc.getSenders().find((s) => s.track && s.track.kind === 'video');
  const params = sender.getParameters();
  const out = {degradation: params.degradationPreference || null,
               maxBitrate: (params.encodings[0] || {}).maxBitrate || null,
               contentHint: sender.track.contentHint, settings: sender.track.getSettings(),
               startKbps: +((/x-google-start-bitrate=(\d+)/.exec(pc.remoteDescription.sdp) || [])[1] || 0)};
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'media-source' && r.kind === 'video') out.sourceFps = r.framesPerSecond;
    if (r.type === 'candidate-pair' && r.nominated) out.availableOutgoingBitrate = r.availableOutgoingBitrate;
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      Object.assign(out, {frameWidth: r.frameWidth, frameHeight: r.frameHeight, fps: r.framesPerSecond,
                          limitation: r.qualityLimitationReason, durations: r.qualityLimitationDurations,
                          framesEncoded: r.framesEncoded, bytesSent: r.bytesSent});
    }
  });
  return JSON.stringify(out);
})()
"""


async def test_the_join_page_sends_1080p_and_keeps_it(chromium, sqlite_url, settings_factory, shared_data,
                                                      tmp_path) -> None:
    clip = shared_data / "video" / "facenet_pytorch_video.mp4"   # 1920x1080, real faces
    y4m = await asyncio.to_thread(clip_to_y4m, clip, tmp_path / "office-1080p.y4m", fps=15, max_seconds=3)
    gen = build_live_world(sqlite_url, settings_factory, {})
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "office-profile", fake_camera(y4m))
    try:
        await browser.start()
        office = await browser.new_page()
        await office.send("Page.addScriptToEvaluateOnNewDocument", source=KEEP_PEERS)
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])
        live = world.server.app.state.live

        def feed() -> dict | None:
            media = live.media_status(world.assembly_id)
            return next((o for o in (media or {}).get("offices", []) if o["office"] == world.office_code), None)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (feed() or {}).get("resolution"):
            await asyncio.sleep(0.1)
        first = feed()
        assert first and first["resolution"], f"no frame reached the server: {first}"
        samples: list[tuple[float, list[int], int]] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < WATCH_S:
            f = feed() or {}
            samples.append((round(time.monotonic() - t0, 1), f.get("resolution"), f.get("frames", 0)))
            await asyncio.sleep(0.5)
        sender = json.loads(await office.eval(SENDER_STATS) or "null")
        why = f"server received {samples}; browser sender {sender}"
        assert sender and sender["settings"]["width"] == 1920 and sender["settings"]["height"] == 1080, why
        assert sender["degradation"] == "maintain-resolution" and sender["contentHint"] == "detail", why
        assert first["resolution"] == FULL_HD, why
        assert all(res == FULL_HD for _, res, _ in samples), why
        assert sender["startKbps"] >= 1000, why
        # Kept at 1080p, frames kept coming at a usable rate (the camera gives 15 a second, a busy
        # machine's fake camera 12): with the estimate left to start at Chromium's 300 kbit/s the
        # size was kept but about 2.4 frames a second arrived.
        assert samples[-1][2] - samples[0][2] >= MIN_FPS * (samples[-1][0] - samples[0][0]), why
        assert (sender["frameWidth"], sender["frameHeight"]) == (1920, 1080), why
    finally:
        await browser.close()
        await asyncio.to_thread(gen.close)
