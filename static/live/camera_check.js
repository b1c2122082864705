// The camera check (attendance/vision/camera_check.py): can this office's camera name its people,
// and what to change if not. Shown on the office's join page (polled with the office's code and
// token) and as a state next to each office's feed on the leader console (from the media status).
// Nothing is refused on it: it explains.
"use strict";
const CameraCheckUI = (() => {
  const node = document.getElementById("camera-strings");
  const S = node ? JSON.parse(node.textContent) : {};
  const fmt = (key, vars) => (S[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const stateOf = (report) => (report && report.state) || "waiting";

  function advice(report) {
    return ((report && report.advice) || []).map((code) => fmt(`advice.${code}`, {floor: report.floor_px}));
  }
  function figures(report) {
    if (!report) return "";
    const vars = {width: report.width, height: report.height, faces: report.faces, median: report.median_face_px,
                  smallest: report.smallest_face_px, under: report.under_floor, floor: report.floor_px};
    return fmt(report.faces ? "figures" : "figures.none", vars);
  }

  // The office page: the state, the figures, and the advice as a list.
  function render(container, report) {
    if (!container) return;
    const state = stateOf(report);
    container.hidden = false;
    container.dataset.state = state;
    const title = document.createElement("h2");
    title.textContent = S.title || "";
    const line = document.createElement("p");
    line.className = "camera-state";
    line.textContent = fmt(`state.${state}`);
    const figs = document.createElement("p");
    figs.className = "camera-figures";
    figs.textContent = figures(report);
    const list = document.createElement("ul");
    list.className = "camera-advice";
    ((report && report.advice) || []).forEach((code, i) => {
      const li = document.createElement("li");
      li.dataset.advice = code;
      li.textContent = advice(report)[i];
      list.appendChild(li);
    });
    const note = document.createElement("p");
    note.className = "camera-note";
    note.textContent = S.note || "";
    container.replaceChildren(title, line, figs, list, note);
  }

  // The console: a small state badge inside the office's feed cell, the advice as its tooltip.
  function badge(cell, report) {
    if (!cell) return;
    const state = stateOf(report);
    const b = document.createElement("span");
    b.className = "camera-badge";
    b.dataset.camera = state;
    b.textContent = fmt(`state.short.${state}`);
    b.title = [fmt(`state.${state}`), figures(report), ...advice(report)].filter(Boolean).join("\n");
    cell.appendChild(document.createTextNode(" "));
    cell.appendChild(b);
  }

  // The office page asks the server every `everyMs` while `active()` holds.
  function poll(container, headers, active, everyMs = 2000) {
    let timer = null;
    async function once() {
      timer = null;
      if (!active()) return;
      try {
        const res = await fetch("/api/v1/live/office/camera-check", {credentials: "same-origin", headers});
        if (res.ok) render(container, (await res.json()).camera);
      } catch (e) { /* the next poll tries again */ }
      if (active()) timer = setTimeout(once, everyMs);
    }
    once();
    return () => { if (timer) clearTimeout(timer); timer = null; };
  }
  return {render, badge, poll, strings: S};
})();
