// Keyboard shortcuts for the screening page. The page works without this file: every key only
// clicks a button or link that is already there. Keys are ignored while typing in a field.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key.toLowerCase();
    var reason = document.getElementById("reason");
    if (reason && /^[1-9]$/.test(key)) {  // full text: pick the n-th exclusion reason
      if (reason.options.length > Number(key)) { reason.selectedIndex = Number(key); event.preventDefault(); }
      return;
    }
    if (key === "c") {
      var criteria = document.querySelector("details.criteria");
      if (criteria) { criteria.open = !criteria.open; event.preventDefault(); }
      return;
    }
    if (key === "e" && reason && !reason.value) {  // an exclusion at full text needs its reason first
      reason.focus();
      event.preventDefault();
      return;
    }
    var target = document.querySelector('[data-key="' + key + '"]');
    if (target) {
      event.preventDefault();
      target.click();
    }
  });
})();
