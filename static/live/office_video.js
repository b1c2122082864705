// APEL_MEDIA=janus: the office the leader opens large, as video with its overlays. The embedded mode's
// server draws every office with its overlays into one mosaic; with Janus the console subscribes to
// the one office it opens (Janus's SDP offer, through Apel: POST .../offices/<code>/video, then the
// answer) and draws what vision found in it (names, masks, distancing boxes and lines) on a canvas
// over the video, from the office's overlay stream (.../offices/<code>/overlay). Every state that is
// not a moving picture says so in the box (not sending, Janus unreachable, connecting, stalled):
// never a silent black box. Closing the large view closes the subscription. The tiles of offices that
// send show a small still (.../offices/<code>/preview), renewed every few seconds while on screen.
// A read-only observer's console gets the same video and stills but never the overlay stream (it names
// people; the server refuses it to observers): their large view shows the picture without boxes or names.
"use strict";
const OfficeVideo = (() => {
  const root = document.getElementById("console");
  const node = document.getElementById("office-video-strings");
  const S = node ? JSON.parse(node.textContent) : {};
  const fmt = (key, vars) => (S[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const assemblyId = root.dataset.assembly;
  // "names": video with the overlays (leaders, admins); "plain": video only (observers); "": none.
  const access = root.dataset.officeVideo !== undefined ? root.dataset.officeVideo
    : (root.dataset.mode === "leader" ? "names" : "");
  const watches = access === "names" || access === "plain";
  const names = access === "names";
  const CHECK_MS = 1000, STALL_S = 4;
  // This page's own subscriptions: another console page of the same leader keeps its own.
  const consoleId = Math.random().toString(36).slice(2, 14);
  let box = null, video = null, canvas = null, msg = null;
  let cur = null;        // {code, pc, subscription, es, overlay, timer, retry, attempt, lastT, stillFor, playing}
  let want = null;       // the office the large view shows (null: closed, or not Janus mode)
  let lastFeed = null;   // its feed state on the tile (none | joined | ok | frozen | off | ended)
  let lastError = null;  // why Janus cannot be reached now (the media status's media_error)

  const el = (tag, attrs) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    return e;
  };
  const base = (code) => `/api/v1/live/assemblies/${assemblyId}/offices/${encodeURIComponent(code)}`;

  // The video box, made once and moved into the large view: re-rendering the figures leaves it alone.
  function element() {
    if (box) return box;
    box = el("div", {"class": "office-video", "data-state": "idle", hidden: ""});
    video = el("video", {autoplay: "", playsinline: "", muted: ""});
    video.muted = true;
    canvas = el("canvas", {"class": "office-video-overlay", "aria-hidden": "true"});
    msg = el("p", {"class": "office-video-msg", role: "status"});
    box.append(video, canvas, msg);
    new ResizeObserver(draw).observe(box);
    return box;
  }

  function say(state, key, vars) {
    box.dataset.state = state;
    const text = key ? fmt(key, vars) : "";
    msg.textContent = text;
    msg.hidden = !text;
    video.hidden = state !== "playing";
    canvas.hidden = state !== "playing";
  }

  function stop() {
    if (!cur) return;
    const c = cur;
    cur = null;
    clearInterval(c.timer);
    clearTimeout(c.retry);
    if (c.es) c.es.close();
    if (c.pc) { try { c.pc.close(); } catch (e) { /* closed */ } }
    if (c.subscription) {   // the pc's close also makes Janus hang up; this says it at once
      Live.postJSON(`${base(c.code)}/video/close`, {console: consoleId, subscription: c.subscription}).catch(() => {});
    }
    video.srcObject = null;
    clearCanvas();
  }

  function later(c, seconds) {
    clearTimeout(c.retry);
    c.retry = setTimeout(() => { if (cur === c) connect(c); }, seconds * 1000);
  }

  function refused(c, err) {
    if (cur !== c) return;
    if (c.pc) { try { c.pc.close(); } catch (e) { /* closed */ } c.pc = null; }
    c.subscription = null;
    c.playing = false;
    if (err.code === "office_not_publishing") {
      // Asked again when its tile says it sends, and every few seconds meanwhile.
      say("not_publishing", "not_publishing");
      later(c, 5);
    } else if (err.status === 503 || err.code === "janus_unreachable") {
      c.attempt += 1;
      const s = Math.min(30, 2 ** c.attempt);
      say("janus_down", "janus_down", {s});
      later(c, s);
    } else if (err.status === 401 || err.status === 403 || err.status === 404 || err.status === 409) {
      say("refused", "refused", {reason: err.message});
    } else {
      c.attempt += 1;
      const s = Math.min(30, 2 ** c.attempt);
      say("failed", "failed", {reason: err.message || String(err), s});
      later(c, s);
    }
  }

  async function connect(c) {
    if (cur !== c) return;
    if (c.pc) { try { c.pc.close(); } catch (e) { /* closed */ } c.pc = null; }
    c.playing = false;
    say("connecting", "connecting");
    try {
      const offer = await Live.postJSON(`${base(c.code)}/video`, {console: consoleId});
      if (cur !== c) {
        Live.postJSON(`${base(c.code)}/video/close`, {console: consoleId, subscription: offer.subscription}).catch(() => {});
        return;
      }
      c.subscription = offer.subscription;
      const pc = new RTCPeerConnection({iceServers: await Live.iceServers()});
      c.pc = pc;
      const stream = new MediaStream();
      pc.ontrack = (ev) => { stream.addTrack(ev.track); video.srcObject = stream; video.play().catch(() => {}); };
      pc.onconnectionstatechange = () => {
        if (cur !== c || c.pc !== pc) return;
        if (pc.connectionState === "failed") refused(c, {message: S.connection_failed || "failed"});
      };
      await pc.setRemoteDescription({type: "offer", sdp: offer.sdp});
      await pc.setLocalDescription(await pc.createAnswer());
      await Live.waitIceComplete(pc);
      if (cur !== c || c.pc !== pc) return;
      await Live.postJSON(`${base(c.code)}/video/answer`,
        {console: consoleId, subscription: c.subscription, sdp: pc.localDescription.sdp, type: "answer"});
      say("waiting", "waiting_picture");
    } catch (err) {
      refused(c, err);
    }
  }

  // Whether the picture moves: the video's clock advances (a frozen feed's does not).
  function check(c) {
    if (cur !== c || !c.pc) return;
    const t = video.currentTime;
    const moving = video.videoWidth > 0 && t > c.lastT;
    c.lastT = t;
    if (moving) {
      c.stillFor = 0;
      c.attempt = 0;
      if (!c.playing) { c.playing = true; say("playing", ""); draw(); }
    } else if (c.playing || box.dataset.state === "waiting") {
      c.stillFor += CHECK_MS / 1000;
      if (c.stillFor >= STALL_S) {
        c.playing = false;
        // A feed that left or froze says so; one that should be moving is asked for again.
        if (["off", "none", "ended"].includes(lastFeed)) say("not_publishing", "not_publishing");
        else say("stalled", "stalled");
        if (c.stillFor >= 3 * STALL_S) { c.stillFor = 0; connect(c); }
      }
    }
  }

  function listenOverlay(c) {
    const es = new EventSource(`${base(c.code)}/overlay`);
    c.es = es;
    es.addEventListener("overlay", (ev) => {
      if (cur !== c) return;
      c.overlay = JSON.parse(ev.data);
      box.dataset.boxes = String(c.overlay.boxes.length);
      box.dataset.caption = c.overlay.caption || "";
      draw();
    });
  }

  function clearCanvas() {
    if (canvas) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }

  // The overlay scaled from the frame vision saw to where the video shows it (object-fit: contain).
  function draw() {
    if (!cur || !canvas || !video.videoWidth) return;
    const cw = video.clientWidth, ch = video.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cw * dpr);
    canvas.height = Math.round(ch * dpr);
    canvas.style.width = `${cw}px`;
    canvas.style.height = `${ch}px`;
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cw, ch);
    const o = cur.overlay;
    if (!o) return;
    const vw = video.videoWidth, vh = video.videoHeight;
    const k = Math.min(cw / vw, ch / vh), ox = (cw - vw * k) / 2, oy = (ch - vh * k) / 2;
    const [fw, fh] = o.frame_size || [vw, vh];
    const sx = (vw * k) / Math.max(fw, 1), sy = (vh * k) / Math.max(fh, 1);
    g.lineWidth = 2;
    g.font = "13px sans-serif";
    g.textBaseline = "bottom";
    for (const l of o.lines) {
      g.strokeStyle = l.color;
      g.beginPath();
      g.moveTo(ox + l.from[0] * sx, oy + l.from[1] * sy);
      g.lineTo(ox + l.to[0] * sx, oy + l.to[1] * sy);
      g.stroke();
    }
    for (const b of o.boxes) {
      const [x, y, w, h] = b.box;
      const px = ox + x * sx, py = oy + y * sy;
      g.strokeStyle = b.color;
      g.strokeRect(px, py, w * sx, h * sy);
      if (b.label) {
        const tw = g.measureText(b.label).width;
        const ty = Math.max(18, py - 2);
        g.fillStyle = "rgba(20,20,20,.85)";
        g.fillRect(px, ty - 17, tw + 6, 17);
        g.fillStyle = b.color;
        g.fillText(b.label, px + 3, ty - 2);
      }
    }
    if (o.caption) {
      g.fillStyle = "rgba(0,0,0,.55)";
      g.fillRect(ox, oy + vh * k - 22, g.measureText(o.caption).width + 12, 22);
      g.fillStyle = "#fff";
      g.fillText(o.caption, ox + 6, oy + vh * k - 4);
    }
  }

  function open(code) {
    stop();
    const c = {code, pc: null, subscription: null, es: null, overlay: null, timer: null, retry: null, attempt: 0,
               lastT: -1, stillFor: 0, playing: false};
    cur = c;
    c.timer = setInterval(() => check(c), CHECK_MS);
    if (names) listenOverlay(c);
    connect(c);
  }

  // ConsoleGrid calls this on every update: `parent` the large view's place for the video (null when
  // the large view is closed), `code` its office, `feed` its feed state, `media` embedded | janus,
  // `mediaError` why Janus cannot be reached (said in the box at once, not after the picture stalls).
  function sync(parent, code, feed, media, mediaError) {
    const on = watches && media === "janus" && code && parent;
    if (!on) {
      want = null;
      stop();
      if (box) box.hidden = true;
      return;
    }
    element();
    if (box.parentNode !== parent) parent.appendChild(box);
    box.hidden = false;
    box.dataset.office = code;
    const was = lastFeed;
    lastFeed = feed;
    if (feed === "ended") { want = code; stop(); say("ended", "ended"); return; }
    const lost = mediaError && !lastError;
    lastError = mediaError || null;
    if (want !== code || !cur) { want = code; open(code); return; }
    if (lost) { refused(cur, {status: 503, code: "janus_unreachable", message: mediaError}); return; }
    // The office (re)started sending while the box said it did not: ask at once, not at the next try.
    if (["ok", "joined"].includes(feed) && !["ok", "joined"].includes(was) && !cur.playing) connect(cur);
  }

  // --- tile stills: a visible tile whose office sends shows its latest frame, renewed every few seconds
  const STILL_MS = 3000;
  const onScreen = new Set();
  const io = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const e of entries) { if (e.isIntersecting) onScreen.add(e.target); else onScreen.delete(e.target); }
  }) : null;
  let stillTimer = null;
  function renew(img) {
    if (img.dataset.loading === "yes") return;   // a slow answer is not asked for again on top
    img.dataset.loading = "yes";
    img.src = `${base(img.dataset.office)}/preview?t=${Date.now()}`;
  }
  function renewAll() {
    document.querySelectorAll("#office-grid .tile-preview").forEach((img) => { if (!io || onScreen.has(img)) renew(img); });
  }
  // ConsoleGrid calls this after drawing the tiles (`tiles`: office code -> its list item).
  function stills(tiles, media) {
    const on = watches && media === "janus";
    for (const [code, li] of tiles) {
      const tile = li.firstChild;
      let img = tile.querySelector(".tile-preview");
      if (!on || !["ok", "frozen"].includes(tile.dataset.feed)) {
        if (img) { if (io) io.unobserve(img); onScreen.delete(img); img.remove(); }
        continue;
      }
      if (img) continue;
      img = el("img", {"class": "tile-preview", alt: "", hidden: ""});
      img.dataset.office = code;
      img.addEventListener("load", () => { img.dataset.loading = ""; img.hidden = false; });
      img.addEventListener("error", () => { img.dataset.loading = ""; img.hidden = true; });
      tile.prepend(img);
      if (io) io.observe(img);
      renew(img);
    }
    if (on && !stillTimer) stillTimer = setInterval(renewAll, STILL_MS);
    if (!on && stillTimer) { clearInterval(stillTimer); stillTimer = null; }
  }

  window.addEventListener("pagehide", stop);
  // What the large view says about the video: with the overlays drawn here, or the picture alone.
  const note = names ? S.note : (S.note_plain || S.note);
  return {sync, stop, stills, strings: S, watches, note};
})();
