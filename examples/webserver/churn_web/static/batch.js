// Batch page: show that the upload is running (scoring a large log takes a few seconds) and move the
// focus to the outcome so that screen-reader and keyboard users find it.
(function () {
  "use strict";
  var form = document.getElementById("batch-form");
  var button = document.getElementById("batch-submit");
  var input = document.getElementById("batch-file");
  if (form && button) {
    form.addEventListener("submit", function (event) {
      // Refuse a file over the limit here: the server would only answer 413 after receiving it all.
      var max = input ? Number(input.getAttribute("data-max-bytes")) : 0;
      if (input && input.files.length && max && input.files[0].size > max) {
        event.preventDefault();
        input.classList.add("is-invalid");
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "batch-file-error batch-help");
        input.focus();
        return;
      }
      button.disabled = true;
      button.textContent = "Scoring…";
    });
  }
  if (input) {
    input.addEventListener("change", function () { input.classList.remove("is-invalid"); input.removeAttribute("aria-invalid"); });
  }
  var target = document.getElementById("batch-error") || document.getElementById("result-title");
  if (target) { target.setAttribute("tabindex", "-1"); target.focus(); }
})();
