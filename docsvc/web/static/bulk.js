// docsvc: the document list's selection (templates/documents.html). Without this script every
// box is ticked by hand and the buttons work the same; with it, "select all on this page" ticks
// them all, and the bar says how many are selected.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-bulk]");
    if (!form) return;
    var all = form.querySelector("[data-select-all]");
    var count = form.querySelector("[data-selected-count]");
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input[data-select]"));
    var words = count ? count.getAttribute("data-words") : "";  // "已选 # 份", translated by the page
    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      if (all) {
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      }
      if (count) count.textContent = n === 0 ? "" : words.replace("#", String(n));
    }
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
})();
