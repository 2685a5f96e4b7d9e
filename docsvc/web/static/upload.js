// docsvc upload page: drag and drop, several files, per-file suggested labels, progress, result
// and retry. Each file is first sent to POST /api/v1/suggestions (nothing is archived), which
// answers the type, service category and project its content suggests, with confidence and the
// words that drove them; the row shows them as fields the person may change. Then each file goes
// to POST /api/v1/documents with the session cookie and the X-CSRFToken header (the API accepts
// a session only together with that header). A label the person left as suggested is not sent,
// so the server suggests it again and records the suggestion (a low-confidence one goes on the
// review list). A failed file stays in the list and can be sent again without picking it again.
// Without JavaScript the same form posts all files to /upload and the server renders the results.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var input = document.getElementById("files");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("filelist");
  var rowTemplate = document.getElementById("file-row");
  var summary = document.getElementById("upload-summary");
  var button = document.getElementById("upload-button");
  var t = document.getElementById("i18n").dataset;
  var csrf = document.querySelector("meta[name='csrf-token']").getAttribute("content");
  var english = document.documentElement.lang.indexOf("en") === 0;
  var maxBytes = Number(form.getAttribute("data-max-bytes"));
  var LABELS = ["doc_type", "service_category", "project"];
  var queue = [];
  var serial = 0;

  function human(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }

  function batchValue(name) {
    var el = form.elements.namedItem(name);
    return el ? el.value : "";
  }

  function rowField(item, name) {
    return item.row.querySelector(".s-" + name);
  }

  function setResult(item, ok, text, href) {
    var cell = item.row.querySelector(".fresult");
    cell.className = "fresult " + (ok ? "ok" : "bad");
    cell.textContent = "";
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      cell.appendChild(a);
    } else {
      cell.textContent = text;
    }
    if (ok) cell.removeAttribute("role"); else cell.setAttribute("role", "alert");
  }

  function errorText(xhr) {
    var body = null;
    try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
    var err = body && body.error;
    return err ? (english ? err.message_en : err.message) : "HTTP " + xhr.status;
  }

  function post(url, fd, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      if (onProgress) {
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100));
        });
      }
      xhr.addEventListener("load", function () { resolve(xhr); });
      xhr.addEventListener("error", function () { resolve(null); });
      xhr.send(fd);
    });
  }

  // The row's label fields: the batch value when the form sets one, else the suggestion.
  function showLabels(item) {
    LABELS.forEach(function (name) {
      var el = rowField(item, name);
      if (item.edited[name]) return;
      var suggested = item.suggestion && item.suggestion[name];
      el.value = batchValue(name) || (name === "project" ? (suggested || "") : (suggested ? suggested.value : ""));
    });
  }

  function confidence(item, name, label) {
    var span = item.row.querySelector(".conf-" + name);
    span.textContent = Math.round(label.confidence * 100) + "%";
    span.className = "conf conf-" + name + (label.confidence < 0.6 ? " low" : "");
  }

  function suggest(item) {
    var box = item.row.querySelector(".fsuggest");
    var terms = item.row.querySelector(".sterms");
    box.hidden = false;
    terms.textContent = t.suggesting;
    var fd = new FormData();
    fd.append("file", item.file, item.file.name);
    var title = batchValue("title");
    if (title) fd.append("title", title);
    return post(form.getAttribute("data-suggest-api"), fd).then(function (xhr) {
      if (!xhr || xhr.status !== 200) {
        terms.textContent = t.noSuggestion.replace("{why}", xhr ? errorText(xhr) : t.network);
        showLabels(item);
        return;
      }
      var s = JSON.parse(xhr.responseText);
      item.suggestion = s;
      confidence(item, "doc_type", s.doc_type);
      confidence(item, "service_category", s.service_category);
      var words = s.doc_type.terms.concat(s.service_category.terms).filter(function (w, i, all) {
        return all.indexOf(w) === i;
      }).slice(0, 6);
      terms.textContent = words.length ? t.terms.replace("{w}", words.join("、")) : "";
      if (s.needs_review) terms.textContent += (terms.textContent ? " · " : "") + t.review;
      showLabels(item);
    });
  }

  function buildRow(item) {
    var row = item.row;
    var n = ++serial;
    LABELS.forEach(function (name) {
      var el = rowField(item, name);
      var label = row.querySelector(".s-" + name + "-label");
      el.id = "s-" + name + "-" + n;
      el.name = "";
      label.setAttribute("for", el.id);
      if (el.tagName === "SELECT") {
        // The same choices as the form's field, without its blank "suggest" entry.
        Array.prototype.forEach.call(form.elements.namedItem(name).options, function (o) {
          if (o.value) el.appendChild(o.cloneNode(true));
        });
      }
      el.addEventListener("change", function () { item.edited[name] = true; });
    });
    row.querySelector(".fname").textContent = item.file.name;
    row.querySelector(".fsize").textContent = human(item.file.size);
    row.querySelector(".remove").addEventListener("click", function () {
      queue.splice(queue.indexOf(item), 1);
      row.remove();
    });
    row.querySelector(".retry").addEventListener("click", function () {
      if (button.disabled) return;
      run([item]);
    });
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) {
      var row = rowTemplate.content.firstElementChild.cloneNode(true);
      var item = { file: file, row: row, archived: false, refused: false, edited: {}, suggestion: null };
      buildRow(item);
      list.appendChild(row);
      queue.push(item);
      if (file.size > maxBytes) {
        item.refused = true;  // sending it again cannot help
        setResult(item, false, t.tooLarge + " " + human(maxBytes));
      } else {
        item.suggesting = suggest(item);
      }
    });
    // The files now live in the queue; clearing the input lets the same file be chosen again.
    input.value = "";
  }

  input.addEventListener("change", function () { add(input.files); });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (e) {
    if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) add(e.dataTransfer.files);
  });
  LABELS.forEach(function (name) {
    var el = form.elements.namedItem(name);
    if (el) el.addEventListener("change", function () { queue.forEach(showLabels); });
  });

  function metadata(fd, item) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.name === "csrf_token" || el.disabled) return;
      if (LABELS.indexOf(el.name) >= 0) return;
      if (el.value !== "") fd.append(el.name, el.value);
    });
    LABELS.forEach(function (name) {
      var value = rowField(item, name).value;
      var s = item.suggestion && item.suggestion[name];
      var suggested = name === "project" ? (s || "") : (s ? s.value : "");
      // Left as suggested (and the form sets nothing): let the server suggest and record it.
      if (!item.edited[name] && !batchValue(name) && value === suggested) return;
      if (value !== "") fd.append(name, value);
    });
  }

  function send(item) {
    var fd = new FormData();
    fd.append("file", item.file, item.file.name);
    metadata(fd, item);
    var progress = item.row.querySelector("progress");
    var retry = item.row.querySelector(".retry");
    retry.hidden = true;
    progress.value = 0;
    setResult(item, true, "");
    return post(form.getAttribute("data-api"), fd, function (p) { progress.value = p; }).then(function (xhr) {
      var body = null;
      if (xhr) { try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; } }
      if (xhr && xhr.status === 201 && body && body.document) {
        item.archived = true;
        progress.value = 100;
        var href = form.getAttribute("data-doc-url").replace(/0$/, String(body.document.id));
        setResult(item, true, t.archived + " #" + body.document.id, href);
        if (body.suggestion && body.suggestion.needs_review) {
          var a = document.createElement("a");
          a.href = form.getAttribute("data-review-url");
          a.className = "to-review";
          a.textContent = t.review;
          item.row.querySelector(".fresult").append(" · ", a);
        }
        Array.prototype.forEach.call(item.row.querySelectorAll(".fsuggest select, .fsuggest input, .remove"),
          function (el) { el.disabled = true; });
        return true;
      }
      setResult(item, false, t.failed.replace("{why}", xhr ? errorText(xhr) : t.network));
      retry.hidden = false;
      return false;
    });
  }

  function run(items) {
    button.disabled = true;
    summary.textContent = t.uploading;
    var ok = 0, bad = 0;
    // One at a time: writes are serialised by the catalog anyway, and progress stays readable.
    return items.reduce(function (chain, item) {
      return chain.then(function () { return item.suggesting; })
        .then(function () { return send(item); })
        .then(function (good) { if (good) ok++; else bad++; });
    }, Promise.resolve()).then(function () {
      button.disabled = false;
      bad += queue.filter(function (item) { return item.refused; }).length;
      summary.textContent = t.done.replace("{ok}", ok).replace("{bad}", bad);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    // Everything not archived yet, failed ones included: a retry needs no new pick.
    var pending = queue.filter(function (item) { return !item.archived && !item.refused; });
    if (!pending.length) {
      summary.textContent = t.none;
      return;
    }
    run(pending);
  });
})();
