// helpdesk console: progressive enhancement only. Every action also works without this script.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var live = document.getElementById("live");
  function say(text) { if (live) { live.textContent = ""; setTimeout(function () { live.textContent = text; }, 30); } }

  // Selection: select-all with an indeterminate state, and a bulk bar shown while something is selected.
  var all = document.getElementById("selectall");
  var bar = document.getElementById("bulkbar");
  var count = document.getElementById("selcount");
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("input.rowsel")); }
  function sync() {
    var r = rows(), n = r.filter(function (c) { return c.checked; }).length;
    if (all) { all.checked = n > 0 && n === r.length; all.indeterminate = n > 0 && n < r.length; }
    if (bar) { bar.classList.toggle("active", n > 0); }
    if (count) { count.textContent = n + " selected"; }
  }
  if (all) {
    all.addEventListener("change", function () { rows().forEach(function (c) { c.checked = all.checked; }); sync(); });
  }
  document.addEventListener("change", function (e) { if (e.target && e.target.classList && e.target.classList.contains("rowsel")) { sync(); } });
  var bulk = document.getElementById("bulk");
  if (bulk) {
    bulk.addEventListener("reset", function () { setTimeout(sync, 0); say("Selection cleared"); });
    // Quick per-row actions must not carry the selection of other rows.
    bulk.addEventListener("submit", function (e) {
      if (e.submitter && e.submitter.name === "quick") { rows().forEach(function (c) { c.checked = false; }); }
    });
  }
  sync();

  // Forms: show that something is happening, and stop double submits.
  document.addEventListener("submit", function (e) {
    var b = e.submitter;
    if (b && !b.disabled) { setTimeout(function () { b.disabled = true; b.setAttribute("aria-busy", "true"); }, 0); }
  });

  // Board: drag a card to a column; the server applies the workflow rules.
  var msg = document.getElementById("board-msg");
  var dragged = null;
  document.querySelectorAll(".bcard").forEach(function (card) {
    card.addEventListener("dragstart", function (e) { dragged = card; e.dataTransfer.setData("text/plain", card.dataset.id); });
    card.addEventListener("dragend", function () { dragged = null; });
  });
  document.querySelectorAll(".column").forEach(function (col) {
    col.addEventListener("dragover", function (e) { e.preventDefault(); col.classList.add("drop"); });
    col.addEventListener("dragleave", function () { col.classList.remove("drop"); });
    col.addEventListener("drop", function (e) {
      e.preventDefault(); col.classList.remove("drop");
      var card = dragged; if (!card || card.closest(".column") === col) { return; }
      var body = new URLSearchParams({ status: col.dataset.status, _csrf: csrf });
      fetch("/app/tickets/" + card.dataset.id + "/move", {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
      }).then(function (r) { return r.json().catch(function () { return { ok: false, message: "Not moved (server error)" }; }); })
        .then(function (res) {
          if (msg) { msg.className = res.ok ? "flash flash-ok" : "flash flash-error"; msg.textContent = res.message; }
          if (res.ok) { col.querySelector(".cards").prepend(card); var empty = col.querySelector(".empty-col"); if (empty) { empty.remove(); } }
        })
        .catch(function () { if (msg) { msg.className = "flash flash-error"; msg.textContent = "Not moved: the server could not be reached."; } });
    });
  });
})();
