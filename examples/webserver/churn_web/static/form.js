// Client-side validation of the customer form with the browser's own constraint checks (min, max, step,
// required) and Bootstrap's styles; the server checks everything again.
(function () {
  "use strict";
  var form = document.getElementById("customer-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    if (form.checkValidity()) return;
    event.preventDefault();
    event.stopPropagation();
    var invalid = form.querySelectorAll("input:invalid, select:invalid");
    invalid.forEach(function (el) { el.classList.add("is-invalid"); el.setAttribute("aria-invalid", "true"); });
    var first = invalid[0];
    if (!first) return;
    // A bad value in the collapsed "all fields" section: open it so that the message can be seen.
    var section = first.closest(".collapse");
    if (section && !section.classList.contains("show") && window.bootstrap) {
      window.bootstrap.Collapse.getOrCreateInstance(section, { toggle: false }).show();
      var toggle = document.getElementById("toggle-all-fields");
      if (toggle) toggle.setAttribute("aria-expanded", "true");
    }
    first.focus();
  });
  form.addEventListener("input", function (event) {
    var el = event.target;
    if (el.classList.contains("is-invalid") && el.checkValidity()) {
      el.classList.remove("is-invalid");
      el.removeAttribute("aria-invalid");
    }
  });
  var summary = document.getElementById("form-errors");
  if (summary) summary.focus();
})();
