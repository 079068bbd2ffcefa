// hepwatch page behaviour: charts from JSON, the "evaluation pending" poll, select-all, and
// focus on the first error of a form sent back.
(function () {
  "use strict";

  // Charts: <div data-figure="ID"> + <script type="application/json" id="ID">{plotly figure}</script>
  function drawCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(el, figure.data, figure.layout, {
        responsive: true,
        displaylogo: false,
        // No "Share chart": it would upload the subject's data to Plotly's cloud.
        modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "sendChartToCloud"],
      });
    });
  }

  // While an evaluation is pending, ask the server every 2 s; reload when it is done so the new
  // alerts, state and chart show without a manual refresh.
  function pollEvaluation() {
    var el = document.getElementById("evaluation-status");
    if (!el || el.dataset.pending !== "1") return;
    var tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      fetch(el.dataset.pollUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var box = document.createElement("div");
          box.innerHTML = html;
          var fresh = box.querySelector("#evaluation-status");
          if (fresh && fresh.dataset.pending === "0") {
            clearInterval(timer);
            window.location.reload();
          }
        })
        .catch(function () { /* keep trying; the banner stays */ });
      if (tries > 450) clearInterval(timer); // 15 minutes
    }, 2000);
  }

  // <input data-select-all="NAME"> ticks every checkbox name=NAME.
  function selectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (master) {
      master.addEventListener("change", function () {
        document.querySelectorAll('input[type=checkbox][name="' + master.dataset.selectAll + '"]')
          .forEach(function (box) { box.checked = master.checked; });
      });
    });
  }

  // A form sent back with errors: focus its first invalid control, whose error is read with it
  // (aria-describedby); with errors only on the form as a whole, focus their summary.
  function focusFirstError() {
    var target = document.querySelector("form [aria-invalid=true]") ||
      document.getElementById("form-errors");
    if (target) target.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError();
    drawCharts();
    pollEvaluation();
    selectAll();
  });
})();
