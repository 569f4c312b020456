// Poll the request's status: the progress bar and its sentence (an aria-live region) follow
// every field that ends; the page reloads once a field's state changed, so that its plate,
// file and preview appear, and stops polling when every field has ended.
(function () {
  "use strict";
  const box = document.querySelector(".progress-box[data-status-url]");
  if (!box) return;
  const url = box.dataset.statusUrl;
  const rows = Array.from(document.querySelectorAll("#fields tbody tr[data-status]"));
  const seen = JSON.stringify(rows.map((row) => row.dataset.status));
  const bar = document.getElementById("progress-bar");
  const sentence = document.getElementById("progress");
  const status = document.getElementById("request-status");

  async function poll() {
    try {
      const reply = await fetch(url, { headers: { Accept: "application/json" } });
      if (reply.ok) {
        const data = await reply.json();
        bar.max = Math.max(1, data.n_fields);
        bar.value = data.n_ended;
        bar.textContent = `${data.n_ended} of ${data.n_fields}`;
        if (sentence.textContent !== data.summary) sentence.textContent = data.summary;
        status.textContent = data.status_display;
        status.className = `status status-${data.status}`;
        if (JSON.stringify(data.fields.map((f) => f.status)) !== seen) {
          window.location.reload();
          return;
        }
      }
    } catch (e) { /* the server restarting is not the user's problem; try again */ }
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1500);
})();
