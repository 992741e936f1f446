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
})();
