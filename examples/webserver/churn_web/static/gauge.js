// The verdict gauge: places the threshold label under the threshold marker, kept inside the gauge.
(function () {
  "use strict";
  var label = document.getElementById("threshold-label");
  if (!label) return;
  var scale = label.parentElement;
  function place() {
    var at = parseFloat(label.getAttribute("data-at"));
    if (!isFinite(at)) return;
    scale.classList.add("gauge-scale-placed");
    var width = scale.clientWidth, own = label.offsetWidth;
    var left = Math.min(Math.max(width * at / 100 - own / 2, 0), Math.max(width - own, 0));
    label.style.left = left + "px";  // CSSOM, which the CSP allows (unlike a style attribute)
  }
  place();
  window.addEventListener("resize", place);
})();
