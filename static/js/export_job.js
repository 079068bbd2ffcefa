// An export job's page: poll its status, move the progress bar, show the download link.
(function () {
  "use strict";
  var box = document.getElementById("export-job");
  if (!box) return;
  var bar = document.getElementById("export-progress");
  var state = document.getElementById("export-state");
  var link = document.getElementById("export-download");
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        bar.value = job.progress;
        bar.textContent = job.progress + "%";
        if (job.status === "done") {
          state.textContent = "Ready.";
          link.href = job.download;
          link.classList.remove("d-none");
        } else if (job.status === "gone") {
          state.textContent = job.error;
        } else if (job.status === "failed") {
          state.textContent = "Failed: " + job.error;
        } else {
          state.textContent = (job.status === "queued" ? "Queued" : "Running") + "… " + job.progress + "%";
          setTimeout(poll, 700);
        }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  if (link.classList.contains("d-none") && !/^Failed/.test(state.textContent)) poll();
})();
