// Shared helpers for Apel pages. `apel.fetch` adds the CSRF token (from <meta name="csrf-token">)
// to unsafe requests made with the session cookie, and parses JSON errors into Error messages.
(function () {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  async function apelFetch(url, options = {}) {
    const opts = { credentials: "same-origin", ...options };
    const method = (opts.method || "GET").toUpperCase();
    opts.headers = new Headers(opts.headers || {});
    if (!["GET", "HEAD", "OPTIONS"].includes(method)) opts.headers.set("X-CSRF-Token", meta("csrf-token"));
    const res = await fetch(url, opts);
    if (!res.ok) {
      let detail = res.statusText;
      try { const body = await res.json(); detail = body.detail && body.detail.message ? body.detail.message : JSON.stringify(body.detail ?? body); } catch (_) { /* not JSON */ }
      const err = new Error(detail); err.status = res.status; throw err;
    }
    const type = res.headers.get("content-type") || "";
    return type.includes("application/json") ? res.json() : res;
  }
  window.apel = { fetch: apelFetch, csrfToken: () => meta("csrf-token"), lang: () => meta("apel-lang") || "id" };
  // <form data-confirm="..."> asks before submitting (deletions).
  document.addEventListener("submit", (ev) => {
    const msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
  // No inline handlers (the Content-Security-Policy forbids them): <a data-open="id"> opens that
  // <details>, <a data-back> goes back a page.
  document.addEventListener("click", (ev) => {
    const link = ev.target.closest && ev.target.closest("a[data-open], a[data-back]");
    if (!link) return;
    if (link.hasAttribute("data-back") && window.history.length > 1) { ev.preventDefault(); window.history.back(); }
    const details = link.dataset.open && document.getElementById(link.dataset.open);
    if (details) details.open = true;
  });
})();
