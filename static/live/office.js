// The office operator's page: camera up (1080p where the camera has it, resolution kept, the bandwidth
// estimate started where 1080p fits), the leader's
// audio and video down, the camera check shown while connected (camera_check.js),
// automatic rejoin with backoff when the connection drops (attendance continues on the server).
// With the media on Janus (APEL_MEDIA=janus) the join's answer names `leader_feed`: the leader then
// comes on a second connection, offered by Janus through Apel (the page never talks to Janus itself).
"use strict";
(() => {
  const form = document.getElementById("join-form");
  const officeEl = document.getElementById("office");
  const tokenEl = document.getElementById("token");
  const joinBtn = document.getElementById("join");
  const leaveBtn = document.getElementById("leave");
  const leaderVideo = document.getElementById("leader");
  const preview = document.getElementById("preview");
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) tokenEl.value = hash.get("token");
  if (hash.get("office")) officeEl.value = hash.get("office");
  let pc = null, stream = null, wanted = false, attempt = 0, retryTimer = null, stopCheck = null;
  let feedPc = null, feedTimer = null;
  const checkEl = document.getElementById("camera-check");
  const BITRATE = 4000000;   // enough for 1080p at 15 fps
  // Where the sender's bandwidth estimate starts (kbit/s). Chromium's own start is far below 1080p and
  // the server's receiver (aiortc's REMB) lets it rise only from what already arrives, so a camera kept
  // at 1080p sent only a few frames a second (tests/e2e/test_join_1080p_browser.py); the
  // estimate still falls from here on a link that cannot carry it.
  const START_KBPS = 2500;

  // The answer's video codecs carry Chromium's start bitrate (x-google-start-bitrate, ignored by
  // other browsers); retransmission and FEC payloads, and the other sections, are left alone.
  function withStartBitrate(sdp, kbps) {
    const out = [];
    let section = [];
    const flush = () => {
      if (section.length && section[0].startsWith("m=video")) {
        const codecs = section.map((l) => /^a=rtpmap:(\d+) (VP8|VP9|H264|AV1)\//i.exec(l))
          .filter(Boolean).map((m) => m[1]);
        for (const pt of codecs) {
          const at = section.findIndex((l) => l.startsWith("a=fmtp:" + pt + " "));
          if (at >= 0) {
            if (!section[at].includes("x-google-start-bitrate")) section[at] += ";x-google-start-bitrate=" + kbps;
          } else {
            section.splice(section.findIndex((l) => l.startsWith("a=rtpmap:" + pt + " ")) + 1, 0,
                           "a=fmtp:" + pt + " x-google-start-bitrate=" + kbps);
          }
        }
      }
      out.push(...section);
      section = [];
    };
    for (const line of sdp.split("\r\n")) {
      if (line.startsWith("m=")) flush();
      section.push(line);
    }
    flush();
    return out.join("\r\n");
  }

  async function camera() {
    if (stream) return stream;
    Live.setStatus("camera", "camera");
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      // Faces need pixels (the camera check's floor): 1080p where the camera has it, else its best.
      video: {width: {ideal: 1920}, height: {ideal: 1080}, frameRate: {ideal: 15, max: 15}},
    });
    const track = stream.getVideoTracks()[0];
    if ("contentHint" in track) track.contentHint = "detail";
    preview.srcObject = stream;
    return stream;
  }

  async function connect() {
    const office = officeEl.value.trim(), token = tokenEl.value.trim();
    const s = await camera();
    Live.setStatus("connecting", "connecting");
    const auth = {"X-Office-Code": office, "X-Office-Token": token};
    const iceServers = await Live.iceServers(auth);
    const conn = new RTCPeerConnection({iceServers});
    pc = conn;
    const track = s.getVideoTracks()[0];
    const tx = conn.addTransceiver(track, {direction: "sendrecv", streams: [s],
                                           sendEncodings: [{maxBitrate: BITRATE}]});
    conn.addTransceiver("audio", {direction: "recvonly"});
    const remote = new MediaStream();
    conn.ontrack = (ev) => { remote.addTrack(ev.track); leaderVideo.srcObject = remote; };
    conn.onconnectionstatechange = () => {
      if (conn !== pc) return;
      if (conn.connectionState === "connected") { attempt = 0; Live.setStatus("connected", "connected"); }
      if (conn.connectionState === "failed" || conn.connectionState === "closed") scheduleRetry();
    };
    await conn.setLocalDescription(await conn.createOffer());
    await Live.waitIceComplete(conn);
    const answer = await Live.postJSON("/api/v1/live/office/join",
      {office, token, sdp: conn.localDescription.sdp, type: conn.localDescription.type});
    await conn.setRemoteDescription({sdp: withStartBitrate(answer.sdp, START_KBPS), type: answer.type});
    await Live.keepResolution(tx.sender, BITRATE);
    if (answer.leader_feed) leaderFeed(conn, answer.leader_feed, {office, token}, iceServers);
    if (stopCheck) stopCheck();
    stopCheck = CameraCheckUI.poll(checkEl, auth, () => wanted);
  }

  function closeFeed() {
    if (feedTimer) { clearTimeout(feedTimer); feedTimer = null; }
    if (feedPc) { try { feedPc.close(); } catch (e) { /* already closed */ } feedPc = null; }
  }

  // The leader's audio and video from Janus: Janus offers (through Apel), this page answers. Until the
  // leader sends (409 leader_not_live), or when this connection drops, it asks again a little later,
  // for as long as the office's own connection `owner` is the current one.
  async function leaderFeed(owner, path, auth, iceServers) {
    closeFeed();
    const again = () => {
      if (wanted && owner === pc && !feedTimer) {
        feedTimer = setTimeout(() => { feedTimer = null; leaderFeed(owner, path, auth, iceServers); }, 3000);
      }
    };
    try {
      const offer = await Live.postJSON(path, auth);
      if (!wanted || owner !== pc) return;
      const conn = new RTCPeerConnection({iceServers});
      feedPc = conn;
      const remote = new MediaStream();
      conn.ontrack = (ev) => { remote.addTrack(ev.track); leaderVideo.srcObject = remote; };
      conn.onconnectionstatechange = () => {
        if (conn === feedPc && (conn.connectionState === "failed" || conn.connectionState === "closed")) again();
      };
      await conn.setRemoteDescription({sdp: offer.sdp, type: offer.type});
      await conn.setLocalDescription(await conn.createAnswer());
      await Live.waitIceComplete(conn);
      await Live.postJSON(path + "/answer", Object.assign({subscription: offer.subscription,
        sdp: conn.localDescription.sdp, type: conn.localDescription.type}, auth));
    } catch (err) {
      console.warn("leader feed", err);
      again();
    }
  }

  function scheduleRetry() {
    if (!wanted || retryTimer) return;
    closeFeed();
    if (pc) { try { pc.close(); } catch (e) { /* already closed */ } pc = null; }
    attempt += 1;
    const delay = Math.min(30, 2 ** (attempt - 1));
    Live.setStatus("reconnecting", "reconnecting", {s: delay});
    retryTimer = setTimeout(() => { retryTimer = null; start(); }, delay * 1000);
  }

  async function start() {
    try {
      await connect();
    } catch (err) {
      // A refusal is final (retrying cannot help): the apel is over, or the code or token is wrong.
      const over = err.code === "apel_finished";
      if (over || err.status === 401 || err.status === 400 || err.status === 403) {
        wanted = false;
        if (over) Live.setStatus("closed", "closed");
        else Live.setStatus("refused", "refused", {reason: err.code === "bad_token" ? Live.fmt("bad_token") : err.message});
        joinBtn.disabled = false; leaveBtn.disabled = true;
        closeFeed();
        if (pc) { pc.close(); pc = null; }
        if (over && stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; preview.srcObject = null; }
        return;
      }
      console.warn("join failed", err);
      scheduleRetry();
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    wanted = true; attempt = 0;
    joinBtn.disabled = true; leaveBtn.disabled = false;
    start();
  });
  leaveBtn.addEventListener("click", () => {
    wanted = false;
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    if (stopCheck) { stopCheck(); stopCheck = null; }
    closeFeed();
    if (pc) { pc.close(); pc = null; }
    Live.setStatus("idle", "idle");
    joinBtn.disabled = false; leaveBtn.disabled = true;
  });
  if (hash.get("autojoin") === "1" && officeEl.value && tokenEl.value) form.requestSubmit();
})();
