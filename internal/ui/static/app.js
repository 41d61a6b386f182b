// Phalanx dashboard: the live feed (server-sent events) and small
// interactions. No inline script: the CSP allows only this file.
"use strict";
(function () {
  // Confirm before destructive submits (buttons with data-confirm).
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("[data-confirm]") : null;
    if (b && !window.confirm(b.getAttribute("data-confirm"))) {
      ev.preventDefault();
    }
  });
  // "Select all" checkboxes select the rows of their table.
  document.querySelectorAll("input.select-all").forEach(function (all) {
    all.addEventListener("change", function () {
      var table = all.closest("table");
      table.querySelectorAll("tbody input[type=checkbox][name=id]").forEach(function (c) {
        c.checked = all.checked;
      });
    });
  });
  // Live feed of new alerts.
  var feed = document.getElementById("feed");
  if (!feed || !window.EventSource) {
    return;
  }
  var base = feed.getAttribute("data-alerts");
  var es = new EventSource(feed.getAttribute("data-events"));
  es.addEventListener("alert", function (ev) {
    var a;
    try { a = JSON.parse(ev.data); } catch (e) { return; }
    var li = document.createElement("li");
    li.className = "new";
    var link = document.createElement("a");
    link.href = base + encodeURIComponent(String(a.id));
    link.textContent = "#" + a.id;
    li.appendChild(link);
    li.appendChild(document.createTextNode(" " + a.start + " "));
    var s = document.createElement("strong");
    s.textContent = a.scenario;
    li.appendChild(s);
    li.appendChild(document.createTextNode(" " + a.value + (a.decisions ? " (" + a.decisions + " decision(s))" : "")));
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > 50) {
      feed.removeChild(feed.lastChild);
    }
    var count = document.getElementById("alert-count");
    if (count) {
      count.textContent = String(Number(count.textContent) + 1);
    }
  });
})();
