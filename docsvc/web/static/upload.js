// docsvc upload page: drag and drop, several files, per-file progress and result.
// Each file goes to POST /api/v1/documents with the session cookie and the X-CSRFToken header
// (the API accepts a session only together with that header). Without JavaScript the same form
// posts all files to /upload and the server renders the results.
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
  var queue = [];

  function human(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
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
    if (!ok) cell.setAttribute("role", "alert");
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) {
      var row = rowTemplate.content.firstElementChild.cloneNode(true);
      var item = { file: file, row: row, done: false };
      row.querySelector(".fname").textContent = file.name;
      row.querySelector(".fsize").textContent = human(file.size);
      row.querySelector(".remove").addEventListener("click", function () {
        queue.splice(queue.indexOf(item), 1);
        row.remove();
      });
      list.appendChild(row);
      queue.push(item);
      if (file.size > maxBytes) {
        item.done = true;
        setResult(item, false, (english ? "Too large: the limit is " : "文件过大，上限为 ") + human(maxBytes));
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

  function metadata(fd) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "file" || el.name === "csrf_token" || el.disabled) return;
      if (el.value !== "") fd.append(el.name, el.value);
    });
  }

  function send(item) {
    return new Promise(function (resolve) {
      var fd = new FormData();
      fd.append("file", item.file, item.file.name);
      metadata(fd);
      var progress = item.row.querySelector("progress");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-api"));
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        item.done = true;
        if (xhr.status === 201 && body && body.document) {
          progress.value = 100;
          var href = form.getAttribute("data-doc-url").replace(/0$/, String(body.document.id));
          setResult(item, true, t.archived + " #" + body.document.id, href);
          resolve(true);
        } else {
          var err = body && body.error;
          var msg = err ? (english ? err.message_en : err.message) : "HTTP " + xhr.status;
          setResult(item, false, t.failed + "：" + msg);
          resolve(false);
        }
      });
      xhr.addEventListener("error", function () {
        setResult(item, false, t.network);
        resolve(false);
      });
      xhr.send(fd);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var pending = queue.filter(function (item) { return !item.done; });
    if (!pending.length) {
      summary.textContent = t.none;
      return;
    }
    button.disabled = true;
    summary.textContent = t.uploading;
    var ok = 0, bad = queue.filter(function (item) { return item.done; }).length;
    // One at a time: writes are serialised by the catalog anyway, and progress stays readable.
    pending.reduce(function (chain, item) {
      return chain.then(function () { return send(item); }).then(function (good) { if (good) ok++; else bad++; });
    }, Promise.resolve()).then(function () {
      button.disabled = false;
      summary.textContent = t.done.replace("{ok}", ok).replace("{bad}", bad);
    });
  });
})();
