// Model page: the SHAP charts (mean |SHAP| per group and feature, a beeswarm of the leading features),
// drawn with the locally served Chart.js from the JSON the page embeds (id "shap-data").
(function () {
  "use strict";
  var node = document.getElementById("shap-data");
  if (!node || !window.Chart) return;
  var data = JSON.parse(node.textContent);

  function bars(id, part, colour) {
    var el = document.getElementById(id);
    if (!el || !part) return;
    new Chart(el, { type: "bar",
      data: { labels: part.labels, datasets: [{ label: "mean |SHAP| (percentage points)", data: part.values, backgroundColor: colour }] },
      options: { indexAxis: "y", scales: { y: { ticks: { autoSkip: false } },
                                           x: { title: { display: true, text: "mean |SHAP|, percentage points" } } } } });
  }
  bars("shap-groups-chart", data.groups, "#6f42c1");
  bars("shap-features-chart", data.features, "#20c997");

  // Blue (low) to red (high) by the value's percentile among the training customers.
  function colour(p) {
    if (p === null || p === undefined) return "rgba(108,117,125,0.6)";
    var t = Math.max(0, Math.min(1, p / 100));
    return "rgba(" + Math.round(13 + t * (220 - 13)) + "," + Math.round(110 - t * 57) + "," + Math.round(253 - t * (253 - 69)) + ",0.7)";
  }
  var swarm = document.getElementById("shap-beeswarm-chart");
  if (swarm && data.beeswarm && data.beeswarm.length) {
    var names = data.beeswarm.map(function (f) { return f.feature; });
    var sets = data.beeswarm.map(function (f, row) {
      // A deterministic jitter: dots of one feature spread over its row without random numbers.
      var pts = f.points.map(function (pt, i) { return { x: pt.x, y: row + (((i * 0.618034) % 1) - 0.5) * 0.6 }; });
      return { label: f.feature, data: pts, pointRadius: 2.5,
               pointBackgroundColor: f.points.map(function (pt) { return colour(pt.p); }),
               pointBorderWidth: 0 };
    });
    new Chart(swarm, { type: "scatter", data: { datasets: sets },
      options: { plugins: { legend: { display: false } },
        scales: { x: { title: { display: true, text: "SHAP value, percentage points (right: raises the churn risk)" } },
                  y: { reverse: true, min: -0.6, max: names.length - 0.4,
                       afterBuildTicks: function (axis) { axis.ticks = names.map(function (_, i) { return { value: i }; }); },
                       ticks: { autoSkip: false, callback: function (v) { return names[Math.round(v)] || ""; } } } } } });
  }
})();
