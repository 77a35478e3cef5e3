// fact-store web console: live updates, the time slider, bracket matching. No inline script
// anywhere (the CSP forbids it); every page works without this file.
"use strict";
(function () {
  var body = document.body;
  var dot = document.getElementById("live-dot");

  // -- live updates: Server-Sent Events say a transaction happened; refresh what is marked live
  var liveParts = document.querySelectorAll("[data-live]");
  var statusSrc = body.getAttribute("data-live-status");
  if ((liveParts.length || statusSrc) && window.EventSource) {
    // one refresh at a time, at most four a second: the first change after a quiet spell shows
    // at once, a burst of transactions costs the server a few requests per page, not one each
    var MIN_GAP_MS = 250;
    var busy = false, again = false, last = 0;
    var refresh = function () {
      if (busy) { again = true; return; }
      var wait = last + MIN_GAP_MS - Date.now();
      if (wait > 0) { busy = true; setTimeout(function () { busy = false; refresh(); }, wait); return; }
      busy = true; again = false; last = Date.now();
      var done = function () { busy = false; if (again) { refresh(); } };
      var p = statusSrc ? refreshStatuses() : refreshParts();
      p.then(done, done);
    };
    var refreshParts = function () {
      return fetch(location.href, {headers: {"Accept": "text/html"}, credentials: "same-origin"})
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          liveParts.forEach(function (el) {
            var fresh = doc.getElementById(el.id);
            if (fresh) { el.innerHTML = fresh.innerHTML; }
          });
        });
    };
    var refreshStatuses = function () {
      return fetch(statusSrc, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var st = data.statuses || {};
          document.querySelectorAll("[data-job]").forEach(function (g) {
            var s = st[g.getAttribute("data-job")];
            if (s && g.getAttribute("data-status") !== s) {
              g.setAttribute("data-status", s);
              g.setAttribute("class", "node st-" + s);
            }
          });
          document.querySelectorAll("[data-group]").forEach(function (g) {
            var c = (data.groups || {})[g.getAttribute("data-group")];
            if (c) { g.querySelector("title").textContent = c; }
          });
          var counts = document.getElementById("graph-counts");
          if (counts && data.counts_text) { counts.textContent = data.counts_text; }
          body.setAttribute("data-live-t", String(data.t));
        });
    };
    var es = new EventSource("/events");
    es.addEventListener("hello", function () { if (dot) { dot.classList.add("on"); } refresh(); });
    es.addEventListener("tx", refresh);
    es.onerror = function () { if (dot) { dot.classList.remove("on"); } };
  }

  // -- the time slider: moving it shows the state as of that t (the Go button does the same)
  document.querySelectorAll("input[data-autosubmit]").forEach(function (el) {
    var out = document.getElementById(el.getAttribute("data-output"));
    el.addEventListener("input", function () { if (out) { out.textContent = el.value; } });
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // -- bracket matching in EDN editors: name the bracket matching the one at the caret
  var pairs = {"(": ")", "[": "]", "{": "}"};
  var closers = {")": "(", "]": "[", "}": "{"};
  var match = function (text, pos) {
    var c = text[pos];
    var dir = pairs[c] ? 1 : closers[c] ? -1 : 0;
    if (!dir) { return -1; }
    var depth = 0, inStr = false;
    for (var i = pos; i >= 0 && i < text.length; i += dir) {
      var ch = text[i];
      if (ch === '"' && text[i - 1] !== "\\") { inStr = !inStr; continue; }
      if (inStr) { continue; }
      if ((dir > 0 && pairs[ch]) || (dir < 0 && closers[ch])) { depth++; }
      else if ((dir > 0 && closers[ch]) || (dir < 0 && pairs[ch])) { depth--; if (depth === 0) { return i; } }
    }
    return -2;
  };
  var where = function (text, i) {
    var before = text.slice(0, i).split("\n");
    return "line " + before.length + ", column " + (before[before.length - 1].length + 1);
  };
  document.querySelectorAll("textarea.edn").forEach(function (ta) {
    var note = document.createElement("div");
    note.className = "brackets muted";
    ta.parentNode.insertBefore(note, ta.nextSibling);
    var show = function () {
      var t = ta.value, p = ta.selectionStart;
      var at = (pairs[t[p]] || closers[t[p]]) ? p : (pairs[t[p - 1]] || closers[t[p - 1]]) ? p - 1 : -1;
      if (at < 0) { note.textContent = ""; return; }
      var m = match(t, at);
      note.textContent = m >= 0 ? "'" + t[at] + "' matches '" + t[m] + "' at " + where(t, m)
                                : "'" + t[at] + "' has no match";
      note.className = "brackets " + (m >= 0 ? "muted" : "bad");
    };
    ta.addEventListener("keyup", show);
    ta.addEventListener("click", show);
  });
})();
