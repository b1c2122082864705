// The faces the cameras could not name, answered by the people in the room (office page and leader
// console): each face's crop with a picker of the office's people not yet seen (search by name or
// NIP), "not on the roster", and undo. Polls /api/v1/live/faces; answers go to the same API.
"use strict";
(() => {
  const root = document.getElementById("faces");
  if (!root) return;
  const S = JSON.parse(document.getElementById("faces-strings").textContent);
  const fmt = (key, vars) => (S[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const list = document.getElementById("faces-list");
  const note = document.getElementById("faces-note");
  const POLL_MS = 2000;
  const cards = new Map();       // face id -> {li, status, search}
  let candidates = {};           // office id -> [{employee_id, name, nip}]
  let busy = false;

  function say(text) { note.hidden = !text; note.textContent = text || ""; }

  function query() {
    if (root.dataset.scope === "apel") return "assembly_id=" + encodeURIComponent(root.dataset.assembly);
    const office = (document.getElementById("office") || {}).value || "";
    return office.trim() ? "office=" + encodeURIComponent(office.trim()) : null;
  }

  async function post(url, body) {
    try {
      await Live.postJSON(url, body || {});
      return true;
    } catch (err) {
      say(fmt("failed", {reason: err.message}));
      return false;
    }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function pickerButtons(face, box, search) {
    box.textContent = "";
    const q = search.value.trim().toLowerCase();
    const people = (candidates[String(face.office_id)] || []).filter(
      (p) => !q || p.name.toLowerCase().includes(q) || p.nip.includes(q));
    if (!people.length) { box.appendChild(el("p", "muted", S.no_match)); return; }
    for (const p of people.slice(0, 12)) {
      const b = el("button", "btn face-pick", p.name);
      b.type = "button";
      b.dataset.employeeId = p.employee_id;
      b.title = p.nip;
      b.appendChild(el("small", "muted", " " + p.nip));
      b.addEventListener("click", () => answer(face, "confirm", {employee_id: p.employee_id}));
      box.appendChild(b);
    }
  }

  function render(face) {
    const li = el("li", "face-card");
    li.dataset.faceId = face.face_id;
    li.dataset.status = face.status;
    const img = el("img", "face-crop");
    img.src = face.crop_url;
    img.alt = S.crop;
    li.appendChild(img);
    const body = el("div", "face-body");
    li.appendChild(body);
    const entry = {li, status: face.status, search: null, box: null, face};
    if (face.status === "open") {
      if (face.suggested_name) body.appendChild(el("p", "face-unsure", fmt("unsure", {name: face.suggested_name})));
      const search = el("input", "face-search");
      search.type = "search";
      search.placeholder = S.search;
      search.setAttribute("aria-label", S.search);
      const box = el("div", "face-picks");
      search.addEventListener("input", () => pickerButtons(face, box, search));
      body.appendChild(search);
      body.appendChild(box);
      pickerButtons(face, box, search);
      const visitor = el("button", "btn btn-secondary face-visitor", S.visitor);
      visitor.type = "button";
      visitor.addEventListener("click", () => answer(face, "visitor"));
      body.appendChild(visitor);
      entry.search = search;
      entry.box = box;
    } else {
      const text = face.status === "confirmed"
        ? fmt("confirmed", {name: face.employee_name || ("#" + face.employee_id), by: face.by || ""})
        : fmt("is_visitor", {by: face.by || ""});
      body.appendChild(el("p", "face-answer", text));
      const undo = el("button", "btn btn-secondary face-undo", S.undo);
      undo.type = "button";
      undo.addEventListener("click", () => answer(face, "undo"));
      body.appendChild(undo);
    }
    return entry;
  }

  async function answer(face, action, body) {
    if (busy) return;
    busy = true;
    const card = cards.get(face.face_id);
    if (card) card.li.classList.add("face-busy");
    try {
      if (await post("/api/v1/live/faces/" + encodeURIComponent(face.face_id) + "/" + action, body)) say("");
    } finally {
      busy = false;
      await refresh();
    }
  }

  function show(data) {
    candidates = data.candidates || {};
    const seen = new Set();
    for (const face of data.faces || []) {
      seen.add(face.face_id);
      const old = cards.get(face.face_id);
      if (old && old.status === face.status) {
        // the picker's people change as others are marked present; keep what the operator typed
        if (old.box && document.activeElement !== old.search) pickerButtons(face, old.box, old.search);
        continue;
      }
      const entry = render(face);
      if (old) list.replaceChild(entry.li, old.li); else list.insertBefore(entry.li, list.firstChild);
      cards.set(face.face_id, entry);
    }
    for (const [id, card] of cards) {
      if (!seen.has(id)) { card.li.remove(); cards.delete(id); }
    }
    root.dataset.count = String([...cards.values()].filter((c) => c.status === "open").length);
    if (!cards.size && !note.textContent) say(S.none);
    else if (cards.size && note.textContent === S.none) say("");
  }

  async function refresh() {
    const q = query();
    if (!q) return true;
    const res = await fetch("/api/v1/live/faces?" + q, {credentials: "same-origin"});
    if (res.status === 401) { say(S.login); return false; }
    if (res.status === 403) { say(S.not_allowed); return false; }
    if (!res.ok) return true;
    show(await res.json());
    return true;
  }

  async function loop() {
    let ok = true;
    try { ok = await refresh(); } catch (e) { console.warn("faces", e); }
    if (ok) setTimeout(loop, POLL_MS);
  }
  if (root.dataset.signedIn !== "1") { say(S.login); return; }
  loop();
})();
