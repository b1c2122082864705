// Leader / observer console: the office mosaic (with overlays drawn by the server) and the live
// roll-call per office from the server's event stream.
"use strict";
(() => {
  const root = document.getElementById("console");
  const assemblyId = root.dataset.assembly, mode = root.dataset.mode;
  const mosaic = document.getElementById("mosaic");
  const S = Live.strings;
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
    if (err.status && err.status < 500) Live.setStatus("refused", "refused", {reason: err.message});
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
  function markEnded() {
    ended = true;
    const btn = document.getElementById("end-apel");
    if (btn) btn.hidden = true;
  }
  function renderRollcall(data) {
    lastRollcall = data;
    if (data.assembly.status === "closed") markEnded();
    document.getElementById("apel-title").textContent = `#${data.assembly.id} ${data.assembly.title}`;
    if (data.media) feeds = Object.fromEntries((data.media.offices || []).map((o) => [o.office, o]));
    const tbody = document.querySelector("#offices-table tbody");
    tbody.replaceChildren();
    const people = document.getElementById("people");
    people.replaceChildren();
    for (const o of data.offices) {
      const [feedText, feedState] = feedLabel(o.code);
      const tr = el("tr", {"data-office": o.code});
      // Rounded by the server (counts.percent), as the apel page and the reports round it.
      const mask = o.mask_compliance_pct === null || o.mask_compliance_pct === undefined ? "-" : `${o.mask_compliance_pct}%`;
      [[`${o.code} ${o.name}`], [feedText, {"data-feed": feedState}], [o.roster], [o.present, {"class": "n-present"}],
       [o.late], [o.not_yet_seen], [mask], [o.distancing_alerts], [o.unknown_faces]]
        .forEach(([v, attrs]) => tr.appendChild(el("td", attrs, v)));
      if (window.CameraCheckUI) CameraCheckUI.badge(tr.children[1], feeds[o.code] && feeds[o.code].camera);
      tbody.appendChild(tr);
      const box = el("details", {open: "", "data-office": o.code});
      box.appendChild(el("summary", {}, `${o.code} ${o.name}`));
      const ul = el("ul", {"class": "live-people"});
      for (const p of o.people) {
        const li = el("li", {"data-employee-id": p.employee_id, "data-status": p.status, "class": `st-${p.status}`});
        li.appendChild(el("span", {"class": "name"}, p.name));
        li.appendChild(el("span", {"class": "status"}, S[`st_${p.status}`] || p.status));
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
      if (d.type === "status" && d.offices) {
        feeds = Object.fromEntries(d.offices.map((o) => [o.office, o]));
        if (lastRollcall) renderRollcall(lastRollcall);
      }
    });
    es.addEventListener("closed", () => {
      Live.setStatus("closed", "closed"); es.close(); if (pc) pc.close();
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
  listen();
  connect().catch(onError);
})();
