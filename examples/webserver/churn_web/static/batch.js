// Batch page: show that the upload is running (scoring a large log takes a few seconds) and move the
// focus to the outcome so that screen-reader and keyboard users find it.
(function () {
  "use strict";
  var form = document.getElementById("batch-form");
  var button = document.getElementById("batch-submit");
  if (form && button) {
    form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = "Scoring…";
    });
  }
  var target = document.getElementById("batch-error") || document.getElementById("result-title");
  if (target) { target.setAttribute("tabindex", "-1"); target.focus(); }
})();
