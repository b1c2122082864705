// APEL_MEDIA=janus, the read-only console (observers, HR): the leader's sound and picture in a small
// panel. In the embedded mode the console's own connection brings the mosaic and the leader's audio;
// with Janus it has no mosaic to receive, so the console subscribes to the leader's feed (Janus's SDP
// offer, through Apel: POST .../leader-feed, then .../leader-feed/answer). Until the leader sends (409
// leader_not_live) it asks again every 3 s, and at once when the console's event stream says the leader
// joined. Every state without the leader playing is said in the panel (waiting for the leader,
// connecting, Janus unreachable, stalled, ended): never a silent black box. A browser that holds the
// sound back until a press gets a button for it. console.js passes the media events on (media, ended).
"use strict";
const LeaderPanel = (() => {
  const panel = document.getElementById("leader-panel");
  if (!panel) return {media() {}, ended() {}};
  const root = document.getElementById("console");
  const node = document.getElementById("console-leader-strings");
  const S = node ? JSON.parse(node.textContent) : {};
  const fmt = (key, vars) => (S[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const video = document.getElementById("leader-video");
  const msg = document.getElementById("leader-msg");
  const soundBtn = document.getElementById("leader-sound");
  const url = `/api/v1/live/assemblies/${root.dataset.assembly}/leader-feed`;
  const consoleId = Math.random().toString(36).slice(2, 14);   // this page's own subscription
  const RETRY_S = 3, CHECK_MS = 1000, STALL_S = 4;
  let pc = null, subscription = null, timer = null, attempt = 0, gen = 0, done = false;
  let playing = false, stillFor = 0, last = {frames: 0, audio: 0};
  let lostJanus = null;    // why Janus cannot be reached now (the media events')
  let soundHeld = false;   // the browser refused to play sound before a press on the page

  function say(state, key, vars) {
    panel.dataset.state = state;
    const text = state === "playing" ? (soundHeld ? S.muted : "") : (key ? fmt(key, vars) : "");
    msg.textContent = text;
    msg.hidden = !text;
    video.hidden = state !== "playing";
  }

  function hangUp() {
    gen += 1;
    playing = false;
    stillFor = 0;
    last = {frames: 0, audio: 0};
    if (pc) { try { pc.close(); } catch (e) { /* closed */ } pc = null; }
    if (subscription) {   // the pc's close also makes Janus hang up; this says it at once
      Live.postJSON(`${url}/close`, {console: consoleId, subscription}).catch(() => {});
      subscription = null;
    }
    video.srcObject = null;
  }

  function later(seconds) {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; connect(); }, seconds * 1000);
  }

  function refused(err) {
    hangUp();
    if (done) return;
    if (err.code === "leader_not_live") {
      say("waiting_leader", "waiting_leader");
      later(RETRY_S);
    } else if (err.code === "apel_not_open") {
      ended();
    } else if (err.status === 503 || err.code === "janus_unreachable") {
      attempt += 1;
      const s = Math.min(30, 2 ** attempt);
      say("janus_down", "janus_down", {s});
      later(s);
    } else if ([401, 403, 404, 409].includes(err.status)) {
      say("refused", "refused", {reason: err.message});
    } else {
      attempt += 1;
      const s = Math.min(30, 2 ** attempt);
      say("failed", "failed", {reason: err.message || String(err), s});
      later(s);
    }
  }

  function play() {
    video.muted = false;
    video.play().then(() => { if (!video.muted) soundHeld = false; sound(); }).catch((e) => {
      if (!e || e.name !== "NotAllowedError") return;
      soundHeld = true;        // autoplay with sound refused: the picture plays muted, a press brings the sound
      video.muted = true;
      video.play().catch(() => {});
      sound();
    });
  }
  function sound() {
    soundBtn.hidden = !soundHeld;
    panel.dataset.sound = soundHeld ? "held" : "on";
    if (panel.dataset.state === "playing") say("playing");
  }
  soundBtn.addEventListener("click", () => {
    video.muted = false;
    video.play().then(() => { soundHeld = false; sound(); }).catch(() => {});
  });

  async function connect() {
    clearTimeout(timer);
    timer = null;
    if (done) return;
    hangUp();
    const mine = gen;
    say("connecting", "connecting");
    try {
      const offer = await Live.postJSON(url, {console: consoleId});
      if (mine !== gen || done) {
        Live.postJSON(`${url}/close`, {console: consoleId, subscription: offer.subscription}).catch(() => {});
        return;
      }
      subscription = offer.subscription;
      const conn = new RTCPeerConnection({iceServers: await Live.iceServers()});
      if (mine !== gen) { conn.close(); return; }
      pc = conn;
      const stream = new MediaStream();
      conn.ontrack = (ev) => { stream.addTrack(ev.track); video.srcObject = stream; play(); };
      conn.onconnectionstatechange = () => {
        if (conn === pc && ["failed", "closed"].includes(conn.connectionState)) {
          refused({message: S.connection_failed || "failed"});
        }
      };
      await conn.setRemoteDescription({type: "offer", sdp: offer.sdp});
      await conn.setLocalDescription(await conn.createAnswer());
      await Live.waitIceComplete(conn);
      if (mine !== gen) return;
      await Live.postJSON(`${url}/answer`,
        {console: consoleId, subscription, sdp: conn.localDescription.sdp, type: "answer"});
      if (mine === gen) say("waiting", "waiting_picture");
    } catch (err) {
      if (mine === gen) refused(err);
    }
  }

  // Whether the leader comes through: decoded pictures or received sound, from the connection's stats.
  async function check() {
    const conn = pc;
    if (!conn || done) return;
    let frames = 0, audio = 0;
    try {
      (await conn.getStats()).forEach((r) => {
        if (r.type !== "inbound-rtp") return;
        if (r.kind === "video") frames += r.framesDecoded || 0;
        else if (r.kind === "audio") audio += r.packetsReceived || 0;
      });
    } catch (e) { return; }
    if (conn !== pc) return;
    panel.dataset.frames = String(frames);
    panel.dataset.audio = String(audio);
    const moving = frames > last.frames || audio > last.audio;
    last = {frames, audio};
    if (moving && frames > 0) {
      stillFor = 0;
      attempt = 0;
      if (!playing) { playing = true; say("playing"); }
    } else if (!moving && (playing || panel.dataset.state === "waiting")) {
      stillFor += CHECK_MS / 1000;
      if (stillFor >= STALL_S) {
        playing = false;
        say("stalled", "stalled");
        if (stillFor >= 3 * STALL_S) connect();
      }
    }
  }
  setInterval(check, CHECK_MS);

  // The console's media events: the leader came or went, Janus lost.
  function media(d) {
    if (done || !d) return;
    if (d.type === "leader_left") {
      hangUp();
      say("waiting_leader", "waiting_leader");
      later(RETRY_S);
    } else if (d.type === "leader_joined" && !playing) {
      connect();
    } else if (d.type === "media_restored") {
      lostJanus = null;
      if (!playing) connect();
    } else if (d.type === "media_error" || d.type === "status") {
      // Janus lost: said at once (once, not at every status), then asked again with backoff.
      const why = d.type === "media_error" ? (d.message || "janus_unreachable") : (d.media_error || null);
      const lost = why && !lostJanus;
      lostJanus = why;
      if (lost) refused({status: 503, code: "janus_unreachable", message: why});
    }
  }
  function ended() {
    done = true;
    clearTimeout(timer);
    hangUp();
    soundBtn.hidden = true;
    say("ended", "ended");
  }

  window.addEventListener("pagehide", hangUp);
  connect();
  return {media, ended};
})();
