// Poll the request's status and reload once something changed, until every field has ended.
(function () {
  const box = document.querySelector(".fields[data-status-url]");
  if (!box) return;
  const url = box.dataset.statusUrl;
  const seen = JSON.stringify(Array.from(box.querySelectorAll(".field")).map((f) => f.dataset.status));
  async function poll() {
    try {
      const reply = await fetch(url, { headers: { Accept: "application/json" } });
      if (reply.ok) {
        const data = await reply.json();
        const ended = data.n_done + data.n_skipped + data.n_failed + (data.n_cancelled || 0);
        document.getElementById("progress").textContent =
          `${data.n_done} done, ${data.n_skipped + data.n_failed + (data.n_cancelled || 0)} not served, of ${data.n_fields}`;
        document.getElementById("progress-bar").value = ended;
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
