// Report jobs page: while a job is queued or being built, poll its status every
// second and show its progress, then its download link or its error.
(function () {
  "use strict";
  var ACTIVE = { queued: true, running: true };
  var PERIOD_MS = 1000;

  function show(row, job) {
    row.dataset.status = job.status;
    row.querySelector(".job-status").textContent = job.status_label;
    var bar = row.querySelector("progress");
    if (job.rows_total > 0) {
      bar.max = job.rows_total;
      bar.value = Math.min(job.rows_done, job.rows_total);
    } else if (ACTIVE[job.status]) {
      bar.removeAttribute("value"); // unknown total: an indeterminate bar
    } else {
      bar.max = 1;
      bar.value = 1;
    }
    row.querySelector(".job-rows").textContent =
      job.rows_done + " / " + (job.rows_total > 0 ? job.rows_total : "?");
    var link = row.querySelector(".job-download");
    if (job.download_url) {
      link.href = job.download_url;
      link.hidden = false;
    }
    var expires = row.querySelector(".job-expires");
    if (job.expires_at) {
      row.querySelector(".job-expires-at").textContent = job.expires_at;
      expires.hidden = false;
    }
    var error = row.querySelector(".job-error");
    error.textContent = job.error || "";
    error.hidden = !job.error;
    var again = row.querySelector(".job-again");
    if (again) again.hidden = !(job.status === "failed" || job.status === "expired");
  }

  // a failed poll (network, server error) is tried again later and later, up to this
  var MAX_PERIOD_MS = 30000;
  var period = PERIOD_MS;
  var stopped = false;

  function poll() {
    var rows = Array.prototype.filter.call(
      document.querySelectorAll("tr.job[data-job-status-url]"),
      function (row) { return ACTIVE[row.dataset.status]; }
    );
    if (!rows.length || stopped) return;
    var failed = false;
    Promise.all(rows.map(function (row) {
      // redirect "manual": a session that ended is sent to the login page, which is
      // not JSON and will not become JSON by asking again
      return fetch(row.dataset.jobStatusUrl, {
        credentials: "same-origin",
        redirect: "manual",
        headers: { Accept: "application/json" }
      })
        .then(function (response) {
          if (response.ok) return response.json();
          if (response.type === "opaqueredirect" || response.status === 403) {
            stopped = true; // logged out, or no longer an analyst: a reload says so
          } else if (response.status === 404) {
            row.dataset.status = "gone"; // the job was deleted: stop asking for it
          } else {
            failed = true;
          }
          return null;
        })
        .then(function (job) { if (job) show(row, job); })
        .catch(function () { failed = true; });
    })).then(function () {
      period = failed ? Math.min(period * 2, MAX_PERIOD_MS) : PERIOD_MS;
      window.setTimeout(poll, period);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("tr.job progress[data-unknown-total]").forEach(function (bar) {
      if (ACTIVE[bar.closest("tr").dataset.status]) bar.removeAttribute("value");
    });
    // one press builds one report: a second click while the page posts is ignored
    document.querySelectorAll("form.job-form, form.job-again").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent) { event.preventDefault(); return; }
        form.dataset.sent = "1";
      });
      // back to this page from the browser's cache: it may be sent again
      window.addEventListener("pageshow", function () { delete form.dataset.sent; });
    });
    window.setTimeout(poll, PERIOD_MS);
  });
})();
