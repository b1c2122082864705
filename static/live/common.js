// Shared by the office page and the console: one-shot signaling (the offer carries every ICE
// candidate, the server answers with all of its own), status line, strings.
"use strict";
const Live = (() => {
  const strings = JSON.parse(document.getElementById("live-strings").textContent);
  const fmt = (key, vars) => (strings[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const statusEl = () => document.getElementById("status");
  function setStatus(state, key, vars) {
    const el = statusEl();
    if (!el) return;
    el.dataset.state = state;
    el.textContent = fmt(key, vars);
  }
  function waitIceComplete(pc, timeoutMs = 3000) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      pc.addEventListener("icegatheringstatechange", check);
      setTimeout(done, timeoutMs); // host candidates are enough on a LAN; do not wait forever for STUN
    });
  }
  async function postJSON(url, body, headers) {
    const csrf = document.querySelector('meta[name="csrf-token"]');
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: Object.assign({"Content-Type": "application/json", "X-CSRF-Token": csrf ? csrf.content : ""}, headers || {}),
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const d = data && data.detail;
      const reason = d && (d.message || (typeof d === "string" ? d : JSON.stringify(d))) || res.statusText;
      const err = new Error(reason);
      err.status = res.status;
      err.code = d && d.code;
      throw err;
    }
    return data;
  }
  async function iceServers(headers) {
    const res = await fetch("/api/v1/live/ice-servers", {credentials: "same-origin", headers: headers || {}});
    if (!res.ok) return [];
    return (await res.json()).iceServers || [];
  }
  // Faces must keep their pixels: ask the browser to lower the frame rate, not the resolution,
  // when bandwidth or CPU is short (no silent downscale to 960x540 under load), and give it enough bitrate.
  async function keepResolution(sender, maxBitrate) {
    try {
      const p = sender.getParameters();
      p.degradationPreference = "maintain-resolution";
      if (!p.encodings || !p.encodings.length) p.encodings = [{}];
      p.encodings[0].maxBitrate = maxBitrate;
      p.encodings[0].scaleResolutionDownBy = 1;
      await sender.setParameters(p);
    } catch (e) {
      console.warn("setParameters failed", e);
    }
  }
  return {strings, fmt, setStatus, waitIceComplete, postJSON, iceServers, keepResolution};
})();
