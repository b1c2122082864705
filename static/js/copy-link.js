// <button data-copy="ID"> puts the value of element ID (a read-only input) on the clipboard. The field is
// selected first whatever happens, so where the browser refuses the clipboard (plain http on a LAN
// address is not a secure context) the operator's Ctrl+C still copies it. No inline handler: the CSP
// forbids them.
(function () {
  function say(button, message) {
    const status = document.getElementById("copy-status");
    if (status) status.textContent = message || "";
    button.dataset.state = message === button.dataset.copied ? "copied" : "failed";
  }
  function legacyCopy() {
    try { return document.execCommand("copy"); } catch (_) { return false; }
  }
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest && ev.target.closest("button[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    const text = field.value !== undefined ? field.value : field.textContent;
    field.focus();
    if (field.select) field.select();
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); copied = true; } catch (_) { copied = false; }
    }
    if (!copied) { field.select && field.select(); copied = legacyCopy(); }
    say(button, copied ? button.dataset.copied : button.dataset.copyFailed);
  });
})();
