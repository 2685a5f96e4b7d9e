// docsvc: repeatable table rows on the template form (add and remove rows). Without this script
// the form still works: it shows a few empty rows, and rows left blank are not submitted.
(function () {
  "use strict";

  function rows(list) { return list.querySelectorAll("tbody > tr"); }

  function update(list) {
    // Visible row numbers follow the order on screen; input names keep their own numbers (the
    // server reads rows in numeric order and drops blank ones).
    var all = rows(list);
    all.forEach(function (tr, i) {
      var head = tr.querySelector("th.rowno");
      if (head) head.textContent = String(i + 1);
    });
    var add = list.querySelector("[data-add-row]");
    if (add) add.disabled = all.length >= parseInt(list.getAttribute("data-max") || "1000", 10);
  }

  function announce(list, text) {
    var live = list.querySelector("[data-live]");
    if (live) live.textContent = text;
  }

  function enableRemove(scope) {
    scope.querySelectorAll("[data-remove-row]").forEach(function (btn) { btn.hidden = false; });
  }

  function addRow(list) {
    var tpl = list.querySelector("template");
    var next = parseInt(list.getAttribute("data-next") || "0", 10);
    list.setAttribute("data-next", String(next + 1));
    var holder = document.createElement("tbody");
    holder.innerHTML = tpl.innerHTML.split("__i__").join(String(next));
    var tr = holder.querySelector("tr");
    list.querySelector("tbody").appendChild(tr);
    enableRemove(tr);
    update(list);
    var first = tr.querySelector("input, select, textarea");
    if (first) first.focus();
    announce(list, (list.getAttribute("data-added") || "").replace("{n}", String(rows(list).length)));
  }

  function removeRow(list, tr) {
    var all = Array.prototype.slice.call(rows(list));
    var i = all.indexOf(tr);
    tr.parentNode.removeChild(tr);
    update(list);
    var left = rows(list);
    // Keep the keyboard in the table: the next row's remove button, else the previous one, else "add".
    var target = left[Math.min(i, left.length - 1)];
    var focus = target ? target.querySelector("[data-remove-row]") : list.querySelector("[data-add-row]");
    if (focus) focus.focus();
    announce(list, list.getAttribute("data-removed") || "");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rows]").forEach(function (list) {
      var add = list.querySelector("[data-add-row]");
      if (add) {
        add.hidden = false;
        add.addEventListener("click", function () { addRow(list); });
      }
      enableRemove(list.querySelector("tbody"));
      list.querySelector("tbody").addEventListener("click", function (e) {
        var btn = e.target.closest("[data-remove-row]");
        if (btn) removeRow(list, btn.closest("tr"));
      });
      update(list);
    });
  });
})();
