// Leader / observer console: the office mosaic (with overlays drawn by the server) and the live
// roll-call per office from the server's event stream; the office tiles, the large view and the
// table's sort and filter are console_grid.js's.
"use strict";
(() => {
  const root = document.getElementById("console");
  const assemblyId = root.dataset.assembly, mode = root.dataset.mode;
  // APEL_MEDIA, from the page: with Janus the read-only console has no mosaic to receive (its /observe
  // answers 501); it sees an office's video by opening the office (office_video.js), and hears and sees
  // the leader in the leader's panel (leader_panel.js).
  const noMosaic = mode !== "leader" && root.dataset.media === "janus";
  const mosaic = document.getElementById("mosaic");
  const S = Live.strings;
  const hs = document.getElementById("hand-strings");   // marked present by hand (confirm.js's strings)
  const HAND = hs ? JSON.parse(hs.textContent) : {};
  let pc = null, attempt = 0;

  async function connect() {
    const iceServers = await Live.iceServers();
    const conn = new RTCPeerConnection({iceServers});
    pc = conn;
    if (mode === "leader") {
      Live.setStatus("camera", "camera");
      const local = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: {ideal: 1280}, height: {ideal: 720}}});
      // Shown only with the leader's own picture in it: an empty one was a stray white box.
      const selfView = document.getElementById("self");
      selfView.srcObject = local;
      selfView.hidden = false;
      const v = local.getVideoTracks()[0], a = local.getAudioTracks()[0];
      const tx = conn.addTransceiver(v, {direction: "sendrecv", streams: [local]});
      if (a) conn.addTransceiver(a, {direction: "sendonly", streams: [local]});
      await Live.keepResolution(tx.sender, 1500000).catch(() => {});
    } else {
      conn.addTransceiver("video", {direction: "recvonly"});
      conn.addTransceiver("audio", {direction: "recvonly"});
    }
    const remote = new MediaStream();
    conn.ontrack = (ev) => { remote.addTrack(ev.track); mosaic.srcObject = remote; };
    conn.onconnectionstatechange = () => {
      if (conn !== pc) return;
      if (conn.connectionState === "connected") { attempt = 0; Live.setStatus("connected", "connected"); }
      if (conn.connectionState === "failed") retry();
    };
    Live.setStatus("connecting", "connecting");
    await conn.setLocalDescription(await conn.createOffer());
    await Live.waitIceComplete(conn);
    const path = mode === "leader" ? "leader" : "observe";
    const answer = await Live.postJSON(`/api/v1/live/assemblies/${assemblyId}/${path}`,
      {sdp: conn.localDescription.sdp, type: conn.localDescription.type});
    await conn.setRemoteDescription({sdp: answer.sdp, type: answer.type});
  }

  function retry() {
    if (pc) { try { pc.close(); } catch (e) { /* closed */ } pc = null; }
    attempt += 1;
    const delay = Math.min(30, 2 ** (attempt - 1));
    Live.setStatus("reconnecting", "reconnecting", {s: delay});
    setTimeout(() => connect().catch(onError), delay * 1000);
  }
  function onError(err) {
    // 501: not in this media mode (a page that did not know it); asking again would not change that.
    if (err.status === 501) Live.setStatus("no-mosaic", "no_mosaic");
    else if (err.status && err.status < 500) Live.setStatus("refused", "refused", {reason: err.message});
    else retry();
  }

  // --- roll-call
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  let feeds = {};
  let ended = false;   // the apel has ended: no feed is live any more and it cannot be ended again
  function feedLabel(code) {
    if (ended) return [S.feed_ended, "ended"];
    const f = feeds[code];
    if (!f || !f.connected) return [S.feed_off, "off"];
    return f.frozen ? [S.feed_frozen, "frozen"] : [S.feed_ok, "ok"];
  }
  let lastRollcall = null;
  let mediaMode = null;   // embedded | janus, as the media status says (null until anyone is connected)
  let mediaError = null;  // janus: why the media server cannot be reached now
  const peopleOpen = new Map();   // office code -> its people list opened (true) or closed by the person
  function markEnded() {
    ended = true;
    const btn = document.getElementById("end-apel");
    if (btn) btn.hidden = true;
  }
  function renderRollcall(data) {
    lastRollcall = data;
    if (data.assembly.status === "closed") markEnded();
    document.getElementById("apel-title").textContent = `#${data.assembly.id} ${data.assembly.title}`;
    if (data.media) {
      feeds = Object.fromEntries((data.media.offices || []).map((o) => [o.office, o]));
      mediaMode = data.media.media || "embedded";   // the schema's default: the embedded server leaves it out
      mediaError = data.media.media_error || null;
    }
    ConsoleGrid.update({offices: data.offices, feeds, ended, media: mediaMode, mediaError});
    const tbody = document.querySelector("#offices-table tbody");
    tbody.replaceChildren();
    const people = document.getElementById("people");
    people.replaceChildren();
    for (const o of ConsoleGrid.arrange(data.offices)) {
      const [feedText, feedState] = feedLabel(o.code);
      const pct = ConsoleGrid.percentOf(o);
      const tr = el("tr", {"data-office": o.code});
      // Rounded by the server (counts.percent), as the apel page and the reports round it.
      const mask = o.mask_compliance_pct === null || o.mask_compliance_pct === undefined ? "-" : `${o.mask_compliance_pct}%`;
      [[`${o.code} ${o.name}`], [feedText, {"data-feed": feedState}], [o.roster], [o.present, {"class": "n-present"}],
       [pct === null ? "-" : `${pct}%`, {"class": "n-percent"}], [o.late], [o.not_yet_seen], [mask], [o.distancing_alerts], [o.unknown_faces]]
        .forEach(([v, attrs]) => tr.appendChild(el("td", attrs, v)));
      // The camera check's state for a feed there is (none before the office joins or after the apel).
      if (typeof CameraCheckUI !== "undefined" && feeds[o.code] && !ended) CameraCheckUI.badge(tr.children[1], feeds[o.code].camera);
      tbody.appendChild(tr);
      // Open when a few offices fit on a screen; with a province's 41 each stays one line until opened,
      // and stays as the person left it across the roll-calls that rebuild it.
      const isOpen = peopleOpen.has(o.code) ? peopleOpen.get(o.code) : data.offices.length <= 8;
      const box = el("details", isOpen ? {open: "", "data-office": o.code} : {"data-office": o.code});
      box.addEventListener("toggle", () => peopleOpen.set(o.code, box.open));
      box.appendChild(el("summary", {}, `${o.code} ${o.name}`));
      const ul = el("ul", {"class": "live-people"});
      for (const p of o.people) {
        const li = el("li", {"data-employee-id": p.employee_id, "data-status": p.status, "class": `st-${p.status}`});
        li.appendChild(el("span", {"class": "name"}, p.name));
        li.appendChild(el("span", {"class": "status"}, S[`st_${p.status}`] || p.status));
        if (p.by_hand) li.appendChild(el("span", {"class": "by-hand", "title": (HAND.source || "{by}")
          .replace("{by}", p.by_hand.by || "").replace("{time}", p.by_hand.at_local || p.by_hand.at)},
          HAND.badge || "by hand"));
        ul.appendChild(li);
      }
      box.appendChild(ul);
      people.appendChild(box);
    }
  }
  function listen() {
    const es = new EventSource(`/api/v1/live/assemblies/${assemblyId}/events`);
    es.addEventListener("rollcall", (ev) => renderRollcall(JSON.parse(ev.data)));
    es.addEventListener("media", (ev) => {
      const d = JSON.parse(ev.data);
      LeaderPanel.media(d);   // janus, read-only: the leader came or went, Janus lost
      if (d.type === "status" && d.offices) {
        feeds = Object.fromEntries(d.offices.map((o) => [o.office, o]));
        mediaMode = d.media || "embedded";
        mediaError = d.media_error || null;
        if (lastRollcall) renderRollcall(lastRollcall);
      }
    });
    es.addEventListener("closed", () => {
      Live.setStatus("closed", "closed"); es.close(); if (pc) pc.close();
      LeaderPanel.ended();
      markEnded();
      if (lastRollcall) renderRollcall(lastRollcall);
    });
  }
  const endBtn = document.getElementById("end-apel");
  if (endBtn) {
    endBtn.addEventListener("click", async () => {
      if (!window.confirm(endBtn.dataset.confirm)) return;
      endBtn.disabled = true;
      try {
        await Live.postJSON(`/api/v1/assemblies/${assemblyId}/end`, {});
      } catch (err) {
        endBtn.disabled = false;
        Live.setStatus("refused", "refused", {reason: err.message});
      }
    });
  }
  ConsoleGrid.init(() => { if (lastRollcall) renderRollcall(lastRollcall); });
  listen();
  if (noMosaic) Live.setStatus("no-mosaic", "no_mosaic");
  else connect().catch(onError);
})();
