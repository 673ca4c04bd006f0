// Model page charts, drawn with the locally served Chart.js from the JSON the page embeds.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || !window.Chart) return;
  var data = JSON.parse(node.textContent);
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  Chart.defaults.animation = reduceMotion ? false : { duration: 300 };
  Chart.defaults.maintainAspectRatio = false;

  function points(curve) {
    return curve.x.map(function (x, i) {
      return curve.rows ? { x: x, y: curve.y[i], rows: curve.rows[i] } : { x: x, y: curve.y[i] };
    });
  }
  function axis(title) {
    return { type: "linear", min: 0, max: 1, title: { display: true, text: title } };
  }
  function curve(id, curveData, label, xTitle, yTitle, diagonal) {
    var el = document.getElementById(id);
    if (!el || !curveData) return;
    var sets = [{ label: label, data: points(curveData), borderColor: "#0d6efd", backgroundColor: "#0d6efd",
                  pointRadius: 0, borderWidth: 2, showLine: true, stepped: false }];
    if (diagonal) {
      sets.push({ label: "chance", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#adb5bd",
                  borderDash: [4, 4], pointRadius: 0, borderWidth: 1, showLine: true });
    }
    new Chart(el, { type: "scatter", data: { datasets: sets },
                    options: { scales: { x: axis(xTitle), y: axis(yTitle) } } });
  }
  curve("roc-chart", data.roc, "ROC", "False positive rate", "True positive rate", true);
  curve("pr-chart", data.pr, "Precision-recall", "Recall", "Precision", false);

  function line(label, pts, colour, dashed) {
    return { label: label, data: pts, borderColor: colour, backgroundColor: colour, showLine: true,
             pointRadius: dashed ? 0 : 2, borderWidth: dashed ? 1 : 2, borderDash: dashed ? [4, 4] : [] };
  }
  var gainsEl = document.getElementById("gains-chart");
  if (gainsEl && data.gains) {
    var gsets = [line("model", points(data.gains.model), "#0d6efd", false),
                 line("calling at random", [{ x: 0, y: 0 }, { x: 1, y: 1 }], "#adb5bd", true)];
    if (data.gains.base_rate) {
      gsets.push(line("perfect ranking", [{ x: 0, y: 0 }, { x: Math.min(data.gains.base_rate, 1), y: 1 }, { x: 1, y: 1 }],
                      "#198754", true));
    }
    gsets[0].pointRadius = 0;
    new Chart(gainsEl, { type: "scatter", data: { datasets: gsets },
                         options: { scales: { x: axis("share of customers called, riskiest first"),
                                              y: axis("share of leavers reached") } } });
  }
  var relEl = document.getElementById("reliability-chart");
  if (relEl && data.reliability) {
    var rsets = [line("perfectly calibrated", [{ x: 0, y: 0 }, { x: 1, y: 1 }], "#adb5bd", true),
                 line("before calibration", points(data.reliability.before), "#fd7e14", false)];
    if (data.reliability.after) {
      rsets.push(line("after calibration", points(data.reliability.after), "#0d6efd", false));
    }
    // Each point is a group of customers; its size says how much its observed share can be trusted.
    var pct = function (v) { return (100 * v).toFixed(1) + " %"; };
    new Chart(relEl, { type: "scatter", data: { datasets: rsets },
                       options: { scales: { x: axis("predicted probability of leaving"),
                                            y: axis("share who really left") },
                                  plugins: { tooltip: { callbacks: { label: function (ctx) {
                                    var r = ctx.raw.rows;
                                    return ctx.dataset.label + ": predicted " + pct(ctx.raw.x) + ", left " + pct(ctx.raw.y) +
                                      (r ? " (" + r + " customers)" : "");
                                  } } } } } });
  }

  var imp = document.getElementById("importance-chart");
  if (imp && data.importance) {
    var sets = [{ label: "impurity importance", data: data.importance.impurity, backgroundColor: "#0d6efd" }];
    if (data.importance.permutation) {
      sets.push({ label: "permutation importance (drop in ROC AUC)", data: data.importance.permutation,
                  backgroundColor: "#fd7e14" });
    }
    new Chart(imp, { type: "bar", data: { labels: data.importance.labels, datasets: sets },
                     options: { indexAxis: "y", scales: { y: { ticks: { autoSkip: false } } } } });
  }

  var hist = document.getElementById("histogram-chart");
  if (hist && data.histogram) {
    new Chart(hist, {
      type: "bar",
      data: { labels: data.histogram.bins, datasets: [
        { label: "stayed", data: data.histogram.stayed, backgroundColor: "rgba(25,135,84,0.7)" },
        { label: "churned", data: data.histogram.churned, backgroundColor: "rgba(220,53,69,0.7)" }] },
      options: { scales: { x: { stacked: false, title: { display: true, text: (data.calibrated ? "calibrated " : "") + "predicted P(churn), bins of 0.05 (threshold " +
                   data.threshold.toFixed(2) + ")" } }, y: { title: { display: true, text: "users" } } } }
    });
  }
})();
