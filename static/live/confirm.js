// The faces the cameras could not name, answered by the people in the room (office page and leader
// console): each face's crop with a picker of the office's people not yet seen (search by name or
// NIP), "not on the roster", and undo. Polls /api/v1/live/faces; answers go to the same API.
// Below the faces, the same people not yet seen can be marked present by hand when the camera never
// detected them (hidden behind the row in front, turned away), with a confirm step, and undone:
// /api/v1/live/present-by-hand.
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
  let assemblyId = null;         // the apel the faces list answered for

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
    assemblyId = data.assembly_id;
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
    await Hand.refresh();
    return true;
  }

  // ---- present in the room, not seen by the camera
  const Hand = (() => {
    const box = document.getElementById("hand");
    if (!box) return {refresh: async () => {}};   // a page without the faces section
    const H = JSON.parse(document.getElementById("hand-strings").textContent);
    const hfmt = (key, vars) => (H[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
    const search = document.getElementById("hand-search");
    const people = document.getElementById("hand-people");
    const more = document.getElementById("hand-more");
    const marked = document.getElementById("hand-marked");
    const markedTitle = document.getElementById("hand-marked-title");
    const SHOWN = 15;
    let pending = null;            // employee id whose confirm step is open
    let shownKey = "";             // what the people list shows, to leave it alone while nothing changed
    let marksKey = "";

    async function act(url, row) {
      if (busy) return;
      busy = true;
      if (row) row.classList.add("hand-busy");
      try {
        await Live.postJSON(url, {});
        say("");
        pending = null;
      } catch (err) {
        say(hfmt("failed", {reason: err.message}));
      } finally {
        busy = false;
        shownKey = marksKey = "";
        await refresh();   // the faces list first: its picker's people change with the mark
      }
    }

    function personRow(p) {
      const li = el("li", "hand-person");
      li.dataset.employeeId = p.employee_id;
      li.appendChild(el("span", "hand-name", p.name));
      li.appendChild(el("small", "muted", p.nip));
      if (pending === p.employee_id) {
        const c = el("div", "hand-confirm");
        c.appendChild(el("p", "", hfmt("confirm", {name: p.name})));
        const yes = el("button", "btn hand-yes", H.yes);
        yes.type = "button";
        yes.addEventListener("click", () => act(
          "/api/v1/live/present-by-hand/" + assemblyId + "/" + p.employee_id, li));
        const no = el("button", "btn btn-secondary hand-cancel", H.cancel);
        no.type = "button";
        no.addEventListener("click", () => { pending = null; shownKey = ""; drawPeople(); });
        c.appendChild(yes);
        c.appendChild(no);
        li.appendChild(c);
      } else {
        const b = el("button", "btn btn-secondary hand-mark", H.mark);
        b.type = "button";
        b.addEventListener("click", () => { pending = p.employee_id; shownKey = ""; drawPeople(); });
        li.appendChild(b);
      }
      return li;
    }

    function drawPeople() {
      const q = search.value.trim().toLowerCase();
      const all = Object.values(candidates).flat();
      const found = all.filter((p) => !q || p.name.toLowerCase().includes(q) || p.nip.includes(q));
      const list = found.slice(0, SHOWN);
      if (pending !== null && !found.some((p) => p.employee_id === pending)) pending = null;
      const key = JSON.stringify([q, pending, list.map((p) => p.employee_id), found.length]);
      if (key === shownKey) return;
      shownKey = key;
      people.replaceChildren(...list.map(personRow));
      const text = !all.length ? H.everyone : !found.length ? H.no_match
        : found.length > SHOWN ? hfmt("more", {count: found.length - SHOWN}) : "";
      more.hidden = !text;
      more.textContent = text;
    }

    function drawMarks(marks) {
      const key = JSON.stringify(marks);
      if (key === marksKey) return;
      marksKey = key;
      markedTitle.hidden = !marks.length;
      marked.replaceChildren(...marks.map((m) => {
        const li = el("li", "hand-mark-row");
        li.dataset.employeeId = m.employee_id;
        li.appendChild(el("p", "", hfmt("marked", {name: m.name, by: m.by || "", time: m.at_local || m.at,
                                                    status: H["st_" + m.status] || m.status})));
        const undo = el("button", "btn btn-secondary hand-undo", H.undo);
        undo.type = "button";
        undo.addEventListener("click", () => act(
          "/api/v1/live/present-by-hand/" + assemblyId + "/" + m.employee_id + "/undo", li));
        li.appendChild(undo);
        return li;
      }));
    }

    async function refreshHand() {
      if (!assemblyId) { box.hidden = true; return; }
      box.hidden = false;
      drawPeople();
      const res = await fetch("/api/v1/live/present-by-hand/" + assemblyId, {credentials: "same-origin"});
      if (res.ok) drawMarks((await res.json()).marks || []);
    }

    search.addEventListener("input", () => drawPeople());
    return {refresh: refreshHand};
  })();

  async function loop() {
    let ok = true;
    try { ok = await refresh(); } catch (e) { console.warn("faces", e); }
    if (ok) setTimeout(loop, POLL_MS);
  }
  if (root.dataset.signedIn !== "1") { say(S.login); return; }
  loop();
})();
