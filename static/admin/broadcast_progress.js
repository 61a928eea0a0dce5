// A broadcast's change page: poll its progress while it is being sent and show the
// counts (textContent only). Stops when the broadcast is done or cancelled.
(function () {
  "use strict";
  const box = document.getElementById("broadcast-progress");
  if (!box) return;
  const url = box.dataset.progressUrl;
  function show(progress) {
    const waiting = progress.pending + progress.queued + progress.sending;
    const values = Object.assign({}, progress, { waiting: waiting });
    box.querySelectorAll("[data-count]").forEach(function (cell) {
      const key = cell.dataset.count;
      if (key === "status") return;
      if (key in values) cell.textContent = String(values[key]);
    });
    return progress.status === "sending";
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (progress) {
        if (progress === null) return;
        if (show(progress)) {
          setTimeout(poll, 2000);
        } else {
          window.location.reload(); // the final status and buttons
        }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
