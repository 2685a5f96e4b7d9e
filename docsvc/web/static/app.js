// docsvc: small progressive enhancements shared by every page. The pages work without it.
(function () {
  "use strict";
  // The phone layout folds the menu and the search facets only when this script runs to open them.
  document.documentElement.classList.add("js");
  var narrow = window.matchMedia("(max-width: 720px)");
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector(".menu-toggle");
    var nav = document.getElementById("mainnav");
    if (toggle && nav) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = nav.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
    // Search facets: a drawer, closed on a phone so the results come first.
    document.querySelectorAll("details[data-drawer]").forEach(function (drawer) {
      if (narrow.matches) drawer.open = false;
    });
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
