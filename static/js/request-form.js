// The request forms, improved when scripts run: the list is checked as it is typed (by the
// server's own parser, through a JSON endpoint) and before it is sent; the one-field form
// shows where a name resolves and offers the plates that cover the field. Without scripts
// the server does the same checks when the forms are sent.
(function () {
  "use strict";

  function csrf(form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -- The list ------------------------------------------------------------------------
  const listForm = document.getElementById("request-form");
  if (listForm) {
    const text = listForm.querySelector("textarea[name=text]");
    const upload = listForm.querySelector("input[name=upload]");
    const validOnly = document.getElementById("valid-only");
    const box = document.getElementById("line-check");
    let timer = null;

    function show(result) {
      box.replaceChildren();
      if (result.n_errors === 0) {
        box.append(result.n_fields
          ? el("p", { class: "line-ok" }, `${result.n_fields} valid line(s), ready to send.`)
          : el("p", { class: "error" }, "The list is empty: type lines or choose a file."));
        return;
      }
      const wrap = el("div", { class: "line-errors" });
      const total = result.n_errors;
      wrap.append(el("p", {}, `${result.n_fields} valid line(s); ${total} line(s) cannot be read:`));
      const list = el("ul", { class: "rejected" });
      result.errors.forEach((e) => {
        const item = el("li", {}, `line ${e.line}: `);
        item.append(el("code", {}, e.text), ` — ${e.error}`);
        list.append(item);
      });
      if (result.more_errors) list.append(el("li", {}, `… and ${result.more_errors} more`));
      wrap.append(list);
      box.append(wrap);
    }

    async function check() {
      const body = new FormData();
      body.append("text", text.value);
      body.append("csrfmiddlewaretoken", csrf(listForm));
      const reply = await fetch(listForm.dataset.checkUrl, { method: "POST", body });
      if (!reply.ok) return null;
      const result = await reply.json();
      show(result);
      return result;
    }

    text.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { if (text.value.trim()) check(); else box.replaceChildren(); }, 400);
    });

    listForm.addEventListener("submit", async (event) => {
      // A chosen file is read by the server, which answers with the same checks.
      if (upload && upload.files.length) return;
      if (listForm.dataset.checked === text.value) return;
      event.preventDefault();
      let result = null;
      try { result = await check(); } catch (e) { result = null; }
      const sendable = result === null || (result.n_fields > 0 && (result.n_errors === 0 || validOnly.checked));
      if (sendable) {
        listForm.dataset.checked = text.value;
        listForm.requestSubmit(event.submitter);
      } else {
        box.querySelector(".line-errors")?.setAttribute("role", "alert");
        text.focus();
      }
    });
  }

  // -- One field -------------------------------------------------------------------------
  const fieldForm = document.getElementById("field-form");
  if (fieldForm) {
    const value = (name) => (fieldForm.elements[`f-${name}`] || { value: "" }).value.trim();
    const mode = fieldForm.elements["f-mode"];
    const plateBox = document.getElementById("plate-box");
    const offer = document.getElementById("plate-offer");
    const choices = document.getElementById("plate-choices");
    const where = el("p", { class: "help", id: "name-position", "aria-live": "polite" });
    fieldForm.elements["f-name"].closest("div").append(where);

    function togglePlate() { plateBox.hidden = mode.value !== "plate"; }
    mode.addEventListener("change", () => { togglePlate(); if (mode.value === "plate") lookUp(); });
    togglePlate();

    async function lookUp() {
      const params = new URLSearchParams();
      ["name", "lon", "lat", "frame", "width", "height", "survey"].forEach((k) => params.set(k, value(k)));
      if (!params.get("name") && !(params.get("lon") && params.get("lat"))) return;
      let result;
      try {
        const reply = await fetch(`${fieldForm.dataset.platesUrl}?${params}`);
        result = await reply.json();
      } catch (e) { return; }
      if (result.error) {
        where.textContent = result.error;
        offer.textContent = "";
        return;
      }
      where.textContent = result.resolved
        ? `${result.resolved}: ${result.ra_text} ${result.dec_text} (J2000), from ${result.resolver}`
        : "";
      choices.replaceChildren(...result.plates.map((p) => el("option", { value: p.plate_id }, p.summary)));
      offer.textContent = result.plates.length
        ? `Plates covering this field: ${result.plates.map((p) => `${p.plate_id} (${p.summary})`).join("; ")}.`
        : "No plate of this survey covers the field.";
      if (result.mosaic_offered) {
        offer.textContent += " No single online plate covers the whole field: mode m (mosaic) builds it from several.";
      }
    }

    ["name", "lon", "lat", "frame", "width", "height", "survey"].forEach((k) => {
      const input = fieldForm.elements[`f-${k}`];
      if (input) input.addEventListener("change", () => { if (k === "name" || mode.value === "plate") lookUp(); });
    });
  }
})();
