// vigil dashboard: draw the page's charts and ask before actions. No network calls:
// the figures come embedded in the page, Plotly from this server.
(function () {
  "use strict";
  function drawCharts() {
    var holder = document.getElementById("chart-data");
    if (!holder || typeof Plotly === "undefined") { return; }
    var figures = JSON.parse(holder.textContent);
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var fig = figures[el.dataset.chart];
      if (!fig) { return; }
      Plotly.newPlot(el, fig.data, fig.layout, {
        displaylogo: false, responsive: true,
        modeBarButtonsToRemove: ["sendDataToCloud"]
      }).then(function () { el.dataset.drawn = "true"; });
    });
  }
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(); confirmations();
  });
})();
