/* Draws the Overview's charts with uPlot from each `.chart[data-chart]` element's JSON:
   {"x": [unix seconds...], "series": [{"key", "label", "values": [...]}, ...]}.
   No inline script (the Content-Security-Policy forbids it); the numbers are also in the
   page's tables, so nothing is lost without JavaScript. */
(function () {
  "use strict";
  if (typeof window.uPlot !== "function") {
    return;
  }
  var COLORS = {
    mentions: "#4c6ef5",
    negative: "#e03131",
    neutral: "#868e96",
    positive: "#2f9e44"
  };
  var HEIGHT = 180;

  function draw(el) {
    var spec;
    try {
      spec = JSON.parse(el.getAttribute("data-chart"));
    } catch (err) {
      return;
    }
    if (!spec || !Array.isArray(spec.x) || !Array.isArray(spec.series)) {
      return;
    }
    var ink = window.getComputedStyle(document.body).color;
    var grid = { stroke: "rgba(128, 128, 128, 0.2)", width: 1 };
    var series = [{}];
    var data = [spec.x];
    spec.series.forEach(function (s) {
      series.push({
        label: String(s.label),
        stroke: COLORS[s.key] || ink,
        width: s.key === "mentions" ? 2 : 1,
        points: { show: false }
      });
      data.push(s.values);
    });
    var plot = new window.uPlot(
      {
        width: Math.max(el.clientWidth, 240),
        height: HEIGHT,
        series: series,
        axes: [
          { stroke: ink, grid: grid, ticks: grid },
          { stroke: ink, grid: grid, ticks: grid }
        ],
        scales: { y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } }
      },
      data,
      el
    );
    el.classList.add("drawn");
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(function () {
        plot.setSize({ width: Math.max(el.clientWidth, 240), height: HEIGHT });
      }).observe(el);
    }
  }

  document.querySelectorAll(".chart[data-chart]").forEach(draw);
})();
