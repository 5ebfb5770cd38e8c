// Live results: poll the cheap version endpoint and, when new results land, fetch this page
// again and swap the parts marked data-live, keeping the reader's scroll position. No library.
(function () {
  "use strict";
  var body = document.body;
  var pollUrl = body.dataset.pollUrl;
  if (!pollUrl || !window.fetch || !window.DOMParser) return;
  var shown = body.dataset.computedVersion;
  var busy = false;
  var INTERVAL_MS = 3000;

  function setUpdating(stale) {
    document.querySelectorAll("[data-updating]").forEach(function (el) { el.hidden = !stale; });
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var x = window.scrollX, y = window.scrollY;
    document.querySelectorAll("[data-live][id]").forEach(function (old) {
      var next = fresh.getElementById(old.id);
      if (next && next.innerHTML !== old.innerHTML) old.replaceWith(document.importNode(next, true));
    });
    window.scrollTo(x, y);  // replaced blocks may change height above the reader; stay put
    shown = fresh.body.dataset.computedVersion || shown;
    body.dataset.computedVersion = shown;
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(pollUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (status) {
        setUpdating(status.stale);
        if (String(status.computed_version) === String(shown)) return;
        return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(swap);
      })
      .catch(function () { /* a missed poll only delays the update; the next one retries */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, INTERVAL_MS);
  document.addEventListener("visibilitychange", poll);
})();
