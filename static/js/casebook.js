/* Casebook: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  // Dismissable flash messages.
  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var flash = dismiss.closest(".flash");
      if (flash) flash.remove();
      return;
    }

    // Copy buttons: data-copy="<selector of the element holding the text>".
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (!source) return;
      var text = source.textContent.trim();
      var done = function () {
        var label = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
      } else {
        selectText(source);
        try { if (document.execCommand("copy")) done(); } catch (e) { /* user copies by hand */ }
      }
    }
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Success messages fade after a while; errors stay until dismissed.
  document.querySelectorAll(".flashes .flash-success, .flashes .flash-info").forEach(function (flash) {
    setTimeout(function () {
      flash.classList.add("is-leaving");
      setTimeout(function () { flash.remove(); }, 400);
    }, 8000);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;

    // Forms with data-confirm ask first (revoking tokens, removing members).
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }

    // GET filter forms: leave empty fields out of the URL.
    if (form.hasAttribute("data-drop-empty") && form.method.toLowerCase() === "get") {
      event.preventDefault();
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (String(value).trim() !== "") params.append(name, value);
      });
      var query = params.toString();
      window.location.assign(form.action.split("?")[0] + (query ? "?" + query : ""));
    }
  });

  // Status move: closing and reopening need a reason.
  document.querySelectorAll("form[data-move]").forEach(function (form) {
    var select = form.querySelector("select[name=to]");
    var reason = form.querySelector("textarea[name=reason]");
    var hint = form.querySelector("[data-move-hint]");
    var current = form.getAttribute("data-current");
    var defaultHint = hint ? hint.textContent : "";
    function update() {
      var to = select.value;
      var needed = to === "closed" || current === "closed";
      reason.required = needed;
      if (hint) {
        hint.classList.toggle("is-required", needed);
        hint.textContent = needed
          ? "A reason is required to " + (to === "closed" ? "close" : "reopen") + " this incident."
          : defaultHint;
      }
    }
    select.addEventListener("change", update);
    update();
  });

  // Section navigation on the incident page: mark the section being read.
  var spy = document.querySelector("[data-scrollspy]");
  if (spy) {
    var links = {};
    var ids = [];
    spy.querySelectorAll("a[href^='#']").forEach(function (a) {
      var id = a.getAttribute("href").slice(1);
      if (document.getElementById(id)) { links[id] = a; ids.push(id); }
    });
    var mark = function () {
      var offset = spy.getBoundingClientRect().bottom + 16;
      var active = ids[0];
      ids.forEach(function (id) {
        if (document.getElementById(id).getBoundingClientRect().top <= offset) active = id;
      });
      // Near the bottom the last sections cannot reach the top: trust the link followed.
      var hash = window.location.hash.slice(1);
      var atBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 4;
      if (atBottom && links[hash]) active = hash;
      ids.forEach(function (id) {
        if (id === active) links[id].setAttribute("aria-current", "true");
        else links[id].removeAttribute("aria-current");
      });
    };
    var queued = false;
    window.addEventListener("scroll", function () {
      if (queued) return;
      queued = true;
      window.requestAnimationFrame(function () { queued = false; mark(); });
    }, { passive: true });
    window.addEventListener("hashchange", mark);
    window.addEventListener("load", mark);
    mark();
  }

  // Evidence upload: drop zone, XMLHttpRequest (for progress events) to the API,
  // JSON errors shown next to their fields. The form has no action: without this
  // script its submit button stays disabled and a note explains why.
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector("[data-dropzone]");
    var fileLabel = form.querySelector("[data-file-label]");
    var title = form.querySelector("input[name=title]");
    var submit = form.querySelector("[data-upload-submit]");
    var cancel = form.querySelector("[data-upload-cancel]");
    var status = form.querySelector("[data-upload-status]");
    var summary = form.querySelector("[data-upload-errors]");
    var progressBox = form.querySelector("[data-upload-progress]");
    var bar = form.querySelector("[data-progress-bar]");
    var barText = form.querySelector("[data-progress-text]");
    var xhr = null;
    var autoTitle = "";

    submit.disabled = false;

    function humanBytes(n) {
      var units = ["bytes", "KB", "MB", "GB", "TB"];
      var i = 0;
      while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
      return i === 0 ? n + " bytes" : n.toFixed(1) + " " + units[i];
    }

    function showFile() {
      var file = input.files && input.files[0];
      zone.classList.toggle("has-file", !!file);
      fileLabel.textContent = file ? file.name + " · " + humanBytes(file.size) : "No file chosen";
      if (file && (title.value.trim() === "" || title.value === autoTitle)) {
        autoTitle = file.name.slice(0, 200);
        title.value = autoTitle;
      }
      if (file) clearError("file");
    }

    function clearError(name) {
      var holder = form.querySelector("[data-error-for='" + name + "']");
      if (holder) { holder.hidden = true; holder.textContent = ""; }
      var field = name === "file" ? zone : (form.elements[name] && form.elements[name].closest(".field"));
      if (field) field.classList.remove("field-error");
    }

    function clearErrors() {
      summary.hidden = true;
      summary.textContent = "";
      form.querySelectorAll("[data-error-for]").forEach(function (holder) {
        clearError(holder.getAttribute("data-error-for"));
      });
    }

    // detail: the sentence for the box; errors: [{field, message}] placed by field.
    function showErrors(detail, errors) {
      summary.textContent = "";
      var head = document.createElement("strong");
      head.textContent = detail || "The upload was refused.";
      summary.appendChild(head);
      var unplaced = [];
      (errors || []).forEach(function (error) {
        var name = error.field || "";
        var holder = name && form.querySelector("[data-error-for='" + name + "']");
        if (holder) {
          holder.textContent = holder.textContent ? holder.textContent + " " + error.message : error.message;
          holder.hidden = false;
          var field = name === "file" ? zone : form.elements[name] && form.elements[name].closest(".field");
          if (field) field.classList.add("field-error");
        } else {
          unplaced.push((name ? name + ": " : "") + error.message);
        }
      });
      if (unplaced.length) {
        var list = document.createElement("ul");
        unplaced.forEach(function (text) {
          var li = document.createElement("li");
          li.textContent = text;
          list.appendChild(li);
        });
        summary.appendChild(list);
      }
      summary.hidden = false;
      summary.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }

    function setBusy(busy) {
      form.classList.toggle("is-busy", busy);
      submit.disabled = busy;
      cancel.hidden = !busy;
      input.disabled = busy;
    }

    function csrfToken() {
      var hidden = form.querySelector("input[name=csrfmiddlewaretoken]");
      if (hidden && hidden.value) return hidden.value;
      var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      return match ? decodeURIComponent(match[1]) : "";
    }

    input.addEventListener("change", showFile);

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
        zone.classList.add("is-over");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-over");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-over");
      if (input.disabled) return;
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      var one = new DataTransfer();
      one.items.add(files[0]);
      input.files = one.files;
      showFile();
      status.textContent = files.length > 1 ? "One file at a time: only " + files[0].name + " was taken." : "";
    });

    cancel.addEventListener("click", function () { if (xhr) xhr.abort(); });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (xhr) return;
      clearErrors();
      status.textContent = "";
      var file = input.files && input.files[0];
      var errors = [];
      if (!file) errors.push({ field: "file", message: "Choose a file to upload." });
      if (!title.value.trim()) errors.push({ field: "title", message: "A title is required." });
      if (errors.length) { showErrors("Some fields need attention.", errors); return; }

      var data = new FormData();
      data.append("file", file, file.name);
      ["title", "description", "source", "collected_by", "location"].forEach(function (name) {
        var value = form.elements[name] ? form.elements[name].value.trim() : "";
        if (value !== "") data.append(name, value);
      });
      // datetime-local has no zone; the label says UTC, so send it as UTC.
      var collected = form.elements.collected_at.value;
      if (collected) data.append("collected_at", collected.slice(0, 16) + ":00Z");
      data.append("privileged", form.elements.privileged.checked ? "true" : "false");

      var request = xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-endpoint"));
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "text";

      progressBox.hidden = false;
      bar.value = 0;
      barText.textContent = "0% · 0 bytes of " + humanBytes(file.size);
      setBusy(true);
      status.textContent = "Uploading…";

      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var pct = Math.floor((e.loaded / e.total) * 100);
        bar.value = pct;
        barText.textContent = pct + "% · " + humanBytes(Math.min(e.loaded, file.size)) + " of " + humanBytes(file.size);
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        barText.textContent = "100% · " + humanBytes(file.size);
        status.textContent = "Received; recording the exhibit…";
      });

      var finish = function () { xhr = null; setBusy(false); };

      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
        if (request.status === 201 && body) {
          status.textContent = (body.exhibit || "Item") + " recorded. Opening it…";
          var target = body.id
            ? form.getAttribute("data-item-url").replace(/\/0\/$/, "/" + encodeURIComponent(body.id) + "/")
            : form.getAttribute("data-list-url");
          window.location.assign(target);
          return;
        }
        finish();
        progressBox.hidden = true;
        status.textContent = "";
        var detail = body && body.detail ? body.detail : "The upload failed (HTTP " + request.status + ").";
        if (request.status === 403 && !(body && body.detail)) detail = "Not allowed. Your session may have expired: sign in again.";
        showErrors(detail, body && body.errors);
      });
      xhr.addEventListener("error", function () {
        finish();
        progressBox.hidden = true;
        status.textContent = "";
        showErrors("The connection failed before the server answered; nothing was recorded. Try again.", []);
      });
      xhr.addEventListener("abort", function () {
        finish();
        progressBox.hidden = true;
        status.textContent = "Upload cancelled.";
      });
      xhr.send(data);
    });
  });

  // Custody form: show the transfer or analysis fields only for that action.
  document.querySelectorAll("form[data-custody-form]").forEach(function (form) {
    var select = form.querySelector("[data-custody-action]");
    function update() {
      form.querySelectorAll("[data-show-for]").forEach(function (el) {
        el.hidden = el.getAttribute("data-show-for") !== select.value;
      });
      form.querySelectorAll("[data-required-for]").forEach(function (el) {
        el.required = el.getAttribute("data-required-for") === select.value;
      });
    }
    select.addEventListener("change", update);
    update();
  });
})();

/* Jobs (dossiers, analyses, custody verifications and bundles): poll each unfinished
   job and move its progress bar; reload when one finishes so the page shows its result. */
(function () {
  "use strict";
  var rows = document.querySelectorAll("tr[data-dossier], tr[data-analysis], [data-custody-job]");
  rows.forEach(function (row) {
    var status = row.getAttribute("data-status");
    if (status === "done" || status === "failed") return;
    var bar = row.querySelector("[data-progress]");
    var stage = row.querySelector("[data-stage]");
    var poll = function () {
      fetch(row.getAttribute("data-poll-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (job) {
          if (bar) bar.value = job.progress;
          if (stage) stage.textContent = job.progress + "% · " + (job.stage || job.status);
          if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
          setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  });
})();
