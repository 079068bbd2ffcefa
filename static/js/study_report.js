// Study report: a click on an eDISH point opens that subject (its URL is the point's customdata).
(function () {
  "use strict";
  window.addEventListener("load", function () {
    document.querySelectorAll("[data-click-opens]").forEach(function (el) {
      if (!el.on) return;
      el.on("plotly_click", function (event) {
        var point = event && event.points && event.points[0];
        if (point && typeof point.customdata === "string" && point.customdata.charAt(0) === "/") {
          window.location.href = point.customdata;
        }
      });
    });
  });
})();
