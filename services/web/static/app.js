// Faultline dashboard: copy buttons, confirmations, bulk selection on the
// issue list, and keyboard shortcuts (j/k move, x selects, o or Enter opens,
// / searches, r resolves the selection). Everything works without it.
"use strict";
(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  $$("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el) return;
      var text = el.value !== undefined && el.tagName === "INPUT" ? el.value : el.textContent;
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(function () {
        var old = b.firstChild.nodeValue; b.firstChild.nodeValue = "Copied"; setTimeout(function () { b.firstChild.nodeValue = old; }, 1500);
      });
    });
  });

  $$("[data-confirm]").forEach(function (b) {
    b.addEventListener("click", function (e) {
      if (!window.confirm(b.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  var list = $("#issue-list");
  if (!list) return;
  var all = $("#select-all");
  var rows = $$(".issue-row", list);
  var count = $("#selected-count");
  function boxes() { return $$("input[name=issue]", list); }
  function refresh() {
    var n = 0;
    boxes().forEach(function (c) { c.closest(".issue-row").classList.toggle("selected", c.checked); if (c.checked) n++; });
    if (count) count.textContent = n ? n + " selected" : "";
    if (all) { all.checked = n > 0 && n === boxes().length; all.indeterminate = n > 0 && n < boxes().length; }
  }
  if (all) all.addEventListener("change", function () { boxes().forEach(function (c) { c.checked = all.checked; }); refresh(); });
  list.addEventListener("change", refresh);
  refresh();

  var cur = -1;
  function focusRow(i) {
    if (!rows.length) return;
    cur = Math.max(0, Math.min(rows.length - 1, i));
    var a = $(".title a", rows[cur]);
    if (a) a.focus();
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (e.key === "j") { focusRow(cur + 1); e.preventDefault(); }
    else if (e.key === "k") { focusRow(cur - 1); e.preventDefault(); }
    else if (e.key === "x" && cur >= 0) { var c = $("input[name=issue]", rows[cur]); if (c) { c.checked = !c.checked; refresh(); } e.preventDefault(); }
    else if (e.key === "o" && cur >= 0) { var l = $(".title a", rows[cur]); if (l) l.click(); }
    else if (e.key === "/") { var q = $("#q"); if (q) { q.focus(); e.preventDefault(); } }
    else if (e.key === "r") { var r = $("#bulk-resolve"); if (r && boxes().some(function (c) { return c.checked; })) r.click(); }
  });
})();
