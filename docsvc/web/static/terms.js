// Autocomplete of tags and counterparties: an input with data-suggest (the JSON endpoint) and a
// list="…" <datalist> gets the names that start with (or contain) what is typed. With
// data-multi (tags, separated by commas) only the part after the last comma is looked up, and
// each offered option keeps what came before it. The endpoint answers only names the signed-in
// user may see (docsvc.services.terms).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";

  function setup(input) {
    var list = document.getElementById(input.getAttribute("list") || "");
    var url = input.getAttribute("data-suggest");
    var multi = input.hasAttribute("data-multi");
    var timer = null;
    var asked = null;
    if (!list || !url) return;

    function split() {
      var value = input.value;
      if (!multi) return ["", value];
      var cut = Math.max(value.lastIndexOf(","), value.lastIndexOf("，")) + 1;
      return [value.slice(0, cut), value.slice(cut)];
    }

    function fill() {
      var parts = split();
      var head = parts[0];
      var typed = parts[1];
      var lead = typed.match(/^\s*/)[0];
      var key = head + "\u0000" + typed.trim();
      if (key === asked) return;
      asked = key;
      fetch(url + "?prefix=" + encodeURIComponent(typed.trim()), {
        headers: {"X-CSRFToken": token, "Accept": "application/json"}, credentials: "same-origin"
      }).then(function (r) { return r.ok ? r.json() : {items: []}; }).then(function (data) {
        if (key !== asked) return;  // an older answer, overtaken by what was typed since
        var taken = head.split(/[,，]/).map(function (t) { return t.trim(); });
        list.textContent = "";
        (data.items || []).forEach(function (name) {
          if (multi && taken.indexOf(name) >= 0) return;
          var option = document.createElement("option");
          option.value = head + lead + name;
          list.appendChild(option);
        });
      }).catch(function () { /* no suggestions: the field still takes any name */ });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(fill, 120);
    });
    input.addEventListener("focus", fill);
  }

  document.querySelectorAll("input[data-suggest]").forEach(setup);
})();
