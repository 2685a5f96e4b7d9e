// Custom fields in the document forms (templates/fields_macros.html): only the fieldset of the
// chosen document type is shown; the others are hidden and their inputs disabled, so they are
// neither sent by the form nor by static/upload.js. Without JavaScript every type's fieldset
// is shown and the server keeps only the chosen type's fields.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-custom-fields]"), function (box) {
    var form = box.closest("form");
    var select = form && form.elements.namedItem("doc_type");
    if (!select) return;
    function show() {
      Array.prototype.forEach.call(box.querySelectorAll("fieldset[data-doc-type]"), function (set) {
        var on = set.getAttribute("data-doc-type") === select.value;
        set.hidden = !on;
        Array.prototype.forEach.call(set.querySelectorAll("input, select, textarea"), function (el) {
          el.disabled = !on;
        });
      });
    }
    select.addEventListener("change", show);
    show();
  });
})();
