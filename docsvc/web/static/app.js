// docsvc: small progressive enhancements shared by every page. The pages work without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // After a rejected form, put the keyboard on the first field that needs fixing.
    var invalid = document.querySelector("[aria-invalid='true']");
    if (invalid) invalid.focus();
    else {
      // A result the page was asked for (e.g. a preview below a form): move the keyboard there.
      var target = document.querySelector("[data-autofocus]");
      if (target) target.focus();
    }
    // Ask before irreversible actions (e.g. revoking a token): buttons with data-confirm.
    document.querySelectorAll("form [data-confirm]").forEach(function (btn) {
      btn.addEventListener("click", function (e) {
        if (!window.confirm(btn.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  });
})();
