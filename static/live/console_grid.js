// The console for many offices (41 OPDs of a province): one tile per office in a scrolling grid
// (a mosaic of 41 shrinks every office to a stamp), the roll-call table's sort and filter, and the
// large view of the office a tile opens. Only the data the console already receives: the roll-call
// (offices' counts) and the media status (each feed's state and camera check). console.js calls
// update() on every roll-call or media event and asks arrange() for the offices to list, in order.
// With APEL_MEDIA=janus the large view also shows the office's video with its overlays (office_video.js).
"use strict";
const ConsoleGrid = (() => {
  const node = document.getElementById("console-grid-strings");
  const S = node ? JSON.parse(node.textContent) : {};
  const fmt = (key, vars) => (S[key] || key).replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? vars[k] : ""));
  const grid = document.getElementById("office-grid");
  const detail = document.getElementById("office-detail");
  const filterInput = document.getElementById("office-filter");
  const countEl = document.getElementById("office-count");
  const root = document.getElementById("console");
  let sort = {key: null, dir: 1};     // null: the server's order (by office code)
  let filterText = "";
  let selected = null;                 // the office code open in the large view
  let last = {offices: [], feeds: {}, ended: false, media: null, mediaError: null};
  let onChange = () => {};
  const tiles = new Map();             // office code -> its tile (kept, so focus survives updates)
  const drawn = new Map();             // office code -> what its tile shows now (redrawn only on a change)
  let detailDrawn = "";

  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  // Who came: the present and the late alike (the late did attend); null when the office has no roster.
  const came = (o) => o.present + o.late;
  const percentOf = (o) => (o.roster ? Math.round((100 * came(o)) / o.roster) : null);
  const KEYS = {
    office: (o) => o.code,
    present: (o) => came(o),
    percent: (o) => percentOf(o),
    alerts: (o) => o.distancing_alerts,
  };

  function feedState(o, feeds, ended) {
    if (ended) return "ended";
    const f = feeds[o.code];
    if (!f) return o.joined ? "off" : "none";
    if (!f.connected) return "off";
    if (f.frozen) return "frozen";
    return f.frames ? "ok" : "joined";
  }

  function matches(o) {
    if (!filterText) return true;
    return `${o.code} ${o.name}`.toLowerCase().includes(filterText);
  }

  // The offices to show, filtered and sorted; ties keep the office code's order. Offices without a
  // figure (no roster: no percent) go last whichever way the sort runs.
  function arrange(offices) {
    const shown = offices.filter(matches);
    if (!sort.key) return shown;
    const key = KEYS[sort.key];
    return shown.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null && y === null) return a.code.localeCompare(b.code);
      if (x === null) return 1;
      if (y === null) return -1;
      const c = typeof x === "string" ? x.localeCompare(y, undefined, {numeric: true}) : x - y;
      return c * sort.dir || a.code.localeCompare(b.code, undefined, {numeric: true});
    });
  }

  function setSort(key, dir) {
    sort = {key, dir: dir || 1};
    document.querySelectorAll("#offices-table th[data-sort]").forEach((th) => {
      const on = th.dataset.sort === sort.key;
      th.setAttribute("aria-sort", on ? (sort.dir > 0 ? "ascending" : "descending") : "none");
      const b = th.querySelector("button");
      if (b) b.dataset.dir = on ? (sort.dir > 0 ? "asc" : "desc") : "";
    });
    onChange();
  }

  function figureLine(o) {
    const mask = o.mask_compliance_pct === null || o.mask_compliance_pct === undefined ? "-" : `${o.mask_compliance_pct}%`;
    return `${S.mask} ${mask} · ${S.alerts} ${o.distancing_alerts}`;
  }

  function fillTile(tile, o, state, camera) {
    const pct = percentOf(o);
    tile.dataset.feed = state;
    tile.dataset.present = String(came(o));
    tile.dataset.alerts = String(o.distancing_alerts);
    tile.setAttribute("aria-current", selected === o.code ? "true" : "false");
    const name = el("span", {"class": "tile-name"});
    name.appendChild(el("strong", {}, o.code));
    name.appendChild(document.createTextNode(` ${o.name}`));
    const feed = el("span", {"class": "tile-feed", "data-feed": state}, fmt(`feed.${state}`));
    // No feed, no camera to judge: "waiting for the first picture" would say the office is on its way.
    const live = !["none", "ended"].includes(state);
    const cam = el("span", {"class": "tile-camera"}, live ? `${S.camera}:` : `${S.camera}: -`);
    if (live && typeof CameraCheckUI !== "undefined") CameraCheckUI.badge(cam, camera);
    const present = el("span", {"class": "tile-present"});
    present.appendChild(el("strong", {"class": "n-came"}, came(o)));
    present.appendChild(document.createTextNode(` / ${o.roster} ${S.came}${pct === null ? "" : ` (${pct}%)`}`));
    const bar = el("span", {"class": "tile-bar", "aria-hidden": "true"});
    const fill = el("span");
    fill.style.width = `${pct || 0}%`;   // CSSOM, not a style attribute: the CSP allows no inline styles
    bar.appendChild(fill);
    const figs = el("span", {"class": "tile-figs"}, figureLine(o));
    if (o.distancing_alerts > 0) figs.dataset.alert = "yes";
    const still = tile.querySelector(".tile-preview");   // janus: the office's still (office_video.js) stays
    tile.replaceChildren(...(still ? [still] : []), name, feed, cam, present, bar, figs);
  }

  function renderTiles(shown) {
    const {feeds, ended} = last;
    const order = [];
    for (const o of shown) {
      let li = tiles.get(o.code);
      if (!li) {
        li = el("li", {"class": "office-cell"});
        const b = el("button", {type: "button", "class": "office-tile", "data-office": o.code, "aria-controls": "office-detail"});
        b.addEventListener("click", () => open(o.code));
        li.appendChild(b);
        tiles.set(o.code, li);
      }
      const state = feedState(o, feeds, ended), camera = feeds[o.code] && feeds[o.code].camera;
      // Redrawn only when it changed: a click whose press landed on a part since replaced is lost.
      const sig = JSON.stringify([o.name, o.roster, o.present, o.late, o.mask_compliance_pct, o.distancing_alerts,
                                  state, camera || null, selected === o.code]);
      if (drawn.get(o.code) !== sig) {
        fillTile(li.firstChild, o, state, camera);
        drawn.set(o.code, sig);
      }
      order.push(li);
    }
    const codes = new Set(shown.map((o) => o.code));
    for (const [code, li] of tiles) if (!codes.has(code)) li.remove();
    // Move only what is out of place: moving the focused tile would take the keyboard's focus away.
    order.forEach((li, i) => { if (grid.children[i] !== li) grid.insertBefore(li, grid.children[i] || null); });
    const empty = document.getElementById("office-none");
    if (empty) empty.hidden = shown.length > 0 || last.offices.length === 0;
    if (countEl) countEl.textContent = fmt("count", {shown: shown.length, total: last.offices.length});
  }

  const video = () => (typeof OfficeVideo !== "undefined" ? OfficeVideo : null);
  function renderDetail() {
    if (!detail) return;
    const o = last.offices.find((x) => x.code === selected);
    if (!o) { detail.hidden = true; if (video()) video().sync(null); return; }
    const state = feedState(o, last.feeds, last.ended);
    // Kept out of the redrawn part: the video plays on while the figures change.
    if (video()) video().sync(detail.querySelector(".detail-video"), o.code, state, last.media, last.mediaError);
    const camera = last.feeds[o.code] && last.feeds[o.code].camera;
    detail.hidden = false;
    detail.dataset.office = o.code;
    detail.dataset.feed = state;
    document.getElementById("office-detail-title").textContent = `${o.code} ${o.name}`;
    // The heading and its Close button stay put (focus, clicks); the rest is redrawn when it changed.
    const sig = JSON.stringify([o, state, camera || null, last.media]);
    if (sig === detailDrawn) return;
    detailDrawn = sig;
    const feed = el("p", {"class": "detail-feed", "data-feed": state}, fmt(`feed.${state}`));
    const pct = percentOf(o);
    const dl = el("dl", {"class": "detail-figures"});
    const mask = o.mask_compliance_pct === null || o.mask_compliance_pct === undefined ? "-" : `${o.mask_compliance_pct}%`;
    [[S.present, `${o.present} / ${o.roster}`, "present"], [S.late, o.late, "late"],
     [S.percent, pct === null ? "-" : `${pct}%`, "percent"], [S.not_seen, o.not_yet_seen, "not-seen"], [S.mask, mask, "mask"],
     [S.alerts, o.distancing_alerts, "alerts"], [S.unknown, o.unknown_faces, "unknown"]]
      .forEach(([k, v, cls]) => { const d = el("div", {"class": `fig-${cls}`}); d.appendChild(el("dt", {}, k)); d.appendChild(el("dd", {}, v)); dl.appendChild(d); });
    const cam = el("div", {"class": "camera-check"});
    if (typeof CameraCheckUI !== "undefined") CameraCheckUI.render(cam, camera);
    const mode = last.media;
    // Janus: the console shows the office's video above (an observer's without the overlays).
    const janusNote = video() && video().watches ? video().note : S["detail.janus"];
    const note = el("p", {"class": "detail-media", "data-media": mode || "unknown"},
                    mode === "janus" ? janusNote : mode === "embedded" ? S["detail.embedded"] : S["detail.waiting_media"]);
    detail.querySelector(".detail-body").replaceChildren(feed, dl, cam, note);
  }

  function open(code) {
    selected = code;
    detailDrawn = "";
    renderDetail();
    tiles.forEach((li, c) => li.firstChild.setAttribute("aria-current", c === code ? "true" : "false"));
    const view = document.querySelector(".live-mosaic") || detail;
    if (view && view.scrollIntoView) view.scrollIntoView({block: "start"});
    detail.focus({preventScroll: true});
  }
  function closeDetail() {
    const code = selected;
    selected = null;
    detail.hidden = true;
    if (video()) video().sync(null);   // the office's video subscription ends with the large view
    tiles.forEach((li) => li.firstChild.setAttribute("aria-current", "false"));
    const tile = tiles.get(code);
    if (tile) tile.firstChild.focus();
  }

  // console.js hands over everything it knows after each event; `offices` in the server's order.
  function update(state) {
    last = Object.assign(last, state);
    if (last.media) root.dataset.media = last.media;
    const lost = document.getElementById("office-grid-error");
    if (lost) {   // Janus unreachable: said above the grid, not left as silently dead tiles
      lost.hidden = !last.mediaError || last.ended;
      lost.textContent = last.mediaError ? `${S.media_error} (${last.mediaError})` : "";
    }
    renderTiles(arrange(last.offices));
    if (video()) video().stills(tiles, last.media);
    if (selected) renderDetail();
  }

  function init(changed) {
    onChange = changed;
    document.querySelectorAll("#offices-table th[data-sort] button").forEach((b) => {
      b.addEventListener("click", () => {
        const key = b.closest("th").dataset.sort;
        setSort(key, sort.key === key ? -sort.dir : 1);
      });
    });
    if (filterInput) {
      filterInput.addEventListener("input", () => { filterText = filterInput.value.trim().toLowerCase(); onChange(); });
    }
    const fewest = document.getElementById("sort-fewest");
    if (fewest) fewest.addEventListener("click", () => setSort("present", 1));
    const reset = document.getElementById("sort-reset");
    if (reset) reset.addEventListener("click", () => {
      if (filterInput) filterInput.value = "";
      filterText = "";
      setSort(null, 1);
    });
    if (detail) {
      const head = el("div", {"class": "detail-head"});
      head.appendChild(el("h2", {id: "office-detail-title"}));
      const close = el("button", {type: "button", "class": "btn", id: "office-detail-close"}, S["detail.close"]);
      close.addEventListener("click", closeDetail);
      head.appendChild(close);
      detail.replaceChildren(head, el("div", {"class": "detail-video"}), el("div", {"class": "detail-body"}));
      detail.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDetail(); });
    }
  }
  return {init, update, arrange, percentOf, open, strings: S};
})();
