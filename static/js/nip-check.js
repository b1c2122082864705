// The employees page checks a NIP as it is typed (GET /employees/nip-check), before the rest of the
// form is filled: what it encodes, or its wrong digits marked and why. The server's check is the one
// rule (attendance/nip.py); the form is checked again when it is sent.
(function () {
  const input = document.querySelector("input[data-nip-check]");
  if (!input) return;
  const out = document.getElementById(input.dataset.nipCheck);
  let timer = null;
  let last = "";
  function show(body) {
    out.textContent = "";
    if (body.groups) {
      const digits = document.createElement("span");
      digits.className = "mono";
      body.groups.forEach((group) => {
        group.forEach(([digit, wrong]) => {
          const el = document.createElement(wrong ? "mark" : "span");
          el.textContent = digit;
          digits.appendChild(el);
        });
        digits.appendChild(document.createTextNode(" "));
      });
      out.appendChild(digits);
      out.appendChild(document.createElement("br"));
    }
    out.appendChild(document.createTextNode(body.text));
    out.className = body.ok ? "nip-ok muted" : "nip-problem";
    input.setAttribute("aria-invalid", body.ok ? "false" : "true");
  }
  async function check(always) {
    const value = input.value.trim();
    const digits = value.replace(/\D/g, "").length;
    if (!value || value === last || (!always && digits < 18)) return;   // no "got 5 digits" while typing
    last = value;
    try {
      const lang = encodeURIComponent(window.apel.lang());   // the page's language, not the default
      show(await window.apel.fetch(`/employees/nip-check?nip=${encodeURIComponent(value)}&lang=${lang}`));
    } catch (_) { /* offline or logged out: the form is checked when it is sent */ }
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => check(false), 300); });
  input.addEventListener("change", () => check(true));
})();
