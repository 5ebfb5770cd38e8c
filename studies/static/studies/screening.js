// Keyboard shortcuts for the screening page. The page works without this file: every key only
// clicks a button or link that is already there, or picks an option of the reason list. Keys are
// ignored while typing in a field, and focus is never moved into one (a key pressed there would
// type instead of acting: the old full-text "e" trap).
//
// Full text: an exclusion needs a reason. "e" with no reason chosen arms the exclusion and shows
// the numbered reasons; a number picks one; Enter (or "e" again) excludes; Esc cancels. With a
// reason already chosen (a number first, or a withdrawn decision's reason), "e" excludes at once.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  var armed = false;
  var before = "";  // the reason chosen before arming, restored by Esc

  function prompt() { return document.getElementById("exclude-prompt"); }
  function chosen() { return document.getElementById("exclude-chosen"); }
  function exclude() { return document.querySelector('[data-key="e"]'); }

  function arm(reason) {
    armed = true;
    before = reason.value;
    prompt().hidden = false;
    chosen().textContent = "";
  }
  function disarm(reason, restore) {
    if (restore) reason.value = before;
    armed = false;
    prompt().hidden = true;
  }
  function pick(reason, n) {
    if (reason.options.length <= n) return false;
    reason.selectedIndex = n;
    if (armed) chosen().textContent = "Reason " + n + ": " + reason.options[n].text.replace(/^\d+\.\s*/, "")
      + ". Press Enter to exclude, Esc to cancel.";
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var reason = document.getElementById("reason");
    if (reason && armed) {
      if (key === "Escape") { disarm(reason, true); event.preventDefault(); return; }
      if ((key === "Enter" || key === "e") && reason.value) {
        event.preventDefault();
        disarm(reason, false);
        exclude().click();
        return;
      }
    }
    if (reason && /^[1-9]$/.test(key)) {  // full text: pick the n-th exclusion reason
      if (pick(reason, Number(key))) event.preventDefault();
      return;
    }
    if (key === "c") {
      var criteria = document.querySelector("details.criteria");
      if (criteria) { criteria.open = !criteria.open; event.preventDefault(); }
      return;
    }
    if (key === "e" && reason && !reason.value && exclude()) {
      event.preventDefault();
      if (!armed) arm(reason);
      return;
    }
    if (key.length !== 1) return;
    var target = document.querySelector('[data-key="' + key + '"]');
    if (target) {
      event.preventDefault();
      if (armed) disarm(reason, false);
      target.click();
    }
  });
})();
