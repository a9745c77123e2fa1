// Help centre: progressive enhancement only; every page works without this script.
"use strict";

/* help: kb + request */
// The request form: suggested articles while the visitor types (debounced), and the KB's
// deflection when they leave without sending after opening one. Suggestions open in a new tab
// so nothing typed is lost.
(function () {
  var KEY = "hd-request";
  if (document.querySelector("[data-request-sent]")) {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
  }
  var form = document.getElementById("request-form");
  var box = document.getElementById("suggestions");
  if (!form || !box || !window.fetch) return;
  var subject = form.querySelector("#subject");
  var description = form.querySelector("#description");
  var csrf = form.querySelector("input[name=_csrf]").value;
  var state = null;
  try { state = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { state = null; }
  if (!state || !/^[0-9a-f]{32}$/.test(state.session || "") || !Array.isArray(state.opened)) {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] + 256).toString(16).slice(1);
    state = { session: hex, opened: [] };
  }
  function save() {
    try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* storage off */ }
  }
  function render(items) {
    box.textContent = "";
    if (!items.length) return;
    var h = document.createElement("h2");
    h.textContent = "These articles might help";
    var ul = document.createElement("ul");
    ul.className = "plain";
    items.forEach(function (it) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = it.url;
      a.target = "_blank";
      a.rel = "noopener";
      a.setAttribute("data-article", it.id);
      if (it.locale) a.lang = it.locale;
      a.textContent = it.title;
      var sr = document.createElement("span");
      sr.className = "sr-only";
      sr.textContent = " (opens in a new tab)";
      a.appendChild(sr);
      li.appendChild(a);
      if (it.summary) {
        var p = document.createElement("p");
        p.className = "hint";
        p.textContent = it.summary;
        li.appendChild(p);
      }
      ul.appendChild(li);
    });
    box.appendChild(h);
    box.appendChild(ul);
  }
  var timer = null, last = "", ctrl = null;
  function lookup() {
    var q = (subject.value + " " + description.value.slice(0, 500)).trim();
    if (q === last) return;
    last = q;
    if (q.length < 3) { render([]); return; }
    if (ctrl && ctrl.abort) ctrl.abort();
    ctrl = window.AbortController ? new AbortController() : null;
    fetch(form.getAttribute("data-suggest") + "?q=" + encodeURIComponent(q), {
      credentials: "same-origin",
      headers: { accept: "application/json" },
      signal: ctrl ? ctrl.signal : undefined
    })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) { render(Array.isArray(items) ? items : []); })
      .catch(function () { /* offline or aborted: no suggestions */ });
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(lookup, 350);
  }
  subject.addEventListener("input", later);
  description.addEventListener("input", later);
  function opened(ev) {
    var a = ev.target.closest ? ev.target.closest("a[data-article]") : null;
    if (!a) return;
    var id = a.getAttribute("data-article");
    if (state.opened.indexOf(id) < 0) {
      state.opened.push(id);
      save();
    }
  }
  box.addEventListener("click", opened);
  box.addEventListener("auxclick", opened);
  var sending = false;
  form.addEventListener("submit", function () { sending = true; });
  window.addEventListener("pagehide", function () {
    if (sending || !state.opened.length || !navigator.sendBeacon) return;
    var body = new URLSearchParams();
    body.append("_csrf", csrf);
    body.append("session", state.session);
    state.opened.slice(0, 5).forEach(function (id) { body.append("article", id); });
    navigator.sendBeacon("/help/requests/deflections", body);
  });
  if (subject.value) lookup();
})();
